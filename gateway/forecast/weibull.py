"""Two-parameter Weibull: maximum-likelihood fit with right-censoring, and quantiles.

Lives are in any positive unit (the callers use running seconds or equivalent hours).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class Weibull:
    """S(t) = exp(-(t/scale)^shape)."""

    shape: float
    scale: float

    def __post_init__(self) -> None:
        if not (self.shape > 0 and self.scale > 0):
            raise ValueError(f"Weibull needs shape>0 and scale>0, got {self}")

    @classmethod
    def from_l10(cls, l10: float, shape: float) -> Weibull:
        # L10 is the age by which 10% have failed: S(L10) = 0.9.
        return cls(shape=shape, scale=l10 / (-math.log(0.9)) ** (1.0 / shape))

    def quantile(self, q: ArrayLike) -> F64:
        qa = np.asarray(q, dtype=np.float64)
        return np.asarray(self.scale * (-np.log1p(-qa)) ** (1.0 / self.shape), dtype=np.float64)

    def survival(self, t: ArrayLike) -> F64:
        ta = np.maximum(np.asarray(t, dtype=np.float64), 0.0)
        return np.asarray(np.exp(-((ta / self.scale) ** self.shape)), dtype=np.float64)

    def residual_quantile(self, age: ArrayLike, q: ArrayLike) -> F64:
        """Quantiles of remaining life given survival to `age` (broadcasts age against q).

        Solves S(age + r) / S(age) = 1 - q in closed form.
        """
        a = np.maximum(np.asarray(age, dtype=np.float64), 0.0)
        qa = np.asarray(q, dtype=np.float64)
        h = (a / self.scale) ** self.shape - np.log1p(-qa)
        return np.asarray(self.scale * h ** (1.0 / self.shape) - a, dtype=np.float64)

    def to_state(self) -> dict[str, float]:
        return {"shape": self.shape, "scale": self.scale}

    @classmethod
    def from_state(cls, d: dict[str, float]) -> Weibull:
        return cls(shape=float(d["shape"]), scale=float(d["scale"]))


def _shape_score(k: float, lt: F64, failed: NDArray[np.bool_]) -> float:
    # Derivative of the profile log-likelihood in k (scale eliminated); decreasing in k.
    z = k * lt
    w = np.exp(z - z.max())  # t^k rescaled to avoid overflow; cancels in the ratio
    r = float(failed.sum())
    return 1.0 / k + float(lt[failed].sum()) / r - float((w * lt).sum() / w.sum())


def fit_weibull(
    lives: ArrayLike, censored: ArrayLike | None = None, small_sample: bool = False
) -> Weibull:
    """Maximum-likelihood Weibull for lives, `censored[i]` True when unit i is still running.

    Needs at least two distinct failures. Censored units add survival terms only, which is
    what keeps the fit unbiased when the fleet's long-lived parts have not failed yet.
    `small_sample` applies the (r - 2) / (r - 0.68) correction to the shape: the MLE shape from a
    handful of failures is biased high, i.e. the fitted lives look more alike than they are.
    """
    t = np.asarray(lives, dtype=np.float64)
    c = np.zeros(t.shape, dtype=bool) if censored is None else np.asarray(censored, dtype=bool)
    if t.ndim != 1 or t.shape != c.shape or np.any(t <= 0) or not np.all(np.isfinite(t)):
        raise ValueError("lives must be a 1-D array of positive finite numbers")
    failed = ~c
    if failed.sum() < 2 or np.ptp(t[failed]) == 0:
        raise ValueError("need at least two distinct failure times")
    lt = np.log(t)
    lo, hi = 0.02, 100.0
    # Bisection in log k: the score is monotone, so this is robust where Newton can overshoot.
    for _ in range(80):
        mid = math.sqrt(lo * hi)
        if _shape_score(mid, lt, failed) > 0:
            lo = mid
        else:
            hi = mid
    k = math.sqrt(lo * hi)
    r = float(failed.sum())
    if small_sample and r > 2:
        k *= (r - 2.0) / (r - 0.68)
    zmax = float((k * lt).max())
    scale_k = math.exp(zmax) * float(np.exp(k * lt - zmax).sum()) / r
    return Weibull(shape=k, scale=scale_k ** (1.0 / k))
