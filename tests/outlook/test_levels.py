"""The outlook's inputs from hourly columns: running hours from the counter, utilisation, the
series the forecast reads (the same as gateway.analytics.running_series)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from gateway.analytics import running_series
from gateway.forecast import Utilisation
from gateway.outlook import columns as cols
from gateway.outlook.levels import PACE_HOURS, running_hours, utilisation, velocity_slope
from gateway.store.api import HourlyPoint

H = 3600.0
T0 = 1_767_571_200.0  # Monday 2026-01-05 00:00 UTC


def test_running_hours_from_the_hourly_counter() -> None:
    hour = np.array([T0, T0 + H, T0 + 4 * H, T0 + 5 * H])
    runtime = np.array([1000.0, 2800.0, 2800.0 + 3 * H, 500.0])
    starts, shares = running_hours(hour, runtime)
    got = sorted(zip(((starts - T0) / H).tolist(), shares.tolist(), strict=True))
    # 30 min in hour 1; a 3-hour gap ran 3 h, spread 1 h each; the counter reset gives nothing.
    assert got == [(1, 0.5), (2, 1.0), (3, 1.0), (4, 1.0)]


def _points(hours: int) -> list[HourlyPoint]:
    rt, out = 0.0, []
    for k in range(hours):
        t = T0 + k * H
        d = datetime.fromtimestamp(t - H, UTC)
        running = 0.9 if d.weekday() < 5 and 6 <= d.hour < 14 else 0.05 * (k % 3)
        rt += H * running
        v = 1.0 + 0.01 * k
        frac = 1.0 if running > 0.5 else 0.0 if k % 2 else 0.25
        out.append(HourlyPoint(
            "a", int(t), 12, (v, v * 0.8, v * 0.5), v * 1.2, (0.1, 0.2, 0.3), 0.9, 0.3,
            None if k % 5 == 0 else 40.0, int(rt), 7, frac,
        ))  # fmt: skip
    return out


def test_utilisation_is_the_per_slot_mean_of_utilisation_from_hours() -> None:
    pts = _points(14 * 24)
    m = cols.to_columns(pts)
    u = utilisation(m)
    assert u is not None
    starts, shares = running_hours(m[:, cols.HOUR], m[:, cols.RUNTIME])
    ref = Utilisation.from_hours(
        (datetime.fromtimestamp(s, UTC), float(x)) for s, x in zip(starts, shares, strict=True)
    )
    assert u.fraction_by_hour == pytest.approx(ref.fraction_by_hour)
    assert u.hours_by_weekday[0] == pytest.approx(8 * 0.9 + 16 * 0.05, abs=0.5)


def test_series_is_what_the_forecaster_reads() -> None:
    pts = _points(200)
    t, feats = cols.series(cols.to_columns(pts))
    t_ref, f_ref = running_series(pts)
    assert t.tolist() == pytest.approx(t_ref.tolist())
    assert feats.keys() == f_ref.keys()
    for k in feats:
        assert feats[k].tolist() == pytest.approx(f_ref[k].tolist()), k


def _hourly(vel: np.ndarray, running_h: float = 1.0) -> np.ndarray:
    """An hourly array of a machine running `running_h` of every hour at velocity `vel`."""
    pts = [
        HourlyPoint("a", int(T0 + k * H), 6, (float(v), float(v) * 0.8, 0.5), float(v) * 1.2,
                    (0.1, 0.2, 0.3), 0.9, 0.3, 40.0, int((k + 1) * H * running_h), 1, 1.0)
        for k, v in enumerate(vel)
    ]  # fmt: skip
    return cols.to_columns(pts)


def test_velocity_slope_is_the_pace_per_running_hour_over_the_newest_hours() -> None:
    rng = np.random.default_rng(3)
    k = np.arange(200)
    # Flat for 150 hours, then rising 0.02 mm/s per hour with 2 % scatter: the slope reads
    # only the newest PACE_HOURS, so the flat past does not dilute it.
    vel = (5.0 + 0.02 * np.maximum(k - 150, 0)) * (1 + rng.normal(0, 0.02, k.size))
    s = velocity_slope(_hourly(vel))
    assert s is not None and s.hours == PACE_HOURS and 0 < s.lo < 0.02 < s.hi
    assert s.per_h == pytest.approx(0.02, rel=0.25)
    # Running half of every hour: the same rise is twice as fast per running hour.
    half = velocity_slope(_hourly(vel, running_h=0.5))
    assert half is not None and half.per_h == pytest.approx(2 * s.per_h, rel=0.05)


def test_velocity_slope_of_a_flat_noisy_level_does_not_clear_zero() -> None:
    rng = np.random.default_rng(4)
    s = velocity_slope(_hourly(5.0 * (1 + rng.normal(0, 0.05, 200))))
    assert s is not None and s.lo <= 0  # no clear rise: no pace is stated
    # Fewer running hours than a pace needs: none at all.
    assert velocity_slope(_hourly(5.0 + 0.05 * np.arange(20))) is None
