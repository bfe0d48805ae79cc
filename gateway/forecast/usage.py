"""Usage clock: running time weighted by severity (ISO 281 load-life law), against rated life.

Life at load P scales as (C/P)^p, so an hour at load ratio x = P/P_ref consumes x^p reference
hours (p = 3 ball bearings, 10/3 roller). Without a load proxy every hour counts as one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray

from .weibull import Weibull

F64 = NDArray[np.float64]

BALL = 3.0
ROLLER = 10.0 / 3.0


@dataclass(frozen=True)
class UsageModel:
    """Rated life of a part type. `rated_l10_h`: hours at reference load by which 10% fail."""

    rated_l10_h: float
    exponent: float = BALL
    weibull_shape: float = 1.5  # bearings scatter with shape ~1.1-1.5
    reference_load: float = 1.0  # load proxy value at which the rating applies
    load_feature: str = "load"  # history feature holding the load proxy, if any

    def __post_init__(self) -> None:
        if self.rated_l10_h <= 0 or self.reference_load <= 0:
            raise ValueError("rated_l10_h and reference_load must be positive")

    @property
    def life(self) -> Weibull:
        return Weibull.from_l10(self.rated_l10_h, self.weibull_shape)

    def severity(self, load: F64) -> F64:
        """Reference hours consumed per running hour at this load proxy."""
        ratio = np.maximum(np.asarray(load, dtype=np.float64), 0.0) / self.reference_load
        return np.asarray(ratio**self.exponent, dtype=np.float64)

    def consumed_hours(self, t_running_s: F64, load: F64 | None = None) -> F64:
        """Equivalent reference hours used so far; arrays (..., N) -> (...)."""
        t = np.asarray(t_running_s, dtype=np.float64)
        if t.shape[-1] == 0:  # no running time seen yet: nothing consumed
            return np.zeros(t.shape[:-1], dtype=np.float64)
        if load is None:
            return np.asarray(t[..., -1] / 3600.0, dtype=np.float64)
        dt = np.diff(t, axis=-1)
        w = self.severity(load)[..., 1:]  # each interval weighted by the load at its end
        first = t[..., 0] * w[..., 0] if w.shape[-1] else t[..., 0]
        return np.asarray(((dt * w).sum(axis=-1) + first) / 3600.0, dtype=np.float64)

    def consumed_fraction(self, t_running_s: F64, load: F64 | None = None) -> F64:
        """Consumed life as a fraction of rated L10 (1.0 = rated life used)."""
        return self.consumed_hours(t_running_s, load) / self.rated_l10_h

    def remaining_running_s(self, consumed_h: F64, rate: F64, q: F64) -> F64:
        """Quantiles q of remaining running seconds, at the current severity `rate`.

        consumed_h, rate: (A,), q: (G,) -> (A, G).
        """
        eq_h = self.life.residual_quantile(np.asarray(consumed_h)[:, None], q[None, :])
        r = np.maximum(np.asarray(rate, dtype=np.float64), 1e-6)[:, None]
        return np.asarray(eq_h * 3600.0 / r, dtype=np.float64)

    def to_state(self) -> dict[str, float | str]:
        return asdict(self)

    @classmethod
    def from_state(cls, d: dict[str, float | str]) -> UsageModel:
        return cls(
            rated_l10_h=float(d["rated_l10_h"]),
            exponent=float(d.get("exponent", BALL)),
            weibull_shape=float(d.get("weibull_shape", 1.5)),
            reference_load=float(d.get("reference_load", 1.0)),
            load_feature=str(d.get("load_feature", "load")),
        )


def life_ratio(load_ratio: float, exponent: float = BALL) -> float:
    """Life multiplier when the load is scaled by `load_ratio` (0.5 -> 8 for ball bearings)."""
    return float(load_ratio ** (-exponent))


def iso281_life_factor(
    speed_rpm: float,
    load_n: float,
    ref_speed_rpm: float,
    ref_load_n: float,
    exponent: float = BALL,
) -> float:
    """Running-time life multiplier of a condition against a reference (ISO 281 basic life).

    L10 in revolutions is (C/P)^p, so in running time it is (C/P)^p / n: the factor is
    (P_ref / P)^p * (n_ref / n). Example: 1500 rpm / 5000 N against 1800 rpm / 4000 N -> 0.61.
    """
    if min(speed_rpm, load_n, ref_speed_rpm, ref_load_n) <= 0:
        raise ValueError("speeds and loads must be positive")
    return float((ref_load_n / load_n) ** exponent * (ref_speed_rpm / speed_rpm))
