"""Kernel life model: the fleet's lives as a log-normal kernel mixture, and its residual life.

A Weibull forces one smooth shape on a handful of lives; PRONOSTIA-like fleets are often
clustered (several parts dying near the same age, a few lasting much longer). Each failure is a
log-normal kernel of log-spread `bandwidth` centred on its life; censored lives hand their
weight to the longer-lived units (Kaplan-Meier redistribute-to-the-right). The residual life of
a part known to have survived to age a is S(a + r) / S(a) under the mixture: a quiet old part is
matched to the fleet parts that outlived its age.

Residual quantiles are tabulated once, at fit time, on an age grid (`residual_table`) so that
forecasting 10k assets is an interpolation.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .model import F64

N_AGES = 96
N_R = 480
MIN_SURVIVAL = 1e-6  # beyond ages where S falls below this, the table is not used


def _norm_sf(x: F64) -> F64:
    """Standard normal survival function, |error| < 1.5e-7 (Abramowitz & Stegun 7.1.26)."""
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erfc = poly * np.exp(-z * z)
    return np.asarray(np.where(x >= 0, 0.5 * erfc, 1.0 - 0.5 * erfc), np.float64)


def km_weights(lives: F64, censored: NDArray[np.bool_]) -> tuple[F64, F64]:
    """(failure lives, weights summing to 1): censored weight goes to longer-lived units."""
    order = np.argsort(lives, kind="stable")
    lv, c = lives[order], censored[order]
    w = np.full(lv.size, 1.0 / lv.size)
    for i in range(lv.size):
        if c[i] and i + 1 < lv.size:
            w[i + 1 :] += w[i] / (lv.size - i - 1)
            w[i] = 0.0
    keep = ~c
    wk = w[keep]
    return lv[keep], wk / wk.sum()


def survival(t: F64, atoms: F64, weights: F64, bandwidth: float) -> F64:
    """Mixture survival S(t) for t of any shape (adds a trailing atoms axis internally)."""
    lt = np.log(np.maximum(np.asarray(t, np.float64), 1e-9))
    zs = (lt[..., None] - np.log(atoms)) / bandwidth
    return np.asarray((_norm_sf(zs) * weights).sum(axis=-1), np.float64)


def residual_table(atoms: F64, weights: F64, bandwidth: float, q: F64) -> tuple[F64, F64]:
    """(ages (N_AGES,), residual-life quantiles (N_AGES, q.size)) of the kernel mixture."""
    lo, hi = float(atoms.min()), float(atoms.max())
    ages = np.concatenate(
        [[0.0], np.geomspace(lo * 0.02, hi * np.exp(4.0 * bandwidth), N_AGES - 1)]
    )
    r = np.geomspace(lo * 1e-4, hi * np.exp(6.0 * bandwidth) + hi, N_R)
    s_a = survival(ages, atoms, weights, bandwidth)  # (N_AGES,)
    s_ar = survival(ages[:, None] + r[None, :], atoms, weights, bandwidth)  # (N_AGES, N_R)
    cdf = 1.0 - s_ar / np.maximum(s_a[:, None], 1e-300)
    cdf = np.maximum.accumulate(np.clip(cdf, 0.0, 1.0), axis=1)
    table = np.stack([np.interp(q, c, r) for c in cdf])
    table[s_a < MIN_SURVIVAL] = np.nan  # too far past every fleet life: caller falls back
    return ages, np.asarray(table, np.float64)


def table_residual_quantile(ages: F64, table: F64, age: F64) -> F64:
    """Interpolate the residual quantiles at each asset age: (A,) -> (A, G), NaN off-table."""
    a = np.asarray(age, np.float64)
    j = np.clip(np.searchsorted(ages, a, side="right") - 1, 0, ages.size - 2)
    w = np.clip((a - ages[j]) / (ages[j + 1] - ages[j]), 0.0, 1.0)[:, None]
    out = (1.0 - w) * table[j] + w * table[j + 1]
    out[a > ages[-1]] = np.nan
    return np.asarray(out, np.float64)
