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
    `small_sample` shrinks the shape towards a bearing's typical shape (see `fit_weibull_prior`,
    which the fleet prior uses); kept for callers of the plain MLE.
    """
    if small_sample:
        return fit_weibull_prior(lives, censored, wear_out=False)
    t, c = _check(lives, censored)
    failed = ~c
    if failed.sum() < 2 or np.ptp(t[failed]) == 0:
        raise ValueError("need at least two distinct failure times")
    return _scale_given_shape(t, failed, _mle_shape(np.log(t), failed))


# A bearing's Weibull shape: ISO 281's life modification factor a1 assumes 1.5.
PRIOR_SHAPE = 1.5
# Weight of that prior shape, in failures. With r failures the shape is the weighted geometric
# mean of the bias-corrected MLE, k_mle (r - 2) / (r - 0.68), with weight r - 2 (its
# information: none at two failures, where the correction is undefined) and the prior shape
# with weight PRIOR_WEIGHT. So the shape moves smoothly from the prior as failures arrive:
# the correction applied alone turned 1.41 into 0.61 at r = 3 and was skipped at r = 2.
PRIOR_WEIGHT = 3.0


def fit_weibull_prior(
    lives: ArrayLike,
    censored: ArrayLike | None = None,
    wear_out: bool = True,
    prior_shape: float = PRIOR_SHAPE,
    prior_weight: float = PRIOR_WEIGHT,
) -> Weibull:
    """Weibull from few lives: the corrected MLE shape shrunk towards `prior_shape`, scale by MLE
    given that shape.

    Works from one failure (the shape is then the prior's, only the scale is learned, and the
    censored units still count). `wear_out` keeps the shape >= 1, so the hazard never falls
    with age: an older quiet part is never given more life than a younger one.
    """
    t, c = _check(lives, censored)
    failed = ~c
    r = int(failed.sum())
    if r < 1:
        raise ValueError("need at least one failure")
    log_k = math.log(prior_shape)
    if r > 2 and np.ptp(t[failed]) > 0:
        k_corr = _mle_shape(np.log(t), failed) * (r - 2.0) / (r - 0.68)
        w = r - 2.0
        log_k = (w * math.log(k_corr) + prior_weight * log_k) / (w + prior_weight)
    k = math.exp(log_k)
    if wear_out:
        k = max(k, 1.0)
    return _scale_given_shape(t, failed, k)


def _check(lives: ArrayLike, censored: ArrayLike | None) -> tuple[F64, NDArray[np.bool_]]:
    t = np.asarray(lives, dtype=np.float64)
    c = np.zeros(t.shape, dtype=bool) if censored is None else np.asarray(censored, dtype=bool)
    if t.ndim != 1 or t.shape != c.shape or np.any(t <= 0) or not np.all(np.isfinite(t)):
        raise ValueError("lives must be a 1-D array of positive finite numbers")
    return t, c


def _mle_shape(lt: F64, failed: NDArray[np.bool_]) -> float:
    lo, hi = 0.02, 100.0
    # Bisection in log k: the score is monotone, so this is robust where Newton can overshoot.
    for _ in range(80):
        mid = math.sqrt(lo * hi)
        if _shape_score(mid, lt, failed) > 0:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi)


def _scale_given_shape(t: F64, failed: NDArray[np.bool_], k: float) -> Weibull:
    # MLE of the scale for a known shape: (sum of t^k over all units / failures)^(1/k).
    lt = np.log(t)
    r = float(failed.sum())
    zmax = float((k * lt).max())
    scale_k = math.exp(zmax) * float(np.exp(k * lt - zmax).sum()) / r
    return Weibull(shape=k, scale=scale_k ** (1.0 / k))
