"""The 120 KB heap harness shared by test_node_heap.py and test_ota_heap.py: MicroPython source
pieces that those tests' VM scripts are assembled from (the node's modules loaded, the ballast
cap, the largest-block bisection, the clock, link and sensor stand-ins).

They are source text, not a module the VM imports, because this VM's collector must run at a
script's top level only (it traps when objects are held only on the stack,
tests/firmware/test_micropython_vm.py): a bisection that tries allocations and collects
between them cannot be a function. So each piece is pasted into the script where it runs.
The scripts go through `%` formatting: a literal percent sign here is written `%%`.
"""

from __future__ import annotations

import textwrap

CAP = 120 * 1024

# What a board's main.py loads: the node and everything it imports, the MQTT transport, the
# board table and the accelerometer driver. `code` is their share of the heap.
LOAD_NODE = r"""
import gc
import json
import sys
from array import array
gc.collect()
base = gc.mem_alloc()
from firmware.node import Node
from firmware import boards, heap, ota
from firmware.sensors import adxl345, none
from firmware.transports import mqtt, umqtt
from protocol import frames
gc.collect()
code = gc.mem_alloc() - base
CAP = %(cap)d
"""


def largest_block(var: str, step: int | str, indent: int = 0) -> str:
    """Source setting `var` to the largest block allocatable now, within `step` bytes (a
    number or an expression), by bisection. Trial blocks are allocated at top level (`b =
    None`, then a collection frees them): one allocated inside a function may stay referenced
    from a dead stack slot."""
    src = f"""\
lo = 0
hi = gc.mem_free()
while hi - lo > {step}:
    mid = (lo + hi) // 2
    try:
        b = bytearray(mid)
        b = None
        lo = mid
    except MemoryError:
        hi = mid
    gc.collect()
{var} = lo
"""
    return textwrap.indent(src, " " * indent)


# The cap: ballast leaves CAP - code free (the modules count in the 120 KB). Compiling the
# modules from source leaves tens of KB of small holes among them (more than a board loading
# .mpy files has, and more than the whole 120 KB budget leaves); the rest of the heap is one
# free run at the end. So: the holes are filled with 8-byte ballast pieces (first fit puts
# them there, before the run) down to HOLES_KEPT, then one block in the run takes all of the
# free heap but CAP - code. The node then has a contiguous region plus some small holes, like
# a board's heap after the imports. With the collector disabled a failed allocation raises
# MemoryError instead of collecting (which would trap inside the allocator here), so the
# run's length is found by bisection, collecting at top level. `keep` holds the pieces
# (allocated first: the list must not move); %(keep)d slots.
CAP_HEAP = (
    r"""
HOLES_KEPT = 8 * 1024


def fill():
    n = 0
    while gc.mem_free() - run > HOLES_KEPT and n < len(keep):
        keep[n] = bytearray(8)
        n += 1
    return n


gc.disable()
keep = [None] * %(keep)d
"""
    + largest_block("run", 16)
    + r"""holes = gc.mem_free() - run
gc.collect()
pieces = fill()
gc.collect()
ballast = bytearray(gc.mem_free() - CAP + code)  # one block: it fits in the run only
gc.collect()
capped_free = gc.mem_free()
"""
)

# The clock, the link (`online` False: an outage) and a fast integer stand-in for the
# accelerometer (noise and a tone, small ints only: no allocation per sample) that passes the
# sensor checks, so the VM's time goes to the node. Not firmware.host's FakeClock and
# QueueTransport: importing firmware.host installs its stub modules and loads the simulated
# sensor into the heap being measured, and QueueTransport copies every payload it keeps.
STAND_INS = r"""
class FakeClock:
    def __init__(self):
        self.ms = 0
    def ticks_ms(self):
        return self.ms & 0x3FFFFFFF
    def advance(self, ms):
        self.ms += ms


class Link:
    def __init__(self):
        self.online = True
        self.outbox = []
        self.inbound = []
    def poll(self, now):
        pass
    def connected(self):
        return self.online
    def send(self, leaf, payload):
        if not self.online:
            return False
        self.outbox.append(payload)
        return True


class IntSensor:
    name = "adxl345"
    lsb_g = 0.0039
    full_scale = 4095
    RATES = (3200, 1600, 800)

    def __init__(self):
        self.k = 12345
        tab = array("h", bytes(128))
        for i in range(64):
            tab[i] = ((i * 37) %% 64 - 32) * 3
        self.tab = tab

    def configure(self, rate):
        pass

    def read_window(self, bx, by, bz, n):
        k = self.k
        tab = self.tab
        for i in range(n):
            k = (k * 75 + 74) %% 65537
            e = k %% 17 - 8
            t = tab[i & 63]
            bx[i] = t + e
            by[i] = (t >> 1) - e
            bz[i] = 256 + e
        self.k = k
        return True

    def temperature(self):
        return None
"""
