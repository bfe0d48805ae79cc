"""Kizashi fault campaign: `python -m bench.faults [--quick | --full] [--soak-hours N]`.

Each check (one module function returning a `Result`) injects one kind of fault into the
real code (firmware `Node`, `kizashi gateway run` processes, private Mosquitto brokers on free
loopback ports, the SQLite store, the fleet page) and measures what survived. `--full` writes
docs/RELIABILITY.md; `--quick` is the short form run by tests/faults (make test).
"""

from bench.faults.common import Result

__all__ = ["Result"]
