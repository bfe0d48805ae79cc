"""The outlook's utilisation on the site's wall clock: the numpy path (levels.utilisation with
a zone) agrees with Utilisation.from_hours on local hours, for Tokyo (no DST) and Berlin across
its spring change; without a zone it stays on UTC hours."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from gateway.forecast import Utilisation
from gateway.outlook import columns as cols
from gateway.outlook.levels import running_hours, utilisation, week_slots
from gateway.store.api import HourlyPoint

H = 3600.0


def _day_shift(t0: float, hours: int, tz: str) -> list[HourlyPoint]:
    """A machine running 06:00-14:00 local time on weekdays; hourly counter rows."""
    z, rt, out = ZoneInfo(tz), 0.0, []
    for k in range(hours):
        t = t0 + k * H
        loc = datetime.fromtimestamp(t, z)  # the counter at the end of this hour
        rt += H if loc.weekday() < 5 and 6 <= loc.hour < 14 else 0.0
        out.append(HourlyPoint("a", int(t), 12, (1.0, 1.0, 1.0), 1.0, (0.1, 0.1, 0.1), 0.5, 3.0,
                               None, int(rt), 1, 1.0))  # fmt: skip
    return out


@pytest.mark.parametrize(
    ("tz", "t0"),
    [
        ("Asia/Tokyo", datetime(2026, 11, 2, tzinfo=UTC).timestamp()),
        # Two weeks before and after Berlin's change of 2026-03-29.
        ("Europe/Berlin", datetime(2026, 3, 16, tzinfo=UTC).timestamp()),
    ],
)
def test_local_week_matches_from_hours(tz: str, t0: float) -> None:
    m = cols.to_columns(_day_shift(t0, 28 * 24, tz))
    u = utilisation(m, tz)
    assert u is not None and u.tz == ZoneInfo(tz)
    starts, shares = running_hours(m[:, cols.HOUR], m[:, cols.RUNTIME])
    ref = Utilisation.from_hours(
        ((datetime.fromtimestamp(s, UTC), float(x)) for s, x in zip(starts, shares, strict=True)),
        ZoneInfo(tz),
    )
    assert u.fraction_by_hour == pytest.approx(ref.fraction_by_hour)
    # The shift is crisp on the local clock: Monday 06:00-14:00 runs, the rest does not.
    assert u.fraction_by_hour[:24] == pytest.approx([0.0] * 6 + [1.0] * 8 + [0.0] * 10)
    assert u.hours_by_shift == pytest.approx({"06-14": 40 / 7, "14-22": 0.0, "22-06": 0.0})
    # On UTC hours the same machine is smeared or shifted.
    utc = utilisation(m)
    assert utc is not None and utc.hours_by_shift["06-14"] < 40 / 7 - 1


def test_week_slots_on_the_local_clock() -> None:
    monday_jst = datetime(2026, 11, 30, 7, tzinfo=ZoneInfo("Asia/Tokyo")).timestamp()
    assert week_slots(np.array([monday_jst]), "Asia/Tokyo").tolist() == [7]
    assert week_slots(np.array([monday_jst]), None).tolist() == [6 * 24 + 22]  # Sunday 22 UTC
    # Berlin: 08:00 local is hour 8 both sides of the change.
    b = ZoneInfo("Europe/Berlin")
    before = datetime(2026, 3, 23, 8, tzinfo=b).timestamp()
    after = datetime(2026, 3, 30, 8, tzinfo=b).timestamp()
    assert week_slots(np.array([before, after]), "Europe/Berlin").tolist() == [8, 8]
