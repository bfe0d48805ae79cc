"""The portable modules (features, runtime, ring, persistence, frame encoding and the whole
node on the simulated sensor) run under the real MicroPython VM with results identical to
CPython.

VM limitation found here: the WASI VM has a fixed 1 MB heap and its garbage collector does
not see objects referenced only from the running stack, so an automatic collection in the
middle of a function corrupts the heap (wasm trap). The scripts therefore run with
gc.disable() and call gc.collect() only at top level between steps, and use 256-sample
windows so one step's garbage (boxed floats) fits the heap. CPython runs the same script
(gc calls are no-ops there).
"""

from __future__ import annotations

import json

import pytest

from tests.support.micropython_vm import json_lines, run_in_micropython

PRELUDE = r"""
import gc
import json
from array import array


class MemFS:
    def __init__(self):
        self.files = {}
    def read(self, n):
        return self.files.get(n)
    def write(self, n, d):
        self.files[n] = bytes(d)
    def remove(self, n):
        self.files.pop(n, None)
    def rename(self, a, b):
        self.files[b] = self.files.pop(a)
    def listdir(self):
        return list(self.files)

"""

PARTS = {
    "features": r"""
gc.disable()
from firmware.features import Features, KERNELS
from firmware.sensors.sim import SimSensor
t = [0.0]
s = SimSensor("bearing_degrading", seed=7, now_s=lambda: t[0], age_days=20)
bx, by, bz = array("h", bytes(512)), array("h", bytes(512)), array("h", bytes(512))
f = Features(256, 3200, s.lsb_g)
res = [KERNELS]
for i in range(2):
    t[0] = 1000.0 * i
    gc.collect()
    s.read_window(bx, by, bz, 256)
    gc.collect()
    ax = f.compute(bx, by, bz)
    res.append([[a.rms_g, a.peak_g, a.crest, a.kurtosis, a.vel_mm_s] for a in ax])
    res.append([sum(bx), sum(by), sum(bz)])
full = array("h", [32767, -32767] * 128)
gc.collect()
ax = f.compute(full, full, full)
gc.collect()
res.append([[a.rms_g, a.kurtosis, a.vel_mm_s] for a in ax])
big = array("h", [32767, -32768, 32767, 1] * 256)
f.k.sum_min_max(big, 1024, f._out)
res.append(list(f._out))
print(json.dumps(res))
""",
    "runtime": r"""
from firmware.persist import Store
from firmware.runtime import Runtime
from firmware import config as cfgmod
fs = MemFS()
rt = Runtime(Store(fs), cfgmod.DEFAULTS)
rt.new_boot(0)
for i, lvl in enumerate([0.0, 0.05, 0.05, 0.05, 0.001, 0.001, 0.2, 0.2]):
    rt.update(lvl, 4.0, 30000)
    rt.save(i)
out = [rt.runtime_s, rt.starts, rt.life_s, rt.boot_id, rt.store.gen, rt.running]
out.append([list(fs.files[k]) for k in sorted(fs.files)])
rt2 = Runtime(Store(fs), cfgmod.DEFAULTS)
out.append([rt2.running, rt2.starts, rt2.update(0.2, 4.0, 0), rt2.starts])
print(json.dumps(out))
""",
    "stimulus": r"""
from firmware import stimulus
sine = {"seconds": 0, "tone_hz": 80.0, "tone_g": [0.5, 0.25, 0.125], "noise_g": 0.01}
cases = [{}, sine, {"imp": [87.3, 0.3, 1210.0, 3.0], "schedule": [120, 120], "phase_s": 120,
    "seconds": 0, "run": True, "noise_g": 0.005}, {"run": False, "seconds": 0}, {"seconds": 5},
    {"hang_s": 5}, {"tone_hz": 80}, {"noise_g": True}, {"x": 1}, {"seconds": 1.5},
    {"tone_hz": 10, "tone_g": [0.1, -1, 0]}, {"schedule": [0, 0]}, {"imp": [1, 2, 3]}]
print(json.dumps([stimulus.check(a) for a in cases]))
""",
    "ring": r"""
from firmware.ring import Ring
from protocol import frames
fs = MemFS()
r = Ring(3, ram_cap=4, fs=fs, seg_frames=2, max_segs=2)
for seq in range(1, 15):
    r.reserve()
    r.push(seq, frames.encode_event("n1", 3, seq, seq, "e", {"i": seq}))
r.ack(3, 9)
sent = []
for _ in range(30):
    it = r.peek()
    if it is None:
        break
    sent.append(it[1])
    r.mark_sent(it[0], it[1])
print(json.dumps([r.dropped, sent, sorted(fs.files)]))
""",
    "frame": r"""
from protocol import frames
f = frames.encode_report("n1", 3, 5, 100, 1, 2, 3600, 4, [0.0123, 1.5, 2.0],
    [1.5, 2.25, 3.0], 1.25, 0.5, 21.5)
print(json.dumps(list(f)))
""",
}


def run_cpython(code: str) -> object:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, "<vm-script>", "exec"), {})
    return json.loads(buf.getvalue())


@pytest.mark.parametrize("part", sorted(PARTS))
def test_portable_modules_identical_in_micropython_vm(part: str) -> None:
    code = PRELUDE + PARTS[part]
    vm = json_lines(run_in_micropython(code))[0]
    host = run_cpython(code)
    assert vm == host
    if part == "features":
        assert vm[0] == "plain:no-viper"  # the WASI VM has no native emitter
    if part == "ring":
        assert vm[0] == 6  # the scenario does drop frames: seqs 1-6


NODE_SCRIPT = (
    PRELUDE
    + r"""
gc.disable()
# The host package (FakeClock, MemFS, QueueTransport) imports under MicroPython too: the VM
# drives the real Node through the same stand-ins as the CPython tests.
from firmware.host import FakeClock as Clock, MemFS, QueueTransport as T
from firmware.node import Node

class TableSensor:
    # Integer-only stand-in (the sim sensor's float garbage does not fit the VM heap in one
    # step): two tones from a fixed table, running for the first 5 minutes.
    name = "table"
    lsb_g = 0.0039
    full_scale = 32767
    RATES = (3200,)

    def __init__(self, clock):
        import math
        self.c = clock
        self.tab = array("h", [int(900 * math.sin(2 * math.pi * i / 64)) for i in range(64)])

    def configure(self, rate):
        pass

    def read_window(self, bx, by, bz, n):
        run = self.c.ms < 300000
        k = (self.c.ms // 1000) % 64
        tab = self.tab
        for i in range(n):
            v = tab[(i + k) & 63] if run else 0
            bx[i] = v + (i * 37) % 11
            by[i] = (v >> 1) + 256 + (i * 7) % 5
            bz[i] = 256 - (i * 13) % 7
        return True

    def temperature(self):
        return 40.0


c = Clock()
t = T()
fs = MemFS()
fs.write("config.json", json.dumps({"window": 256, "window_s": 20}).encode())
n = Node("vm1", TableSensor(c), t, c, fs)
while c.ms < 600000:
    gc.collect()
    d = n.poll(c.ticks_ms())
    c.ms += max(d, 500)
print(json.dumps([[leaf, list(p)] for leaf, p in t.outbox]))
"""
)


def test_whole_node_identical_in_micropython_vm() -> None:
    vm = json_lines(run_in_micropython(NODE_SCRIPT))[0]
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(NODE_SCRIPT, "<node-script>", "exec"), {})
    host = json.loads(buf.getvalue())
    assert len(vm) >= 10
    assert vm == host
