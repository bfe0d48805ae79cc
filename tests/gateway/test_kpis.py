"""KPIs on constructed records with known answers (gateway/kpis.py)."""

from __future__ import annotations

import pytest

from gateway.kpis import (
    AssetInfo,
    KpiInputs,
    OpenRisk,
    ProposalRecord,
    customer_kpis,
    day_ts,
    episodes,
    missed_failures,
    month,
    months,
    period_kpis,
    report,
)
from gateway.store.api import ServiceEntry

H = 3600.0
NOV = month("2026-11")


def at(date: str, hour: float = 0.0) -> float:
    return day_ts(date) + hour * H


def test_months_are_calendar_months_oldest_first() -> None:
    ps = months(at("2026-12-02"), 3)
    assert [p.label for p in ps] == ["2026-10", "2026-11", "2026-12"]
    assert NOV.end - NOV.start == 30 * 86400
    with pytest.raises(ValueError, match="YYYY-MM"):
        month("November")


def test_repeated_alarms_are_one_episode_until_the_part_is_replaced() -> None:
    warnings = [at("2026-11-02", 5), at("2026-11-02", 6), at("2026-11-04")]
    entries = [ServiceEntry("m", "2026-11-10", "replacement", finding="outer race worn")]
    eps = episodes("m", [*warnings, at("2026-11-20")], entries)
    assert [(e.ts, e.verdict) for e in eps] == [
        (at("2026-11-02", 5), "confirmed"),
        (at("2026-11-20"), None),
    ]
    assert eps[0].acted_at == at("2026-11-10")  # the replacement was the action: 7.8 days


def test_a_false_warning_closes_its_episode_and_a_proposal_is_an_action() -> None:
    warnings = [at("2026-11-02", 12), at("2026-11-03"), at("2026-11-08")]
    entries = [ServiceEntry("m", "2026-11-05", "inspection", finding="no defect found")]
    eps = episodes("m", warnings, entries, sent=[at("2026-11-02", 18)])
    assert [(e.verdict, e.acted_at) for e in eps] == [
        ("false", at("2026-11-02", 18)),
        (None, None),
    ]


def test_missed_failure_is_a_failure_with_no_standing_warning_in_its_life() -> None:
    entries = [
        ServiceEntry("m", "2026-11-01", "failure"),  # no warning before: missed
        ServiceEntry("m", "2026-11-10", "inspection", finding="no defect"),
        ServiceEntry("m", "2026-11-20", "failure"),  # its only warning was found false: missed
        ServiceEntry("m", "2026-11-28", "failure"),  # warned the same morning: not missed
    ]
    warnings = [at("2026-11-02"), at("2026-11-09"), at("2026-11-28", 3)]
    missed = missed_failures("m", warnings, entries)
    assert [e.date for e in missed] == ["2026-11-01", "2026-11-20"]


def fleet() -> KpiInputs:
    assets = [AssetInfo(f"a{i}", "s1", "acme") for i in range(6)] + [AssetInfo("b0", "s2", "beta")]
    warnings = {f"a{i}": [at("2026-11-01", 1 + i)] for i in range(6)}
    warnings["b0"] = [at("2026-10-20")]
    service = [
        ServiceEntry("a0", "2026-11-03", "inspection", finding="defect: spall"),
        ServiceEntry("a1", "2026-11-04", "replacement", acted_on_warning=True,
                     downtime_avoided_h=48.0, finding="Done as proposed in P-7."),
        ServiceEntry("a2", "2026-11-05", "inspection", finding="no defect"),
        ServiceEntry("a3", "2026-11-06", "replacement", finding="bearing worn",
                     acted_on_warning=True, downtime_avoided_h=900.0, entry_id=9),
        ServiceEntry("a4", "2026-11-07", "inspection", finding="no defect"),
        ServiceEntry("b0", "2026-11-02", "failure"),
        ServiceEntry("b0", "2026-11-12", "failure"),
    ]  # fmt: skip
    props = [
        ProposalRecord("P-7", "a1", "acme", "done", sent_at=at("2026-11-01", 8),
                       accepted_at=at("2026-11-02"), done_at=at("2026-11-04", 10),
                       total=1200.0, currency="EUR", downtime_h=48.0),
        ProposalRecord("P-8", "a5", "acme", "declined", sent_at=at("2026-11-02"),
                       declined_at=at("2026-11-03")),
        ProposalRecord("P-9", "a0", "acme", "accepted", sent_at=at("2026-11-03"),
                       accepted_at=at("2026-11-04"), total=800.0, currency="EUR",
                       downtime_h=500.0, window_start=at("2026-11-06")),
    ]  # fmt: skip
    running = {"b0": {"2026-11": 600.0}, "a0": {"2026-11": 100.0}}
    risk = [OpenRisk("a5", "plan", at("2026-12-20")), OpenRisk("a2", "stop_now", None)]
    return KpiInputs(assets, warnings, service, props, running, risk)


def test_period_figures_with_known_answers() -> None:
    k = period_kpis(fleet(), NOV, "acme")
    assert k["warnings"]["value"] == 6
    # a0 defect, a1 and a3 replaced worn: 3 confirmed; a2, a4 false; a5 not judged
    assert (k["confirmed"], k["found_false"], k["not_judged"]) == (3, 2, 1)
    assert k["precision"]["value"] == pytest.approx(0.6)
    # actions: a0 proposal 2 days... lead times in days from each warning
    assert k["lead_time_days"]["n"] == 6
    assert k["proposals_sent"] == 3 and k["proposals_accepted"] == 2
    assert k["acceptance_rate"]["value"] == pytest.approx(2 / 3)
    assert k["revenue_proactive"]["amounts"] == {"EUR": 1200.0}
    assert k["revenue_reactive"]["value"] == "0" and k["revenue_reactive"]["n"] == 0  # no failure
    lines = {x["asset_id"]: x for x in k["downtime_entries"]}
    assert lines["a1"]["proposal_id"] == "P-7" and lines["a1"]["counted_h"] == 48.0
    # a3: warned 2026-11-01 04:00, repair day ends 2026-11-07 00:00: 140 h bound, not 900
    # it counts nothing until an admin corrects it (the ledger page's total does the same)
    assert lines["a3"]["bound_h"] == 140.0 and lines["a3"]["over_bound"]
    assert (lines["a3"]["counted_h"], lines["a3"]["proposal_id"]) == (0.0, "")
    assert k["downtime_avoided_h"] == 48.0 and k["downtime_over_bound"] == 1
    # P-9 accepted, window 2026-11-06 00:00, warning 2026-11-01 01:00: bound 119 h, not 500
    assert k["downtime_booked"][0]["counted_h"] == 119.0


def test_too_few_events_say_not_enough_evidence_and_how_few() -> None:
    k = period_kpis(fleet(), NOV, "beta")
    assert k["precision"]["value"] is None
    assert k["precision"]["why"] == "not enough evidence: 0 judged warnings, 5 needed"
    assert k["missed_failures"]["value"] == 1  # the first failure; its life had no warning
    assert k["acceptance_rate"]["why"].startswith("not enough evidence: 0 answered")
    assert k["lead_time_days"]["value"] is None
    # two failures, neither with its repair cost: not recorded, and how many lack it
    assert k["revenue_reactive"]["value"] is None
    assert k["revenue_reactive"]["why"] == "not recorded: 2 failures without a repair cost"


def test_customer_figures() -> None:
    inp = fleet()
    beta = customer_kpis(inp, [NOV], "beta")
    assert beta["mtbf_h"]["value"] == 300.0  # 600 running h, 2 failures
    acme = customer_kpis(inp, [month("2026-10"), NOV], "acme")
    assert acme["mtbf_h"]["value"] is None
    assert acme["mtbf_h"]["why"] == "not enough evidence: 0 failures in 100 running h, 2 needed"
    assert [m["amounts"] for m in acme["service_revenue"]] == [{}, {"EUR": 1200.0}]
    assert [r["asset_id"] for r in acme["open_risk"]] == ["a5", "a2"]
    assert acme["availability"]["value"] == 1.0  # no failure in November
    assert beta["availability"]["value"] is None
    assert beta["availability"]["why"] == (
        "not enough evidence: none of the 2 failures in the period recorded its stop hours"
    )
    full = report(inp, [NOV])
    assert [c["customer"] for c in full["customers"]] == ["acme", "beta"]
    assert full["fleet"][0]["warnings"]["value"] == 6  # b0's warning was in October


def gamma(c1_stop: float | None = 12.0) -> KpiInputs:
    """Two machines of customer gamma (terms in JPY), November: one failure with its stop
    hours and invoice, one with stop hours only, one in October, one planned replacement."""
    assets = [AssetInfo("c0", "s3", "gamma"), AssetInfo("c1", "s3", "gamma")]
    service = [
        ServiceEntry("c0", "2026-11-03", "failure", stop_h=36.0, repair_cost=2500.0),
        ServiceEntry("c1", "2026-11-20", "failure", stop_h=c1_stop),  # not invoiced yet
        ServiceEntry("c1", "2026-10-30", "failure", stop_h=500.0, repair_cost=9999.0),  # October
        ServiceEntry("c0", "2026-11-10", "replacement", stop_h=8.0, repair_cost=900.0),  # planned
    ]
    done = ProposalRecord("P-3", "c0", "gamma", "done", sent_at=at("2026-11-02"),
                          done_at=at("2026-11-10", 9), total=900.0, currency="JPY")  # fmt: skip
    return KpiInputs(assets, {}, service, [done], currency={"gamma": "JPY"})


def test_availability_from_failure_stop_hours_with_known_answer() -> None:
    a = customer_kpis(gamma(), [NOV], "gamma")["availability"]
    # November: 720 h x 2 machines = 1440 machine h; failures stopped 36 + 12 = 48 h
    # (October's 500 h and the planned replacement's 8 h are not unplanned stops in November)
    assert a["value"] == pytest.approx(1 - 48 / 1440, abs=1e-5)
    assert (a["n"], a["why"]) == (2, "")
    assert a["text"] == "48.0 h stopped in 1,440 machine h"
    partial = customer_kpis(gamma(c1_stop=None), [NOV], "gamma")["availability"]
    assert partial["value"] == pytest.approx(1 - 36 / 1440, abs=1e-5)
    assert partial["why"] == "1 of 2 failures without stop hours, left out (an upper bound)"


def test_reactive_repairs_beside_proactive_revenue_with_known_answer() -> None:
    k = period_kpis(gamma(), NOV, "gamma")
    assert k["revenue_proactive"]["amounts"] == {"JPY": 900.0}
    r = k["revenue_reactive"]
    assert (r["amounts"], r["value"], r["n"], r["lacking"]) == (
        {"JPY": 2500.0}, "2,500.00 JPY", 2, 1,
    )  # fmt: skip
    assert r["why"] == "1 of 2 failures without a repair cost, left out"
    assert r["text"] == "1 failure costed"
