"""The consulting report's computation (gateway/consulting/) on constructed hourly histories
with known answers: shifts across midnight, a Berlin daylight-saving change, a Tokyo site, gaps
and counter resets, zones on each asset's own limits, and recommendations that fire on a clear
difference and stay quiet on noise."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

import pytest

from gateway import consulting as c
from gateway import shifts as sh
from gateway.sitetime import zone
from gateway.store.api import HourlyPoint

LIMITS = (1.4, 2.8, 4.5)  # group 2 rigid
DEFAULTS = sh.DEFAULT_SHIFTS


def series(
    asset_id: str,
    start: float,
    hours: int,
    running: Callable[[dt.datetime], float],
    tz: str = "UTC",
    starts: Callable[[dt.datetime], int] = lambda t: 0,
    level: Callable[[dt.datetime], float] = lambda t: 1.0,
    counters: tuple[int, int] = (0, 0),
) -> list[HourlyPoint]:
    """Hourly points from `start` (unix s, on the hour); the callables get the hour's local
    start in `tz` and give its running share, starts and running level (mm/s)."""
    runtime, n_starts = counters
    out = []
    for i in range(hours):
        hour = int(start) + i * 3600
        local = dt.datetime.fromtimestamp(hour, zone(tz))
        f = running(local)
        runtime += round(f * 3600)
        n_starts += starts(local)
        v = level(local)
        out.append(
            HourlyPoint(
                asset_id, hour, 6, (v * f, v * f * 0.5, 0.01), v if f else 0.03,
                (0.0, 0.0, 0.0), 0.1, 3.0, 30.0, runtime, n_starts, f,
            )
        )  # fmt: skip
    return out


def midnight(day: dt.date, tz: str) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone(tz)).timestamp()


def spec(
    aid: str, name: str = "", site: str = "S", limits: tuple[float, float, float] = LIMITS
) -> c.MachineSpec:
    return c.MachineSpec(aid, name or aid, "machine", site, limits)


def usage(
    points: list[HourlyPoint], period: c.Period, tz: str = "UTC", aid: str = "A"
) -> c.MachineUsage:
    return c.machine_usage(spec(aid), c.columns_of(points), period, tz, sh.DEFAULT_SHIFTS)


def test_a_night_shift_crosses_midnight() -> None:
    period = c.Period(dt.date(2026, 6, 1), dt.date(2026, 6, 7))
    start = midnight(period.first, "UTC") - 3600  # the hour before: the first counters' base
    pts = series("A", start, 24 * 7 + 1, lambda t: 1.0 if t.hour >= 22 or t.hour < 6 else 0.0)
    m = usage(pts, period)
    assert m.by_shift["night"].monitored_h == 7 * 8
    assert m.by_shift["night"].utilisation == 1.0
    assert m.by_shift["early"].running_h == 0 and m.by_shift["late"].running_h == 0
    # the first day's night hours 00-06 belong to it; its 22-24 too: 8 running hours a day
    assert m.by_day["2026-06-01"].running_h == 8
    assert m.total.running_h == 56 and m.total.monitored_h == 168
    assert m.total.utilisation == pytest.approx(1 / 3)


def test_shift_hours_follow_berlin_wall_clock_across_daylight_saving() -> None:
    tz = "Europe/Berlin"
    period = c.Period(dt.date(2026, 10, 20), dt.date(2026, 10, 30))  # clocks go back 25 Oct
    start = midnight(period.first, tz) - 3600
    end = period.bounds(tz)[1]
    pts = series(
        "A", start, int((end - start) // 3600), lambda t: 1.0 if 6 <= t.hour < 14 else 0.0, tz
    )
    m = usage(pts, period, tz)
    assert m.by_day["2026-10-25"].monitored_h == 25  # the long day
    assert m.by_day["2026-10-24"].monitored_h == 24
    night = c.Period(dt.date(2026, 10, 25), dt.date(2026, 10, 25))
    # that day's night hours: 00-06 with 02:00 twice (7) and 22-24 (2)
    assert usage(pts, night, tz).by_shift["night"].monitored_h == 7 + 2
    assert m.by_shift["early"].utilisation == 1.0  # 06-14 local every day, before and after
    assert m.by_shift["night"].running_h == 0 and m.by_shift["late"].running_h == 0
    assert m.total.running_h == 8 * period.days
    assert m.total.monitored_h == 24 * period.days + 1


def test_spring_forward_day_has_23_hours() -> None:
    tz = "Europe/Berlin"
    period = c.Period(dt.date(2026, 3, 28), dt.date(2026, 3, 30))
    start = midnight(period.first, tz) - 3600
    pts = series("A", start, 80, lambda t: 1.0, tz)
    m = usage(pts, period, tz)
    assert m.by_day["2026-03-29"].monitored_h == 23
    assert m.by_shift["night"].monitored_h == 8 + 7 + 8


def test_a_tokyo_site_keeps_its_own_days_and_shifts() -> None:
    tz = "Asia/Tokyo"
    period = c.Period(dt.date(2026, 12, 7), dt.date(2026, 12, 13))  # Monday to Sunday, JST
    start = midnight(period.first, tz) - 3600
    pts = series(
        "A", start, 24 * 7 + 1,
        lambda t: 1.0 if t.weekday() < 5 and 8 <= t.hour < 16 else 0.0, tz,
    )  # fmt: skip
    m = usage(pts, period, tz)
    assert m.by_shift["early"].running_h == 5 * 6  # 08-14
    assert m.by_shift["late"].running_h == 5 * 2  # 14-16
    assert [u.running_h for u in m.by_weekday] == [8, 8, 8, 8, 8, 0, 0]
    assert period.bounds(tz)[0] == dt.datetime(2026, 12, 6, 15, tzinfo=dt.UTC).timestamp()
    # read on the UTC clock, the same work (23-07 UTC) would land on the night shift
    assert usage(pts, period, "UTC").by_shift["night"].running_h > 0


def test_starts_and_runtime_from_the_counters() -> None:
    period = c.Period(dt.date(2026, 6, 1), dt.date(2026, 6, 4))
    start = midnight(period.first, "UTC") - 3600
    pts = series("A", start, 24 * 4 + 1, lambda t: 0.5, starts=lambda t: 2, counters=(9000, 77))
    m = usage(pts, period)
    assert m.total.starts == 2 * 24 * 4 and m.total.starts_per_day == 48
    assert m.total.running_h == pytest.approx(48)
    assert m.total.idle_h == pytest.approx(48)


def test_a_gap_and_a_counter_reset_count_no_unseen_hours() -> None:
    period = c.Period(dt.date(2026, 6, 1), dt.date(2026, 6, 1))
    start = midnight(period.first, "UTC")
    pts = series("A", start - 3600, 25, lambda t: 1.0, starts=lambda t: 1)
    gap = pts[:5] + pts[15:]  # ten hours without readings
    m = usage(gap, period)
    assert m.total.monitored_h == 24 - 10
    assert m.total.running_h == 14  # the hour after the gap: its running share, not 11 h
    assert m.total.starts == 14 - 1  # the starts across the gap are not this hour's
    reset = pts[:10]
    new_board = [
        HourlyPoint(p.asset_id, p.hour, p.n, p.vel_rms_mm_s, p.vel_rms_max_mm_s, p.acc_rms_g,
                    p.peak_g_max, p.kurtosis, p.temp_c, p.runtime_s - 40000, p.starts - 9,
                    p.running_fraction)
        for p in pts[10:]
    ]  # fmt: skip
    m = usage(reset + new_board, period)
    assert m.total.running_h == 24
    assert m.total.starts == 24 - 1  # the reset hour counts none, never a negative number


def test_zone_hours_on_each_assets_own_limits() -> None:
    period = c.Period(dt.date(2026, 6, 1), dt.date(2026, 6, 3))
    start = midnight(period.first, "UTC") - 3600
    pts = series("A", start, 24 * 3 + 1, lambda t: 0.5, level=lambda t: 3.0)
    m = c.columns_of(pts)
    tight = c.machine_usage(spec("A"), m, period, "UTC", DEFAULTS)
    loose = c.machine_usage(spec("A", limits=(2.3, 4.5, 7.1)), m, period, "UTC", DEFAULTS)
    assert tight.total.zone_h["C"] == pytest.approx(36)  # 3.0 mm/s running, 2.8 < 3.0 <= 4.5
    assert loose.total.zone_h["B"] == pytest.approx(36)
    # the hourly mean includes stopped reports; the running level is not diluted by them
    assert c.running_level(m)[1] == pytest.approx(3.0)


def test_shifts_parse_and_refuse_overlaps() -> None:
    assert sh.parse_shifts("") == sh.DEFAULT_SHIFTS
    s = sh.parse_shifts("day=07-19,night=19-07")
    assert [x.label for x in s] == ["07-19", "19-07"] and len(s[1].hours()) == 12
    assert sh.parse_shifts("06-14,14-22")[0].name == "06-14"
    with pytest.raises(ValueError, match="overlap"):
        sh.parse_shifts("a=06-14,b=13-22")
    with pytest.raises(ValueError, match="HH-HH"):
        sh.parse_shifts("night=late")
    with pytest.raises(ValueError, match="twice"):
        sh.parse_shifts("a=06-14,a=14-22")
    assert sh.shift_of(3, sh.parse_shifts("a=06-14")) == sh.OUTSIDE


# ------------------------------------------------------------------ recommendations

PERIOD = c.Period(dt.date(2026, 6, 1), dt.date(2026, 6, 28))
START = midnight(dt.date(2026, 5, 4), "UTC") - 3600  # the previous period too
HOURS = 24 * 56 + 1


def site(*machines: tuple[str, list[HourlyPoint]], tz: str = "UTC") -> c.Report:
    specs = tuple(spec(name.lower().replace(" ", "-"), name) for name, _ in machines)
    hours = {s.asset_id: c.columns_of(pts) for s, (_, pts) in zip(specs, machines, strict=True)}
    inp = c.SiteInput("S", tz, sh.DEFAULT_SHIFTS, specs)
    return c.build_report("acme", [inp], hours, {}, PERIOD)


def day_shift(t: dt.datetime) -> float:
    return 1.0 if 6 <= t.hour < 22 else 0.0


def kinds(r: c.Report) -> list[tuple[str, str | None]]:
    return [(x.kind, x.asset_id) for x in r.recommendations]


def every(n: int) -> Callable[[dt.datetime], int]:
    """n starts a day, spread over the day's first n hours."""
    return lambda t: 1 if t.hour < n else 0


def test_frequent_starts_are_named_with_their_numbers() -> None:
    press1 = series("press-1", START, HOURS, day_shift, starts=every(6))
    press2 = series("press-2", START, HOURS, day_shift, starts=lambda t: 2 if t.hour < 20 else 0)
    r = site(("Press 1", press1), ("Press 2", press2))
    recs = [x for x in r.recommendations if x.kind == "start_stop"]
    assert [x.asset_id for x in recs] == ["press-2"]
    assert "Press 2 starts 40 times a day against 6 for Press 1" in recs[0].text
    assert recs[0].figures["starts_per_day"] == pytest.approx(40)


def test_noisy_starts_recommend_nothing() -> None:
    rng = random.Random(7)
    machines = []
    for i in range(5):
        per_day = {d: rng.randint(6, 14) for d in range(60)}

        def noisy(t: dt.datetime, p: dict[int, int] = per_day) -> int:
            return int(t.hour < p[t.toordinal() % 60])

        machines.append((f"M{i}", series(f"m{i}", START, HOURS, day_shift, starts=noisy)))
    r = site(*machines)
    assert not [k for k in kinds(r) if k[0] in ("start_stop", "idle", "change")]


def test_one_bad_day_is_not_a_pattern() -> None:
    calm = series("a", START, HOURS, day_shift, starts=every(5))
    # 600 more starts on one day: the mean is 26 a day, 5x the other's 5, but on one day
    bad = dt.date(2026, 6, 10)
    burst = series("b", START, HOURS, day_shift,
                   starts=lambda t: 25 * (t.date() == bad) + int(t.hour < 5))  # fmt: skip
    r = site(("A", calm), ("B", burst))
    assert r.sites[0].machines[1].total.starts_per_day == pytest.approx(26.4, abs=0.1)
    assert not [k for k in kinds(r) if k[0] in ("start_stop", "change")]


def test_zone_c_on_the_night_shift_only() -> None:
    always = lambda t: 1.0  # noqa: E731
    pump = series(
        "pump-b", START, HOURS, always, level=lambda t: 3.5 if t.hour >= 22 or t.hour < 6 else 1.0
    )
    other = series("pump-a", START, HOURS, always)
    r = site(("Pump A", other), ("Pump B", pump))
    recs = [x for x in r.recommendations if x.asset_id == "pump-b"]
    assert [x.kind for x in recs] == ["zone_shift"]
    assert "Pump B runs in zone C on the night shift (22-06) only" in recs[0].text
    assert "224 of its 224 running hours on that shift, against 0 of 448" in recs[0].text
    assert not [x for x in r.recommendations if x.asset_id == "pump-a"]


def test_zone_c_all_day_is_said_as_time_in_zone() -> None:
    pump = series("p", START, HOURS, lambda t: 1.0, level=lambda t: 3.5)
    r = site(("P", pump), ("Q", series("q", START, HOURS, lambda t: 1.0)))
    assert kinds(r) == [("zone_time", "p")]
    assert "ran 672 h in zone C, 100 % of its 672 running hours" in r.recommendations[0].text
    # When the work is due is the outlook's to say (it may need an unplanned stop before zone D).
    assert "next planned stop" not in r.recommendations[0].advice
    assert "the date the machine's recommended action gives" in r.recommendations[0].advice
    assert r.sites[0].machine("p") is not None


def test_an_idle_machine_among_busy_ones() -> None:
    busy = [series(f"b{i}", START, HOURS, day_shift) for i in range(2)]
    idle = series("spare", START, HOURS, lambda t: 1.0 if t.day == 3 and t.hour == 8 else 0.0)
    r = site(("B0", busy[0]), ("B1", busy[1]), ("Spare pump", idle))
    recs = [x for x in r.recommendations if x.kind == "idle"]
    assert [x.asset_id for x in recs] == ["spare-pump"]
    assert (
        "Spare pump ran 1 h of 672 monitored hours (0.1 %) against a median of 67 %" in recs[0].text
    )


def test_too_little_history_is_not_judged() -> None:
    late = series(
        "new",
        midnight(dt.date(2026, 6, 27), "UTC"),
        48,
        lambda t: 1.0,
        starts=lambda t: 5,
        level=lambda t: 9.0,
    )
    r = site(("Old", series("old", START, HOURS, day_shift)), ("New", late))
    assert [m.spec.asset_id for m in r.not_enough()] == ["new"]
    assert not [x for x in r.recommendations if x.asset_id == "new"]
    change = next(x for x in r.changes if x.asset_id == "new")
    assert change.utilisation == (None, None)


def test_changes_against_the_previous_period() -> None:
    cut = midnight(PERIOD.first, "UTC")
    m = series("m", START, HOURS, day_shift,
               starts=lambda t: 2 * (t.timestamp() >= cut and t.hour < 15)
               or int(t.hour < 5))  # fmt: skip
    r = site(("M", m), ("N", series("n", START, HOURS, day_shift, starts=every(30))))
    ch = next(x for x in r.changes if x.asset_id == "m")
    assert ch.starts_per_day[0] == pytest.approx(30) and ch.starts_per_day[1] == pytest.approx(5)
    texts = [x.text for x in r.recommendations if x.kind == "change"]
    assert texts == ["M starts 30 times a day, up from 5 in the previous 28 days."]


def test_the_quiet_shift_is_named() -> None:
    r = site(
        *(
            (f"M{i}", series(f"m{i}", START, HOURS, lambda t: 1.0 if 6 <= t.hour < 14 else 0.2))
            for i in range(2)
        )
    )
    recs = [x for x in r.recommendations if x.kind == "shift_pattern"]
    assert len(recs) == 1
    assert "run 100 % of the early shift (06-14) against 20 % of the late shift" in recs[0].text


def test_warnings_are_counted_per_period() -> None:
    inp = c.SiteInput("S", "UTC", sh.DEFAULT_SHIFTS, (spec("a"),))
    pts = {"a": c.columns_of(series("a", START, HOURS, day_shift))}
    now = midnight(dt.date(2026, 6, 5), "UTC")
    before = midnight(dt.date(2026, 5, 5), "UTC")
    r = c.build_report("acme", [inp], pts, {"a": [now, now + 60, before]}, PERIOD)
    assert r.changes[0].warnings == (2, 1)
    d = r.to_dict()
    assert (
        d["thresholds"]["notable_ratio"] == c.THRESHOLDS["notable_ratio"] == 3.0 and d["days"] == 28
    )
