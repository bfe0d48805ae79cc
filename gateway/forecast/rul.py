"""Remaining useful life per part: the one entry point the gateway and the CLI call.

Units: every time is running seconds of the part (time the machine actually ran since the part
was fitted), never calendar time; calendar.py converts afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .decision import score_optimal_point
from .estimator import estimate
from .model import F64, ModelParams, Q, cadence_s, for_cadence, quiet_level
from .predictor import I10, I50, I90, predict
from .prior import FleetPrior
from .usage import UsageModel

DEFAULT_PARAMS = ModelParams()


@dataclass(frozen=True)
class PartHistory:
    """One part's readings: running seconds (increasing) and same-length feature arrays.

    Feature names follow the node: rms_<axis> (acceleration RMS, g), peak_<axis> (g),
    kurt_<axis> (excess kurtosis), vel_rms[_<axis>] (mm/s), and optional `load` proxy.
    """

    t_running_s: F64
    features: Mapping[str, F64]
    part_id: str = ""
    # Expected-life multiplier of this part's operating condition against the fleet prior's
    # reference condition (usage.iso281_life_factor); 1 = same condition as the prior.
    life_factor: float = 1.0
    # Machine type of the asset ("" = unknown); a fleet prior from another type does not fit.
    machine_type: str = ""
    # Running seconds at which this part's bearing warning (early_warning.py) was raised and
    # latched; None = not warned. With the fleet's warning-to-failure lead times (FleetPrior.
    # warning_leads_s) it says how long warned parts like it went on running.
    warned_at_s: float | None = None

    def __post_init__(self) -> None:
        n = np.shape(self.t_running_s)[0]
        for k, v in self.features.items():
            if np.shape(v) != (n,):
                raise ValueError(f"feature {k!r} has shape {np.shape(v)}, expected ({n},)")


@dataclass(frozen=True)
class PartBatch:
    """A equal-length histories stacked: t (A, N), features name -> (A, N)."""

    t_running_s: F64
    features: Mapping[str, F64]
    part_ids: Sequence[str] = ()
    life_factor: F64 | None = None  # (A,) condition life multipliers, default all 1
    machine_type: str = ""  # one type per batch ("" = unknown)
    warned_at_s: F64 | None = None  # (A,) running s of each part's warning, NaN = not warned


@dataclass(frozen=True)
class RulForecast:
    p10_s: float | None  # remaining running seconds: 10% chance of failure before this
    p50_s: float | None
    p90_s: float | None
    status: str  # not_enough_data | prior_only | healthy_no_trend | degrading
    method: str  # which evidence was used, e.g. "trend_match+fleet_prior"
    age_s: float  # running seconds of the newest reading
    health_index: float  # HI: log of vibration level over its quiet floor (0 = quiet)
    quantiles: tuple[tuple[float, float], ...] = field(default=())  # (q, seconds)
    part_id: str = ""
    # Score-optimal point (decision.py): maximises the expected PHM 2012 accuracy, where late
    # costs 4x; lower than p50_s. A decision for "when to act", not a quantile.
    point_s: float | None = None

    def quantile(self, q: float) -> float | None:
        """Remaining running seconds at probability q of failing before (interpolated)."""
        if not self.quantiles:
            return None
        qs, vs = zip(*self.quantiles, strict=True)
        return float(np.interp(q, qs, vs))

    def to_dict(self) -> dict[str, Any]:
        return {
            "part_id": self.part_id,
            "rul_p10_s": self.p10_s,
            "rul_p50_s": self.p50_s,
            "rul_p90_s": self.p90_s,
            "status": self.status,
            "method": self.method,
            "age_s": self.age_s,
            "health_index": self.health_index,
            "quantiles": [[q, v] for q, v in self.quantiles],
            "rul_point_s": self.point_s,
        }


@dataclass(frozen=True)
class RulBatch:
    """Vectorised result: quantiles (A, G) on grid `q`, status/method (A,)."""

    quantiles: F64
    status: NDArray[np.str_]
    method: NDArray[np.str_]
    age_s: F64
    health_index: F64
    part_ids: Sequence[str] = ()
    q: F64 = field(default_factory=lambda: Q.copy())

    @property
    def p10_s(self) -> F64:
        return self.quantiles[:, I10]

    @property
    def p50_s(self) -> F64:
        return self.quantiles[:, I50]

    @property
    def p90_s(self) -> F64:
        return self.quantiles[:, I90]

    @property
    def point_s(self) -> F64:
        """(A,) score-optimal points (NaN where there is no distribution); computed on demand."""
        return score_optimal_point(self.quantiles)

    def __len__(self) -> int:
        return int(self.age_s.size)

    def forecast(self, i: int) -> RulForecast:
        row = self.quantiles[i]
        ok = bool(np.all(np.isfinite(row)))

        def val(j: int) -> float | None:
            return float(row[j]) if ok else None

        pid = self.part_ids[i] if i < len(self.part_ids) else ""
        quants = tuple(zip(self.q.tolist(), row.tolist(), strict=True)) if ok else ()
        point = float(score_optimal_point(row[None, :])[0]) if ok else None
        return RulForecast(
            val(I10), val(I50), val(I90), str(self.status[i]), str(self.method[i]),
            float(self.age_s[i]), _finite(float(self.health_index[i])), quants, pid, point,
        )  # fmt: skip


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def forecast_many(
    parts: PartBatch | Sequence[PartHistory],
    prior: FleetPrior | None = None,
    usage: UsageModel | None = None,
    params: ModelParams = DEFAULT_PARAMS,
) -> RulBatch:
    """Forecast many parts at once; a list of histories is grouped by length and stacked."""
    if isinstance(parts, PartBatch):
        return _forecast_batch(parts, prior, usage, params)
    n = len(parts)
    quant = np.full((n, Q.size), np.nan)
    status = np.full(n, "", dtype=object)
    method = np.full(n, "", dtype=object)
    age = np.zeros(n)
    hi = np.zeros(n)
    factor = np.array([h.life_factor for h in parts], dtype=np.float64)
    warned = np.array(
        [np.nan if h.warned_at_s is None else h.warned_at_s for h in parts], dtype=np.float64
    )
    # Stack histories of one length, block size (time blocks at their cadence) and type.
    by_len: dict[tuple[int, int, str], list[int]] = {}
    for i, h in enumerate(parts):
        t_i = np.asarray(h.t_running_s, np.float64)[None, :]
        blk = for_cadence(params, cadence_s(t_i)).block
        by_len.setdefault((len(h.t_running_s), blk, h.machine_type), []).append(i)
    for (_, _, mtype), idx in by_len.items():
        names = parts[idx[0]].features.keys()
        batch = PartBatch(
            np.stack([np.asarray(parts[i].t_running_s, np.float64) for i in idx]),
            {
                k: np.stack([np.asarray(parts[i].features[k], np.float64) for i in idx])
                for k in names
            },
            life_factor=factor[idx],
            machine_type=mtype,
            warned_at_s=warned[idx],
        )
        r = _forecast_batch(batch, prior, usage, params)
        quant[idx], status[idx], method[idx] = r.quantiles, r.status, r.method
        age[idx], hi[idx] = r.age_s, r.health_index
    ids = [h.part_id for h in parts]
    return RulBatch(quant, status.astype(np.str_), method.astype(np.str_), age, hi, ids)


def _forecast_batch(
    b: PartBatch,
    prior: FleetPrior | None,
    usage: UsageModel | None,
    p: ModelParams,
) -> RulBatch:
    t = np.asarray(b.t_running_s, np.float64)
    cad = cadence_s(t)
    p = for_cadence(p, cad)
    st = estimate(t, b.features, p)
    k = np.ones(t.shape[0]) if b.life_factor is None else np.asarray(b.life_factor, np.float64)
    fits, runs_fit = history_fits(
        prior, st.age_s / k, cad, b.machine_type, quiet_level(b.features, p)
    )
    consumed = rate = None
    if usage is not None:
        load = b.features.get(usage.load_feature)
        consumed = usage.consumed_hours(t, load)
        # Current severity = median over the last block, so one spike does not move the clock.
        rate = (
            np.median(usage.severity(load[:, -p.block :]), axis=1)
            if load is not None and load.shape[1]
            else np.ones(t.shape[0])
        )
    quant, status, method = predict(
        st, prior, usage, consumed, rate, p, b.life_factor, fits, runs_fit, b.warned_at_s
    )
    return RulBatch(quant, status, method, st.age_s, st.hi, list(b.part_ids))


# Readings this many times faster or slower than the fleet runs' are another kind of
# monitoring: their HI levels (block medians over other spans) are not comparable.
CADENCE_TOLERANCE = 3.0
# A quiet level this many times below the quietest fleet run's or above the loudest's is
# another machine, mounting or sensor (3x = about 10 dB, wider than an ISO zone's span).
LEVEL_TOLERANCE = 3.0


def history_fits(
    prior: FleetPrior | None,
    ref_age_s: F64,
    cadence: float,
    machine_type: str,
    quiet: F64 | None = None,
) -> tuple[NDArray[np.bool_], bool]:
    """(A,) whether the fleet history covers each asset, and whether its runs fit at all.

    Covered: same machine type (when both are known), a cadence within CADENCE_TOLERANCE of
    the runs' (when both are known), an age (at the reference condition) no older than the
    longest life the history records, and a quiet level (`quiet`, model.quiet_level) within
    LEVEL_TOLERANCE of the fleet runs' (when both are known). Past that, the history has never
    seen a part like it.
    """
    a = np.asarray(ref_age_s, np.float64)
    level_ok = np.ones(a.shape, bool)
    if prior is not None and quiet is not None and prior.level_lo > 0 and prior.level_hi > 0:
        q = np.asarray(quiet, np.float64)
        inside = (q >= prior.level_lo / LEVEL_TOLERANCE) & (q <= prior.level_hi * LEVEL_TOLERANCE)
        level_ok = ~np.isfinite(q) | inside
    if prior is None:
        return np.ones(a.shape, bool), True
    same_type = not (prior.machine_type and machine_type) or prior.machine_type == machine_type
    same_cadence = (
        prior.cadence_s <= 0
        or cadence <= 0
        or 1.0 / CADENCE_TOLERANCE <= cadence / prior.cadence_s <= CADENCE_TOLERANCE
    )
    runs_fit = bool(same_type and same_cadence)
    return np.asarray(runs_fit & (a <= prior.max_life_s) & level_ok, bool), runs_fit


def forecast_part(
    history: PartHistory,
    prior: FleetPrior | None = None,
    usage: UsageModel | None = None,
    params: ModelParams = DEFAULT_PARAMS,
) -> RulForecast:
    """Forecast one part. Same code path as forecast_many (a batch of one)."""
    return forecast_many([history], prior, usage, params).forecast(0)
