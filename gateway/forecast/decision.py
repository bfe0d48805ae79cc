"""Decision layer: the single number to act on, chosen from the forecast distribution.

The IEEE PHM 2012 challenge scores a point estimate r of the actual remaining life L by
Er = 100 (L - r) / L and A = 0.5^(-Er/5) if late (Er <= 0), 0.5^(Er/20) if early: a late
forecast costs four times more than an early one. Given a distribution of L (the 19 forecast
quantiles, read as equally likely values), the score-optimal point maximises E[A(L, r)]. It sits
below the median, and the further below the wider the distribution. This is a decision, not a
quantile: P10/P50/P90 stay the calibrated forecast.
"""

from __future__ import annotations

import numpy as np

from .model import F64, Q
from .predictor import Z, _norm_ppf

LN2 = float(np.log(2.0))
# Candidate points as multiples of the median; A depends only on r / L, so this is scale-free.
FACTORS = np.exp(np.linspace(-5.0, 1.0, 121))
# The 19 forecast quantiles are densified to 200 equally likely values (levels 0.25 %..99.75 %)
# by interpolating log(value) against the normal score, extrapolating the end slopes into the
# tails; a handful of discrete values would make E[A] spike wherever r hits one of them.
FINE_Q = (np.arange(200) + 0.5) / 200
FINE_Z = np.array([_norm_ppf(float(q)) for q in FINE_Q])


def score_a(actual: F64, predicted: F64) -> F64:
    """PHM 2012 accuracy A of `predicted` against `actual` (broadcasts; actual > 0)."""
    er = 100.0 * (actual - predicted) / actual
    # Late (er <= 0): 0.5^(-er/5); early: 0.5^(er/20); the smaller exponent is the right one.
    return np.asarray(np.exp(LN2 * np.minimum(er / 5.0, -er / 20.0)))


def score_optimal_point(quantiles: F64, floor_s: float = 1.0) -> F64:
    """(A, G) quantiles of remaining life -> (A,) point maximising the expected PHM 2012 A.

    Rows with non-finite values give NaN. Values are floored at `floor_s` (A needs L > 0).
    """
    qv = np.asarray(quantiles, dtype=np.float64)
    out = np.full(qv.shape[0], np.nan)
    ok = np.all(np.isfinite(qv), axis=1)
    if not np.any(ok):
        return out
    lq = np.log(np.maximum(qv[ok], floor_s))  # (a, G)
    j = np.clip(np.searchsorted(Z, FINE_Z) - 1, 0, Z.size - 2)  # segment of each fine level
    w = (FINE_Z - Z[j]) / (Z[j + 1] - Z[j])  # < 0 or > 1 in the tails: linear extrapolation
    s = np.exp(lq[:, j] + w * (lq[:, j + 1] - lq[:, j]))  # (a, 200) equally likely values of L
    med = np.exp(lq[:, int(np.argmin(np.abs(Q - 0.5)))])
    cand = med[:, None] * FACTORS[None, :]  # (a, C)
    ratio = cand[:, :, None] / s[:, None, :]  # r / L, (a, C, G)
    # Er = 100 (1 - r/L): late when r > L.
    er = 100.0 * (1.0 - ratio)
    a = np.exp(LN2 * np.minimum(er / 5.0, -er / 20.0))
    best = np.argmax(a.mean(axis=2), axis=1)
    out[ok] = cand[np.arange(cand.shape[0]), best]
    return out
