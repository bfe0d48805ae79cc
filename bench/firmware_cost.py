"""Firmware CPU cost: MicroPython VM instructions (wasmtime fuel) per 1024-sample window and
per frame encode, converted to RP2040 time.

    .venv/bin/python -m bench.firmware_cost [--window 1024] [--rate 3200] [--period 30]

Conversion: the VM's fuel for one iteration of a plain integer-add loop is calibrated against
facts.md's "10^6 integer adds take 8 s on an RP2040 @125 MHz" (8 us per iteration), i.e.
rp2040_s = fuel * 8e-6 / fuel_per_add. Caveat: the RP2040 has no FPU, so the float FFT costs
relatively more there than on the VM; the float part is reported separately.

The VM (1 MB heap) traps when its garbage collector runs with live objects on the stack, so
each step of Features.compute (3 moments, 2 x (window, bit reversal, log2(n) FFT stages,
band sum)) runs in its own VM, small enough never to collect; fuel = run - baseline run.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.micropython_vm import run_in_micropython

RP2040_S_PER_ADD = 8.0 / 1e6


def fuel(code: str) -> int:
    return run_in_micropython(code).fuel_used


def setup(n: int, rate: int) -> str:
    return f"""
import gc
from array import array
from firmware.features import Features
import math
from protocol import frames
f = Features({n}, {rate}, 0.0039)
w = 2 * math.pi / {rate}
bx = array("h", [int(800 * math.sin(w * 24.6 * i)) + (i * 7919) % 61 for i in range({n})])
by = array("h", [int(500 * math.sin(w * 49.2 * i)) + (i * 104729) % 53 for i in range({n})])
bz = array("h", [256 + int(300 * math.sin(w * 87.3 * i)) for i in range({n})])
"""


def window_steps(n: int) -> tuple[list[str], list[str]]:
    """(integer steps, float steps) of Features.compute, unrolled to top level."""
    ints = [
        "mx = f.moments(bx, f.axes[0])",
        "my = f.moments(by, f.axes[1])",
        "mz = f.moments(bz, f.axes[2])",
    ]
    floats = ["f._load(bx, mx, f._re, f._im, by, my)", "f._bitrev(f._re, f._im)"]
    size = 2
    while size <= n:
        floats.append(f"f._stage(f._re, f._im, {size})")
        size *= 2
    floats.append("v = f._velocity(f._re, f._im, True)")
    floats.append("f._load(bz, mz, f._re2, f._im2, None, 0)")
    floats.append("f._bitrev(f._re2, f._im2)")
    size = 2
    while size <= n:
        floats.append(f"f._stage(f._re2, f._im2, {size})")
        size *= 2
    floats.append("v = f._velocity(f._re2, f._im2, False)")
    return ints, floats


def measure(n: int, rate: int, reps: int = 10) -> dict[str, float]:
    base = setup(n, rate)
    ints, floats = window_steps(n)
    pre = "mx = my = mz = 256\n"
    f_base = fuel(base + pre)
    # One step per VM run: no run allocates enough to need a garbage collection.
    f_int = sum(fuel(base + pre + step + "\n") - f_base for step in ints)
    f_float = sum(fuel(base + pre + step + "\n") - f_base for step in floats)
    enc = (
        "for i in range({r}):\n"
        "    b = frames.encode_report('node-01', 7, i, 1700000000, 1, 0, 3600, 3,"
        " (0.1, 0.2, 0.3), (1.5, 2.5, 3.5), 0.9, 0.4, 41.5)\n"
    )
    small = "from protocol import frames\n"
    f_enc = (fuel(small + enc.format(r=reps)) - fuel(small + enc.format(r=0))) / reps
    loop = "def add(k):\n    s = 0\n    for i in range(k):\n        s += i\n    return s\n"
    f_add = (fuel(loop + "add(200000)\n") - fuel(loop + "add(0)\n")) / 200000
    return {
        "fuel_window": f_int + f_float,
        "fuel_window_int": f_int,
        "fuel_window_float": f_float,
        "fuel_encode": f_enc,
        "fuel_per_add": f_add,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--window", type=int, default=1024)
    ap.add_argument("--rate", type=int, default=3200)
    ap.add_argument("--period", type=float, default=30.0, help="seconds between windows")
    a = ap.parse_args(argv)
    m = measure(a.window, a.rate)
    s_per_fuel = RP2040_S_PER_ADD / m["fuel_per_add"]
    win_s = m["fuel_window"] * s_per_fuel
    int_s = m["fuel_window_int"] * s_per_fuel
    enc_s = m["fuel_encode"] * s_per_fuel
    span = a.window / a.rate  # seconds of signal in one window (3 axes)
    out = {
        "bench": "firmware_cost",
        "window": a.window,
        "rate_hz": a.rate,
        "axes": 3,
        "fuel_per_window": int(m["fuel_window"]),
        "fuel_per_window_int_moments": int(m["fuel_window_int"]),
        "fuel_per_window_float_fft_velocity": int(m["fuel_window_float"]),
        "fuel_per_frame_encode": int(m["fuel_encode"]),
        "fuel_per_int_add_iteration": round(m["fuel_per_add"], 2),
        "assumption": "rp2040_s = fuel * 8e-6 / fuel_per_int_add_iteration (facts.md)",
        "rp2040_s_per_window_plain": round(win_s, 3),
        "rp2040_ms_per_frame_encode": round(enc_s * 1000, 2),
        "rp2040_cpu_share_continuous_plain": round(win_s / span, 3),
        "rp2040_cpu_share_continuous_viper_moments": round((win_s - int_s + int_s / 16) / span, 3),
        "rp2040_cpu_share_duty_cycled_plain": round((win_s + enc_s) / a.period, 4),
        "window_period_s": a.period,
        "goal_cpu_share": 0.2,
    }
    out["meets_goal_duty_cycled"] = out["rp2040_cpu_share_duty_cycled_plain"] <= 0.2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
