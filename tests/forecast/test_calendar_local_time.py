"""Hour-of-week profiles on the site's local clock (`tz`): a Tokyo shift (no DST) and a
Berlin shift across the spring daylight-saving change keep their local hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.forecast.calendar import Utilisation

H = 3600.0
TOKYO, BERLIN = ZoneInfo("Asia/Tokyo"), ZoneInfo("Europe/Berlin")


def _day_shift(start_utc: datetime, days: int, tz: ZoneInfo) -> list[tuple[datetime, float]]:
    """Hourly records (UTC hour starts, as the gateway stores them) of a machine that runs
    06:00-14:00 local time on weekdays."""
    out = []
    for h in range(days * 24):
        t = start_utc + timedelta(hours=h)
        loc = t.astimezone(tz)
        out.append((t, 1.0 if loc.weekday() < 5 and 6 <= loc.hour < 14 else 0.0))
    return out


def test_tokyo_shift_is_a_morning_shift_in_local_hours() -> None:
    recs = _day_shift(datetime(2026, 11, 1, tzinfo=UTC), 28, TOKYO)
    local = Utilisation.from_hours(recs, TOKYO)
    assert local.hours_by_shift == pytest.approx({"06-14": 40 / 7, "14-22": 0, "22-06": 0})
    assert local.hours_by_weekday == pytest.approx((8.0,) * 5 + (0.0, 0.0))
    # On UTC hours the same machine seems to run nights, Sunday to Thursday.
    utc = Utilisation.from_hours(recs)
    assert utc.hours_by_shift["22-06"] > 0 and utc.hours_by_weekday[6] == pytest.approx(3.0)
    # Monday 00:00 JST + 1 running hour = Monday 07:00 JST.
    mon = datetime(2026, 11, 30, tzinfo=TOKYO)
    assert local.to_calendar(mon, 1 * H) == datetime(2026, 11, 30, 7, tzinfo=TOKYO)
    assert Utilisation.from_state(local.to_state()) == local


def test_berlin_shift_keeps_its_local_hours_across_dst() -> None:
    # Four weeks around the change of 2026-03-29 (CET -> CEST).
    recs = _day_shift(datetime(2026, 3, 16, tzinfo=UTC), 28, BERLIN)
    local = Utilisation.from_hours(recs, BERLIN)
    monday = local.fraction_by_hour[:24]
    assert monday == pytest.approx([0.0] * 6 + [1.0] * 8 + [0.0] * 10)
    # On UTC hours the shift is smeared over 04:00-14:00 (half the weeks an hour earlier).
    assert Utilisation.from_hours(recs).fraction_by_hour[4] == pytest.approx(0.5)
    # Friday 2026-03-27 13:30 CET + 1 running hour: 30 min on Friday, 30 min from Monday
    # 06:00 CEST (the weekend's clock change does not move the shift).
    fri = datetime(2026, 3, 27, 13, 30, tzinfo=BERLIN)
    got = local.to_calendar(fri, 1 * H)
    assert got is not None
    assert got.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 30, 6, 30)
