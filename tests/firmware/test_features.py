"""Features within 1% of a numpy reference (and of the analytic value) on test signals,
including full-scale input."""

from __future__ import annotations

import math
from array import array

import numpy as np
import pytest

from firmware.features import G_MM_S2, Features

N = 1024
FS = 3200
LSB = 0.0039


def reference(x: np.ndarray, band=(10, 1000)) -> dict[str, float]:
    d = x.astype(float) - x.mean()
    m2 = float((d**2).mean())
    m4 = float((d**4).mean())
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(len(x)) / len(x))
    spec = np.fft.rfft(d * w)
    f = np.arange(len(spec)) * FS / len(x)
    sel = (f >= band[0]) & (f <= band[1])
    v2 = np.sum(np.abs(spec[sel] / (2 * np.pi * f[sel])) ** 2) * 2 / (len(x) ** 2 * 0.375)
    return {
        "rms": math.sqrt(m2) * LSB,
        "peak": float(np.abs(d).max()) * LSB,
        "kurt": m4 / m2**2 - 3,
        "vel": math.sqrt(v2) * LSB * G_MM_S2,
    }


def signal(f0: float, amp: float, offset: float = 256.0, seed: int = 0) -> np.ndarray:
    t = np.arange(N) / FS
    rng = np.random.default_rng(seed)
    x = amp * np.sin(2 * np.pi * f0 * t + 0.3) + offset + rng.normal(0, 3, N)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def compute(x: np.ndarray):
    f = Features(N, FS, LSB)
    b = array("h", x.tolist())
    return f.compute(b, b, b)


def close(a: float, b: float, rel: float = 0.01, floor: float = 1e-3) -> bool:
    """Within `rel` of b, or within `floor` absolute (float32 FFT noise near zero)."""
    return abs(a - b) <= rel * abs(b) + floor


@pytest.mark.parametrize(
    ("f0", "amp"),
    [(24.6, 2000), (50.0, 10000), (123.4, 600), (400.0, 32000), (29.3, 120), (870.0, 5000)],
)
def test_sines_match_numpy_and_theory(f0: float, amp: float) -> None:
    x = signal(f0, amp)
    ax = compute(x)[0]
    ref = reference(x)
    assert close(ax.rms_g, ref["rms"])
    assert close(ax.peak_g, ref["peak"], 0.001)
    assert close(ax.kurtosis + 3, ref["kurt"] + 3)
    assert close(ax.vel_mm_s, ref["vel"])
    analytic = amp * LSB * G_MM_S2 / (2 * math.pi * f0) / math.sqrt(2)
    assert close(ax.vel_mm_s, analytic, 0.02)  # noise and Hann leakage at band bins
    assert close(ax.crest, ax.peak_g / ax.rms_g)


def test_out_of_band_tone_has_no_velocity() -> None:
    x = signal(1400.0, 8000)
    ax = compute(x)[0]
    assert ax.vel_mm_s < 0.01 * (8000 * LSB * G_MM_S2 / (2 * math.pi * 1400) / math.sqrt(2))


@pytest.mark.parametrize(
    "x",
    [
        np.array([32767, -32767] * (N // 2), dtype=np.int16),
        np.array([32767] * (N // 2) + [-32768] * (N // 2), dtype=np.int16),
        np.where(np.arange(N) % 64 == 0, 32767, -32768).astype(np.int16),
        np.clip(
            np.round(40000 * np.sin(2 * np.pi * 100 * np.arange(N) / FS)), -32768, 32767
        ).astype(np.int16),
    ],
)
def test_full_scale_input(x: np.ndarray) -> None:
    ax = compute(x)[0]
    ref = reference(x)
    assert close(ax.rms_g, ref["rms"])
    assert close(ax.kurtosis + 3, ref["kurt"] + 3)
    assert close(ax.vel_mm_s, ref["vel"])
    assert ax.saturated


def test_impulsive_signal_kurtosis() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 50, N)
    x[::97] += 3000
    x = np.round(x).astype(np.int16)
    ax = compute(x)[0]
    ref = reference(x)
    assert ref["kurt"] > 10
    assert close(ax.kurtosis, ref["kurt"])


def test_three_axes_are_independent() -> None:
    f = Features(N, FS, LSB)
    xs = [signal(50, 1000), signal(120, 3000, seed=1), signal(300, 8000, seed=2)]
    ax = f.compute(*(array("h", x.tolist()) for x in xs))
    for a, x in zip(ax, xs, strict=True):
        ref = reference(x)
        assert close(a.vel_mm_s, ref["vel"])
        assert close(a.rms_g, ref["rms"])


def test_constant_input_is_quiet() -> None:
    ax = compute(np.full(N, 256, dtype=np.int16))[0]
    assert ax.rms_g == 0 and ax.vel_mm_s == 0 and ax.kurtosis == 0


def test_tables_are_built_in_place() -> None:
    """Features.__init__ never holds a list of boxed floats: on a board such a list fragments
    the heap (thousands of small blocks live at once) and a later 4 KB buffer fails. CPython's
    tracemalloc shows it as a peak well above what the object finally keeps."""
    import tracemalloc

    tracemalloc.start()
    try:
        f = Features(N, FS, LSB)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f.n == N
    assert peak - kept < 2048, (peak, kept)


VM_WINDOW = """
import gc
import json
import math
from array import array
gc.disable()
from firmware.features import Features, KERNELS
f = Features(1024, 3200, 0.0039)
bufs = [array("h", bytes(2048)) for _ in range(3)]
for i in range(1024):
    bufs[0][i] = int(800 * math.sin(0.0483 * i)) + (i * 7919) % 61 - 162
    bufs[1][i] = int(12000 * math.sin(0.0966 * i)) - 20000
    bufs[2][i] = 32767 if i % 64 == 0 else -32768
gc.collect()
used = []
for rep in range(3):
    a0 = gc.mem_alloc()
    ax = f.compute(bufs[0], bufs[1], bufs[2])
    used.append(gc.mem_alloc() - a0)
    gc.collect()
print(json.dumps([KERNELS, used, [[a.rms_g, a.kurtosis, a.vel_mm_s] for a in ax]]))
"""


def test_window_allocates_almost_nothing_in_micropython_vm() -> None:
    """A 1024-sample x 3 window in the real MicroPython VM allocates nothing (after a first
    window's 48 B, once): integer kernels
    per sample, small-int conversions per window (no float, no int above 2**30); the float
    results were about 2 KB per window, the float FFT about 3 MB. Results equal CPython's."""
    from tests.support.micropython_vm import json_lines, run_in_micropython

    kernels, used, feats = json_lines(run_in_micropython(VM_WINDOW))[0]
    assert kernels == "plain:no-viper"
    assert used[1:] == [0, 0] and used[0] <= 64, used  # 48 B once, at the first window
    import contextlib
    import io
    import json

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(VM_WINDOW.replace("gc.", "_gc."), {"_gc": _FakeGc()})
    assert json.loads(out.getvalue())[2] == feats


class _FakeGc:
    def disable(self) -> None:
        pass

    def collect(self) -> None:
        pass

    def mem_alloc(self) -> int:
        return 0
