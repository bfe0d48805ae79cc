"""The outlook's inputs beside the forecast: running hours from the counter, utilisation."""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.forecast import Utilisation
from gateway.outlook.levels import running_hours, utilisation

H = 3600.0
T0 = 1_767_571_200.0  # Monday 2026-01-05 00:00 UTC
Row = namedtuple("Row", "hour runtime_s")


def test_running_hours_from_the_hourly_counter() -> None:
    hist: Any = [Row(T0, 1000.0), Row(T0 + H, 2800.0), Row(T0 + 4 * H, 2800.0 + 3 * H),
                 Row(T0 + 5 * H, 500.0)]  # fmt: skip
    starts, shares = running_hours(hist)
    got = sorted(zip(((starts - T0) / H).tolist(), shares.tolist(), strict=True))
    # 30 min in hour 1; a 3-hour gap ran 3 h, spread 1 h each; the counter reset gives nothing.
    assert got == [(1, 0.5), (2, 1.0), (3, 1.0), (4, 1.0)]


def test_utilisation_is_the_per_slot_mean_of_utilisation_from_hours() -> None:
    # Two weeks of a machine that runs 06-14 on weekdays, with some noise in the counter.
    rt, hist = 0.0, []
    for k in range(14 * 24):
        t = T0 + k * H
        d = datetime.fromtimestamp(t - H, UTC)
        rt += H * (0.9 if d.weekday() < 5 and 6 <= d.hour < 14 else 0.05 * (k % 3))
        hist.append(Row(t, rt))
    u = utilisation(hist)
    assert u is not None
    starts, shares = running_hours(hist)
    ref = Utilisation.from_hours(
        (datetime.fromtimestamp(s, UTC), float(x)) for s, x in zip(starts, shares, strict=True)
    )
    assert u.fraction_by_hour == pytest.approx(ref.fraction_by_hour)
    assert u.hours_by_weekday[0] == pytest.approx(8 * 0.9 + 16 * 0.05, abs=0.5)
