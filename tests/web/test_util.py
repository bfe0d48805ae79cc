"""Chart decimation keeps each bucket's lowest and highest point, like the loop it replaced."""

from __future__ import annotations

import itertools

import numpy as np

from fleet_web.util import downsample


def _reference(t: list[float], y: list[float], max_points: int) -> tuple[list[float], list[float]]:
    edges = np.linspace(0, len(t), max_points // 2 + 1).astype(int)
    out_t: list[float] = []
    out_y: list[float] = []
    for a, b in itertools.pairwise(edges.tolist()):
        if b <= a:
            continue
        seg = np.asarray(y[a:b])
        for k in sorted({int(np.argmin(seg)), int(np.argmax(seg))}):
            out_t.append(float(t[a + k]))
            out_y.append(float(seg[k]))
    return out_t, out_y


def test_downsample_matches_the_bucket_loop() -> None:
    rng = np.random.default_rng(3)
    for n, m in ((8760, 1200), (1201, 1200), (5000, 7), (3000, 600)):
        t = [float(i * 3600) for i in range(n)]
        y = np.round(rng.lognormal(0, 0.3, n), 1).tolist()  # rounded: many equal values
        y[n // 2] = 50.0  # a spike must survive
        got = downsample(t, y, m)
        assert got == _reference(t, y, m) and 50.0 in got[1] and len(got[0]) <= m
    assert downsample([1.0, 2.0], [3.0, 4.0], 10) == ([1.0, 2.0], [3.0, 4.0])
