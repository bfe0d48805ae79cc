"""The one judgement's rules (gateway/outlook/judgement.py), one test each: each fails when its
rule is taken out."""

from __future__ import annotations

import dataclasses

from gateway.outlook.judgement import (
    NONE,
    PLAN,
    STOP_NOW,
    UNPLANNED,
    WATCH,
    Facts,
    Pace,
    Slot,
    judge,
    status_text,
)

DAY = 86400.0
NOW = 1_800_000_000.0
WEEKLY = tuple(Slot(i, NOW + i * 7 * DAY, NOW + i * 7 * DAY + 8 * 3600) for i in range(1, 9))


def facts(**kw: object) -> Facts:
    base = Facts(
        now=NOW, zone="B", status="degrading", p10_h=500.0, p50_h=800.0, p90_h=1200.0,
        p10_ts=NOW + 30 * DAY, p50_ts=NOW + 45 * DAY, p90_ts=NOW + 70 * DAY,
        hours_per_week=120.0, part_id="brg", part_number="6205-2RS", lead_time_days=5.0,
        windows=WEEKLY,
    )  # fmt: skip
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]  # test helper


def test_zone_d_stops_now_whatever_the_forecast() -> None:
    j = judge(facts(zone="D", status="healthy_no_trend", p10_h=40000.0, p10_ts=NOW + 900 * DAY))
    assert (j.action, j.reason, j.need_by_ts, j.window) == (STOP_NOW, "zone_D", NOW, None)
    assert (j.p10_ts, j.p50_ts, j.p90_ts) == (None, None, None)  # no date beside "stop now"
    assert "zone D" in j.life_text


def test_zone_c_takes_the_first_window_the_part_can_make() -> None:
    # Lead time 10 days: window 1 (7 days) is too early for the part, window 2 is the one.
    j = judge(facts(zone="C", status="healthy_no_trend", p10_h=9000.0, p10_ts=NOW + 400 * DAY,
                    lead_time_days=10.0, impulsive=True))  # fmt: skip
    assert (j.action, j.reason, j.window) == (PLAN, "zone_C", WEEKLY[1])
    assert j.need_by_ts == WEEKLY[1].start and j.order_by_ts == WEEKLY[1].start - 10 * DAY
    assert j.parts_needed == (("6205-2RS", 1),)


def test_zone_c_without_bearing_signs_books_no_bearing() -> None:
    j = judge(facts(zone="C", status="healthy_no_trend", p10_h=9000.0, p10_ts=NOW + 400 * DAY,
                    lead_time_days=10.0))  # fmt: skip
    assert j.action == PLAN and j.window == WEEKLY[0]  # no part to wait for
    assert j.parts_needed == () and "balance" in j.fault and j.order_by_ts is None


def test_stop_by_is_never_after_the_p10_risk_date() -> None:
    # The risk in 3 days, the part takes 14: no window fits, stop by the risk date anyway.
    j = judge(facts(p10_ts=NOW + 3 * DAY, lead_time_days=14.0))
    assert j.action == UNPLANNED and j.need_by_ts == NOW + 3 * DAY
    assert "Order now" in j.action_text
    # Zone C, no window the part can make before the risk: the same bound.
    j = judge(facts(zone="C", p10_ts=NOW + 3 * DAY, lead_time_days=14.0, windows=()))
    assert j.action == UNPLANNED and j.need_by_ts is not None and j.need_by_ts <= NOW + 3 * DAY


def test_forecast_books_the_last_window_before_the_risk() -> None:
    j = judge(facts(p10_ts=NOW + 30 * DAY))
    assert (j.action, j.reason, j.window) == (PLAN, "forecast", WEEKLY[3])  # 28 days < 30


def test_beyond_the_horizon_is_never_planned_nor_dated() -> None:
    # 20,000 running hours at 40 h/week is about 9.6 years: beyond 5 years.
    far = facts(status="healthy_no_trend", p10_h=20000.0, p50_h=30000.0, p90_h=50000.0,
                p10_ts=NOW + 20 * DAY, hours_per_week=40.0)  # fmt: skip
    j = judge(far)
    assert j.action == NONE and j.need_by_ts is None and j.window is None
    assert j.beyond_horizon and j.life_text == "beyond 5 years"
    assert (j.p10_ts, j.p50_ts, j.p90_ts) == (None, None, None)
    # The same hours at 168 h/week are 2.3 years: inside, and dated.
    near = judge(dataclasses.replace(far, hours_per_week=168.0))
    assert not near.beyond_horizon and near.p10_ts == NOW + 20 * DAY


def test_no_windows_and_a_near_risk_needs_an_unplanned_stop() -> None:
    j = judge(facts(p10_ts=NOW + 10 * DAY, windows=()))
    assert j.action == UNPLANNED and j.need_by_ts == NOW + 10 * DAY


def test_risk_after_the_planned_stops_books_nothing_yet() -> None:
    j = judge(facts(status="healthy_no_trend", p10_ts=NOW + 300 * DAY))
    assert j.action == NONE and j.window is None and j.parts_needed == ()


def test_not_enough_data_is_watched_and_said_in_words() -> None:
    j = judge(facts(status="not_enough_data", p10_h=None, p50_h=None, p90_h=None, p10_ts=None,
                    p50_ts=None, p90_ts=None))  # fmt: skip
    assert j.action == WATCH and j.life_text == "unknown"
    text = status_text("not_enough_data", 12, 90, "", missing_usage=False)
    assert "12 of 90 running hours" in text and "no rated life" in text
    text = status_text("prior_only", 30, 90, "the part's rated life (L10 30,000 h)", True)
    assert "Too early to see a wear trend" in text and "30 of 90" in text
    assert "rated life (L10 30,000 h)" in text and "running hours per week are not known" in text


def test_history_that_does_not_fit_is_watched_and_said_in_words() -> None:
    j = judge(facts(status="history_does_not_fit", p10_h=None, p50_h=None, p90_h=None,
                    p10_ts=None, p50_ts=None, p90_ts=None))  # fmt: skip
    assert j.action == WATCH and "does not cover" in j.action_text and j.parts_needed == ()
    text = status_text("history_does_not_fit", 600, 90, "", missing_usage=False)
    assert "does not cover" in text and "not enough evidence" in text
    assert "history_does_not_fit" not in text
    text = status_text(
        "history_does_not_fit", 600, 90, "the part's rated life (L10 30,000 h)", False
    )
    assert "rated life (L10 30,000 h) only" in text


def test_no_figure_past_the_end_of_life_level_is_judged_by_the_zone_alone() -> None:
    # A degrading part past the level taken as end of life with no fleet failure: no figure.
    none = {"p10_h": None, "p50_h": None, "p90_h": None, "p10_ts": None, "p50_ts": None,
            "p90_ts": None}  # fmt: skip
    c = judge(facts(zone="C", lead_time_days=10.0, **none))
    assert (c.action, c.reason, c.window) == (PLAN, "zone_C", WEEKLY[1])  # first it can make
    assert c.parts_needed == (("6205-2RS", 1),) and c.life_text.startswith("no figure")
    d = judge(facts(zone="D", **none))
    assert (d.action, d.reason) == (STOP_NOW, "zone_D")
    b = judge(facts(zone="B", **none))  # below zone C: nothing to date, so watched
    assert b.action == WATCH and "no remaining-life figure" in b.action_text
    assert b.parts_needed == () and b.need_by_ts is None
    text = status_text("degrading", 500, 15, "", False, method="past_fail_level")
    assert "past the level taken as end of life (5x its quiet level)" in text
    assert "no remaining-life figure" in text and "remaining life from" not in text


NO_FIGURE = {"p10_h": None, "p50_h": None, "p90_h": None, "p10_ts": None, "p50_ts": None,
             "p90_ts": None}  # fmt: skip
H = 3600.0


def test_zone_d_at_the_current_pace_before_the_window_needs_an_unplanned_stop() -> None:
    # Zone C, no figure, the part 10 days away: the first stop it can make is day 14, but at
    # the current pace the level reaches the C/D limit in 20 running hours.
    pace = Pace("D", 7.1, 20.0, NOW + 20 * H, "2027-01-15")
    j = judge(facts(zone="C", lead_time_days=10.0, zone_d=pace, **NO_FIGURE))
    assert (j.action, j.reason, j.window, j.need_by_ts) == (UNPLANNED, "zone_C", None, NOW + 20 * H)
    assert j.parts_needed == (("6205-2RS", 1),) and j.order_by_ts == NOW + 20 * H - 10 * DAY
    assert (
        "at the current pace, vibration reaches zone D (7.1 mm/s) in about 20 running hours,"
        " around 2027-01-15, before the first planned stop the part can make" in j.action_text
    )
    assert "Order now" in j.action_text  # the part arrives after the stop-by date
    # Without the pace the same facts take the window (the rule, not the zone, moved it).
    assert judge(facts(zone="C", lead_time_days=10.0, **NO_FIGURE)).window == WEEKLY[1]


def test_zone_d_at_the_current_pace_after_the_window_keeps_the_window() -> None:
    pace = Pace("D", 7.1, 700.0, NOW + 29 * DAY, "2027-02-12")
    j = judge(facts(zone="C", lead_time_days=10.0, zone_d=pace, **NO_FIGURE))
    assert (j.action, j.window, j.need_by_ts) == (PLAN, WEEKLY[1], WEEKLY[1].start)
    assert "in about 700 running hours, around 2027-02-12, after this stop" in j.action_text


def test_no_clear_pace_leaves_the_zone_c_rule_alone() -> None:
    # A flat or noisy level has no pace (levels.velocity_slope: the interval reaches zero).
    j = judge(facts(zone="C", lead_time_days=10.0, zone_d=None, **NO_FIGURE))
    assert (j.action, j.window) == (PLAN, WEEKLY[1]) and "zone D" not in j.action_text


def test_zone_d_pace_and_a_risk_date_stop_by_the_earlier() -> None:
    # A P10 risk in 20 days and zone D in 4: stop by zone D.
    pace = Pace("D", 7.1, 96.0, NOW + 4 * DAY, "2027-01-18")
    j = judge(facts(zone="C", p10_ts=NOW + 20 * DAY, zone_d=pace))
    assert (j.action, j.need_by_ts) == (UNPLANNED, NOW + 4 * DAY)
    # A P10 risk in 3 days (no stop left before it) and zone D in 6: stop by the risk date.
    pace = Pace("D", 7.1, 144.0, NOW + 6 * DAY, "2027-01-20")
    j = judge(facts(zone="C", p10_ts=NOW + 3 * DAY, zone_d=pace, windows=()))
    assert (j.action, j.need_by_ts) == (UNPLANNED, NOW + 3 * DAY)
    assert "in about 140 running hours" in j.action_text  # two figures past 100


def test_zone_d_stops_now_whatever_the_pace() -> None:
    pace = Pace("D", 7.1, 5.0, NOW + 5 * H, "2027-01-14")
    j = judge(facts(zone="D", zone_d=pace))
    assert (j.action, j.need_by_ts) == (STOP_NOW, NOW)


def test_a_degrading_forecast_names_the_evidence_it_comes_from() -> None:
    """Level matching answers from the level the part has reached, not from a trend it
    extrapolates; the fallback extrapolates to an assumed end-of-life level and says so."""
    match = status_text("degrading", 500, 15, "3 completed lives", False,
                        method="trend_match+fleet_prior")  # fmt: skip
    assert "failed parts of the fleet ran once their vibration reached this level" in match
    assert match.endswith("and 3 completed lives.") and "rising" not in match
    exp = status_text("degrading", 500, 15, "", False, method="trend_exp", fail_ratio=5.0)
    assert "extrapolating that rise" in exp and "(5x its quiet level, an assumption" in exp


def test_zone_d_at_the_current_pace_before_the_risk_date_hides_the_forecast() -> None:
    # Rule 2b: a rated-life P10 two years out while zone D comes in 700 running hours.
    pace = Pace("D", 7.1, 700.0, NOW + 29 * DAY, "2027-02-12")
    far = facts(zone="C", status="healthy_no_trend", p10_h=9000.0, p10_ts=NOW + 700 * DAY,
                p50_ts=NOW + 1000 * DAY, p90_ts=NOW + 1500 * DAY, zone_d=pace)  # fmt: skip
    j = judge(far)
    assert (j.p10_ts, j.p50_ts, j.p90_ts, j.hours_shown) == (None, None, None, (False,) * 3)
    assert j.life_text == "zone D comes first at the current pace, around 2027-02-12"
    # A risk date before zone D is the earlier answer and stays.
    near = judge(dataclasses.replace(far, p10_ts=NOW + 20 * DAY, p50_ts=NOW + 25 * DAY))
    assert near.p10_ts == NOW + 20 * DAY and near.hours_shown[0]
    # Without a pace, or in zone B, the forecast is shown as before.
    assert judge(dataclasses.replace(far, zone_d=None)).life_text == "risk within the horizon"
    assert judge(dataclasses.replace(far, zone="B")).p10_ts == NOW + 700 * DAY


def test_no_wear_trend_says_what_was_measured_not_that_vibration_is_steady() -> None:
    text = status_text("healthy_no_trend", 500, 15, "the part's rated life", False)
    assert text.startswith("No bearing wear trend: vibration under 1.6x its own quiet level")
    assert "steady" not in text
