"""Hourly aggregates as numpy columns, and the wear forecast of many assets from them at once.

The store hands the engine one float array per asset (`Store.hourly_columns`, one row per hour,
the columns below). Everything here works on those arrays: the forecast of a whole batch is a
handful of numpy operations and one `forecast_many` call per (running length, rated life), not
a Python loop over hours.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gateway.forecast import PartBatch, UsageModel, forecast_many
from gateway.forecast.prior import FleetPrior
from gateway.store.api import HourlyPoint

F64 = NDArray[np.float64]

# Columns of an hourly array (gateway/store/outlook_sql.py HOURLY_COLUMNS without asset_id).
HOUR, N, S_VEL_X, S_VEL_Y, S_VEL_Z, MAX_VEL = 0, 1, 2, 3, 4, 5
S_ACC_X, S_ACC_Y, S_ACC_Z, MAX_PEAK, S_KURT, S_TEMP, N_TEMP = 6, 7, 8, 9, 10, 11, 12
RUNTIME, STARTS, N_RUNNING = 13, 14, 15
WIDTH = 16


def running_rows(m: F64) -> F64:
    """The running hours of an hourly array whose runtime counter moved on (a running hour
    with a stuck or reset counter adds no running time: it is left out)."""
    if m.shape[0] <= 1:  # the common case of a new asset, without numpy's per-call cost
        return m if m.shape[0] == 0 or m[0, N_RUNNING] > 0 else m[:0]
    run = m[m[:, N_RUNNING] > 0]
    if run.shape[0] == 0:
        return run
    keep = np.concatenate([[True], np.diff(run[:, RUNTIME]) > 0])
    return np.asarray(run[keep], np.float64)


def series(m: F64) -> tuple[F64, dict[str, F64]]:
    """(running seconds since the first running hour, features) of an hourly array: what the
    forecast reads (gateway.forecast.PartHistory)."""
    run = running_rows(m)
    if run.shape[0] == 0:
        return np.zeros(0), {}
    return run[:, RUNTIME] - run[0, RUNTIME], _features(run)


def _features(run: F64) -> dict[str, F64]:
    n = run[..., N]
    return {
        "vel_rms": run[..., MAX_VEL],
        "rms_x": run[..., S_ACC_X] / n,
        "rms_y": run[..., S_ACC_Y] / n,
        "rms_z": run[..., S_ACC_Z] / n,
        "peak": run[..., MAX_PEAK],
    }


@dataclass(frozen=True)
class Forecast:
    """One asset's forecast in running hours (None: no distribution)."""

    p10_h: float | None
    p50_h: float | None
    p90_h: float | None
    status: str
    method: str
    health_index: float
    running_points: int
    age_h: float = 0.0  # running hours of the part's readings (its age as the forecast saw it)


def forecasts(
    arrays: Mapping[str, F64],
    rated_l10_h: Mapping[str, float | None],
    zone_bc: Mapping[str, float],
    prior: FleetPrior | None,
    warned_at_s: Mapping[str, float | None] | None = None,
) -> dict[str, Forecast]:
    """Forecast every asset of `arrays` (asset id -> hourly array since its part was fitted).

    Assets are grouped by (number of running points, rated life); each group is stacked into
    one `PartBatch` and forecast by one `forecast_many` call. The load proxy is ISO 281's, as
    in `gateway.analytics.FleetForecaster`: severity over the zone B/C limit, at least 1.
    `warned_at_s`: running seconds (on the forecast's clock, from the first running hour) of
    each asset's standing bearing warning, None if not warned.
    """
    runs = {aid: running_rows(m) for aid, m in arrays.items()}
    groups: dict[tuple[int, float | None], list[str]] = {}
    for aid, run in runs.items():
        groups.setdefault((run.shape[0], rated_l10_h.get(aid)), []).append(aid)
    out: dict[str, Forecast] = {}
    for (n, l10), ids in groups.items():
        usage = UsageModel(l10) if l10 else None
        if n == 0:
            t = np.zeros((len(ids), 0))
            feats: dict[str, F64] = {}
        else:
            stack = np.stack([runs[a] for a in ids])  # (A, N, WIDTH)
            t = stack[:, :, RUNTIME] - stack[:, :1, RUNTIME]
            feats = _features(stack)
            bc = np.array([zone_bc[a] for a in ids])[:, None]
            feats["load"] = np.maximum(feats["vel_rms"] / bc, 1.0)
        warned = np.array(
            [np.nan if (w := (warned_at_s or {}).get(a)) is None else w for a in ids], np.float64
        )
        res = forecast_many(PartBatch(t, feats, list(ids), warned_at_s=warned), prior, usage)
        ok = np.all(np.isfinite(res.quantiles), axis=1)
        for i, aid in enumerate(ids):
            hi = float(res.health_index[i])
            p10, p50, p90 = (
                (float(res.p10_s[i]) / 3600.0, float(res.p50_s[i]) / 3600.0,
                 float(res.p90_s[i]) / 3600.0)
                if ok[i]
                else (None, None, None)
            )  # fmt: skip
            out[aid] = Forecast(
                p10, p50, p90, str(res.status[i]), str(res.method[i]),
                hi if math.isfinite(hi) else 0.0, n, float(res.age_s[i]) / 3600.0,
            )  # fmt: skip
    return out


def running_level(m: F64, readings: int) -> tuple[float, int, float, float] | None:
    """(median worst-axis hourly mean velocity, hours, end of the newest, median kurtosis) over
    the newest `readings` hours in which at least half the reports ran."""
    n = m[:, N]
    run = m[m[:, N_RUNNING] >= 0.5 * n][-readings:]
    if run.shape[0] == 0:
        return None
    vel = run[:, S_VEL_X : S_VEL_Z + 1].max(axis=1) / run[:, N]
    kurt = run[:, S_KURT] / run[:, N]
    return (
        float(np.median(vel)),
        int(run.shape[0]),
        float(run[-1, HOUR] + 3600.0),
        float(np.median(kurt)),
    )


def hour_velocity(m: F64) -> tuple[F64, F64]:
    """(hour, worst-axis mean velocity) of the hours in which at least half the reports ran."""
    run = m[m[:, N_RUNNING] >= 0.5 * m[:, N]]
    return run[:, HOUR], run[:, S_VEL_X : S_VEL_Z + 1].max(axis=1) / run[:, N]


def to_columns(points: Sequence[HourlyPoint]) -> F64:
    """HourlyPoint records -> an hourly array (the sums rebuilt from the means)."""
    rows = []
    for h in points:
        n = float(h.n)
        t = h.temp_c
        rows.append((
            float(h.hour), n, *(v * n for v in h.vel_rms_mm_s), h.vel_rms_max_mm_s,
            *(a * n for a in h.acc_rms_g), h.peak_g_max, h.kurtosis * n,
            0.0 if t is None else t * n, 0.0 if t is None else n, float(h.runtime_s),
            float(h.starts), round(h.running_fraction * n),
        ))  # fmt: skip
    return np.array(rows, dtype=np.float64).reshape(-1, WIDTH)
