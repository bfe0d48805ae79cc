"""Kizashi wire protocol, version 1: the one source of truth for frames, units and topics.

Everything in this package runs unchanged on MicroPython (the sensor nodes) and CPython
(the gateway). It does no IO. See protocol/README.md for every field and unit.
"""

VERSION = 1
