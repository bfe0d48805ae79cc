"""State estimator: from a batch of feature histories to the current degradation state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .model import F64, ModelParams, block_hi, block_times


@dataclass(frozen=True)
class DegradationState:
    """Per-asset state arrays, all shape (A,)."""

    age_s: F64  # running time of the newest point
    hi: F64  # current HI: the lowest of the last persist_blocks blocks (spike-proof)
    slope: F64  # HI per running second over the recent blocks
    slope_se: F64  # its standard error
    n_blocks: NDArray[np.int64]
    degrading: NDArray[np.bool_]


def estimate(t: F64, features: Mapping[str, F64], p: ModelParams) -> DegradationState:
    """Estimate the state of A assets from (A, N) running times and (A, N) features."""
    t = np.asarray(t, dtype=np.float64)
    a, n = t.shape
    nb = n // p.block
    age = t[:, -1].copy() if n else np.zeros(a)
    if nb == 0:
        z = np.zeros(a)
        return DegradationState(age, z, z, z, np.zeros(a, np.int64), np.zeros(a, bool))
    hi_b = block_hi(features, p)
    tb = block_times(t, p)
    k = min(p.persist_blocks, nb)
    hi = hi_b[:, -k:].min(axis=1)
    slope, se = _recent_slope(tb, hi_b, min(p.trend_blocks, nb))
    enough = nb >= p.min_blocks
    degrading = enough & (hi >= p.onset)
    return DegradationState(age, hi, slope, se, np.full(a, nb, np.int64), degrading)


def _recent_slope(tb: F64, hb: F64, m: int) -> tuple[F64, F64]:
    # Closed-form least squares on the last m blocks of every asset at once.
    if m < 3:
        z = np.zeros(tb.shape[0])
        return z, np.full(tb.shape[0], np.inf)
    x = tb[:, -m:]
    y = hb[:, -m:]
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    sxx = np.maximum((xc * xc).sum(axis=1), 1e-12)
    b = (xc * yc).sum(axis=1) / sxx
    resid = yc - b[:, None] * xc
    se = np.sqrt((resid * resid).sum(axis=1) / (m - 2) / sxx)
    return np.asarray(b, np.float64), np.asarray(se, np.float64)
