from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from gateway.forecast.calendar import Utilisation
from gateway.forecast.planning import Need, parts_demand

MON = datetime(2025, 1, 6)  # a Monday, midnight


def _weekdays_only() -> Utilisation:
    recs = [(date(2025, 1, 6) + timedelta(days=i), 8.0 if i % 7 < 5 else 0.0) for i in range(28)]
    return Utilisation.from_days(recs)


def test_utilisation_by_weekday() -> None:
    u = _weekdays_only()
    assert u.hours_by_weekday == pytest.approx((8.0, 8.0, 8.0, 8.0, 8.0, 0.0, 0.0))
    assert u.hours_per_week == pytest.approx(40.0)


def test_running_seconds_to_calendar() -> None:
    u = _weekdays_only()
    h = 3600.0
    assert u.to_calendar(MON, 4 * h) == MON + timedelta(hours=12)  # 8 h spread over 24 h
    assert u.to_calendar(MON, 8 * h) == MON + timedelta(days=1)
    # 48 running hours = one full week (40 h) + the next Monday.
    assert u.to_calendar(MON, 48 * h) == MON + timedelta(days=8)
    # Friday noon + 8 running hours: the rest of Friday (4 h), the weekend (0 h), Monday 4 h.
    fri_noon = MON + timedelta(days=4, hours=12)
    assert u.to_calendar(fri_noon, 8 * h) == MON + timedelta(days=7, hours=12)
    d = u.dates(MON, 8 * h, 16 * h, None)
    assert d == {"p10": MON + timedelta(days=1), "p50": MON + timedelta(days=2), "p90": None}
    assert Utilisation.from_weekday_hours((0.0,) * 7).to_calendar(MON, 1.0) is None


def test_unseen_weekday_takes_overall_mean() -> None:
    u = Utilisation.from_days([(date(2025, 1, 6), 10.0), (date(2025, 1, 7), 20.0)])
    assert u.hours_by_weekday[0] == pytest.approx(10.0)
    assert u.hours_by_weekday[6] == pytest.approx(15.0)


def test_parts_demand_buckets_are_cumulative() -> None:
    needs = [
        Need("6205-2RS", MON + timedelta(weeks=1)),
        Need("6205-2RS", MON + timedelta(weeks=5), 2),
        Need("6205-2RS", MON + timedelta(weeks=13)),
        Need("NU210", MON + timedelta(weeks=7, days=6)),
        Need("NU210", MON - timedelta(days=1)),  # overdue
        Need("NU210", None),
    ]
    assert parts_demand(needs, MON) == {
        "6205-2RS": {4: 1, 8: 3, 12: 3},
        "NU210": {4: 1, 8: 2, 12: 2},
    }


def _two_shifts_weekdays() -> list[tuple[datetime, float]]:
    """Four weeks of a machine running 06:00-22:00 Monday to Friday, hourly records."""
    out = []
    for h in range(28 * 24):
        t = MON + timedelta(hours=h)
        out.append((t, 1.0 if t.weekday() < 5 and 6 <= t.hour < 22 else 0.0))
    return out


def test_hourly_profile_lands_on_the_shift() -> None:
    u = Utilisation.from_hours(_two_shifts_weekdays())
    assert u.hours_by_weekday == pytest.approx((16.0,) * 5 + (0.0, 0.0))
    assert u.hours_by_shift == pytest.approx({"06-14": 8 * 5 / 7, "14-22": 8 * 5 / 7, "22-06": 0})
    h = 3600.0
    # From Monday 00:00, 1 running hour is done at 07:00 (nothing runs before 06:00).
    assert u.to_calendar(MON, 1 * h) == MON + timedelta(hours=7)
    # 16 h = all of Monday's two shifts: 22:00 Monday; 17 h: 07:00 Tuesday.
    assert u.to_calendar(MON, 16 * h) == MON + timedelta(hours=22)
    assert u.to_calendar(MON, 17 * h) == MON + timedelta(days=1, hours=7)
    # Friday 21:30 + 1 running hour: 30 min on Friday, then the next 30 min on Monday 06:30.
    fri = MON + timedelta(days=4, hours=21, minutes=30)
    assert u.to_calendar(fri, 1 * h) == MON + timedelta(days=7, hours=6, minutes=30)
    # The daily spread (the old weekday model) would put 1 h at 01:30 Monday.
    daily = Utilisation.from_weekday_hours(u.hours_by_weekday)
    assert daily.to_calendar(MON, 1 * h) == MON + timedelta(hours=1, minutes=30)
    assert Utilisation.from_state(u.to_state()) == u


def test_unseen_hours_take_the_same_hour_of_other_days() -> None:
    recs = [(MON + timedelta(hours=h), 1.0 if h % 24 == 10 else 0.0) for h in range(48)]
    u = Utilisation.from_hours(recs)  # Monday and Tuesday only: 10:00-11:00 runs
    assert u.fraction_by_hour[4 * 24 + 10] == 1.0 and u.fraction_by_hour[4 * 24 + 9] == 0.0
    with pytest.raises(ValueError):
        Utilisation.from_hours([])
