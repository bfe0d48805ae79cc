"""Proposals on both backends: the store's rows and steps, and the lifecycle rules (frozen after
send, a new outlook makes a revision, accepting reserves the parts, declining keeps the risk
and releases nothing it did not hold, expiry, follow-up when the risk grows, done consumes)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.proposal_text import duration
from gateway.proposals import ProposalError, Proposals
from gateway.store.api import (
    Asset,
    CatalogPart,
    CustomerTerms,
    MaintenanceWindow,
    Outlook,
    Part,
    Proposal,
    Site,
    Store,
)

DAY = 86400.0
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC).timestamp()  # a Wednesday
BEARING = CatalogPart("6205-2RS", "deep groove ball bearing", 18.5, "EUR", 14.0, 1.5)


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def outlook(window: MaintenanceWindow | None, **kw: Any) -> Outlook:
    base: dict[str, Any] = dict(
        asset_id="spindle-2", computed_at=NOW, zone="B", level_mm_s=2.1, level_n=40,
        level_ts=NOW, trend="rising", trend_pct_week=4.0, status="degrading",
        method="trend_match+fleet_prior", status_text="Wear trend: vibration rising.",
        health_index=0.6, rul_p10_h=400.0, rul_p50_h=600.0, rul_p90_h=900.0,
        p10_ts=NOW + 16 * DAY, p50_ts=NOW + 21 * DAY, p90_ts=NOW + 35 * DAY,
        beyond_horizon=False, life_text="risk within the horizon", hours_per_week=120.0,
        action="plan", reason="forecast", fault="bearing wear (vibration rising over the running"
        " hours)", part_id="de-bearing", part_number="6205-2RS", lead_time_days=14.0,
        need_by_ts=None if window is None else window.start, order_by_ts=None,
        window_id=None if window is None else window.window_id,
        window_start=None if window is None else window.start,
        window_end=None if window is None else window.end,
        action_text="Replace 6205-2RS at the last planned stop before the risk date.",
        parts_needed=(("6205-2RS", 1),),
    )  # fmt: skip
    base.update(kw)
    return Outlook(**base)


@pytest.fixture
def world(store: Store) -> dict[str, Any]:
    store.set_site(Site("Osaka Works", "Asia/Tokyo"))
    store.upsert_asset(
        Asset("spindle-2", "Osaka Works", "Line 1", description="spindle 2",
              parts=(Part("de-bearing", "drive-end bearing", "6205-2RS"),))
    )  # fmt: skip
    wid = store.add_window(MaintenanceWindow("Osaka Works", NOW + 7 * DAY, NOW + 7 * DAY + 8 * 3600,
                                             "line stop"))  # fmt: skip
    w = next(x for x in store.windows() if x.window_id == wid)
    store.put_catalog_part(BEARING)
    store.set_stock("6205-2RS", "main", 2, "anna", at=NOW)
    store.put_terms(CustomerTerms("", "EUR", 80.0, 1200.0, NOW, "admin"))
    store.write_outlooks([outlook(w)])
    clock = Clock(NOW)
    return {"store": store, "window": w, "clock": clock, "svc": Proposals(store, clock)}


def test_terms_refused_and_replaced(store: Store) -> None:
    store.put_terms(CustomerTerms("acme", "EUR", 80.0, 1500.0, 1.0, "admin"))
    store.put_terms(CustomerTerms("acme", "JPY", 9000.0, 200000.0, 2.0, "boss"))
    assert store.customer_terms("acme") == CustomerTerms(
        "acme", "JPY", 9000.0, 200000.0, 2.0, "boss"
    )
    for bad, words in [(("euro", 1.0, 1.0), "currency"), (("EUR", -1.0, 1.0), "labour"),
                       (("EUR", 1.0, float("nan")), "downtime")]:  # fmt: skip
        with pytest.raises(ValueError, match=words):
            store.put_terms(CustomerTerms("acme", *bad))
    assert [t.customer for t in store.all_terms()] == ["acme"]
    assert store.customer_terms("nobody") is None


def test_store_steps_are_atomic_and_checked(store: Store) -> None:
    p = Proposal("", "a1", "S", "acme", 1, "draft", "plan", 10.0, "ken", 10.0, {"x": 1})
    new = store.add_proposal(p, outbox={"k": 1})
    assert new.proposal_id.startswith("P-") and new.state == "draft" and new.content == {"x": 1}
    assert store.update_draft(dataclasses.replace(new, content={"x": 2}, updated_at=11.0))
    sent = store.step_proposal(new.proposal_id, "send", "ken", 12.0, expires_at=99.0, outbox={})
    assert (sent.state, sent.sent_at, sent.expires_at) == ("sent", 12.0, 99.0)
    # frozen: a draft rewrite no longer applies
    assert not store.update_draft(dataclasses.replace(sent, content={"x": 3}))
    assert store.proposal(new.proposal_id).content == {"x": 2}  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="is sent: it cannot be done"):
        store.step_proposal(new.proposal_id, "done", "ken", 13.0)
    with pytest.raises(KeyError):
        store.step_proposal("P-999", "send", "ken", 13.0)
    # accepting with a part the books refuse rolls the whole step back
    with pytest.raises(ValueError, match="unknown part"):
        store.step_proposal(new.proposal_id, "accept", "cust", 14.0, reserve=[("NOPE", 1)])
    assert store.proposal(new.proposal_id).state == "sent"  # type: ignore[union-attr]
    steps = [(e.state, e.by) for e in store.proposal_events(new.proposal_id)]
    assert steps == [("draft", "ken"), ("sent", "ken")]
    kinds = [e.kind for e in store.outbox_after(0)]
    assert kinds == ["proposal.draft", "proposal.sent"]  # the refused accept wrote none
    assert store.set_followup(new.proposal_id, "risk grew", 15.0, outbox={})
    assert not store.set_followup(new.proposal_id, "risk grew", 16.0)
    assert store.proposals(states=["sent"])[0].followup == "risk grew"
    assert store.proposals(asset_id="other") == [] and store.proposals(states=[]) == []


def test_outbox_marks(store: Store) -> None:
    a = store.add_outbox("kpi.weekly", {"n": 1}, 5.0)
    b = store.add_outbox("proposal.sent", {"n": 2}, 6.0)
    assert [e.event_id for e in store.outbox_after(a)] == [b] and store.last_outbox_id() == b
    assert store.outbox_mark("crm") is None
    from gateway.store.api import OutboxMark

    store.set_outbox_mark(OutboxMark("crm", a, 2, 9.0, "HTTP 500", 1, 0, 8.0))
    assert store.outbox_mark("crm") == OutboxMark("crm", a, 2, 9.0, "HTTP 500", 1, 0, 8.0)
    with pytest.raises(ValueError):
        store.add_outbox("", {}, 1.0)


def test_draft_is_written_from_the_outlook(world: dict[str, Any]) -> None:
    svc: Proposals = world["svc"]
    p = svc.make("spindle-2", "ken")
    c = p.content
    assert c["question"] == (
        "At the current pace, the drive-end bearing of spindle 2 reaches the end of its life in"
        " about three weeks. Shall we replace it at the planned stop (line stop) on Wednesday"
        " 9 December 2026?"
    )
    assert "Risk date (P10) Friday 18 December 2026" in c["risk"]["text"]  # Tokyo's calendar
    assert "9 in 10 by Wednesday 6 January 2027 (P90)" in c["risk"]["text"]
    part, labour = c["lines"]
    assert (part["part_number"], part["qty"], part["amount"]) == ("6205-2RS", 1, 18.5)
    assert (labour["hours"], labour["rate"], labour["amount"]) == (1.5, 80.0, 120.0)
    assert c["totals"]["total"] == 138.5 and c["totals"]["currency"] == "EUR"
    # in stock: an unplanned failure costs the repair time only
    assert c["downtime"]["hours"] == 1.5 and c["downtime"]["amount"] == 1800.0
    assert p.risk_ts == NOW + 16 * DAY and p.window_id == world["window"].window_id


def test_not_enough_evidence_and_unpriced(world: dict[str, Any]) -> None:
    store: Store = world["store"]
    w = world["window"]
    store.write_outlooks([outlook(w, p10_ts=None, p50_ts=None, p90_ts=None, zone="C",
                                  reason="zone_C", life_text="unknown")])  # fmt: skip
    store.set_stock("6205-2RS", "main", 0, "anna", at=NOW)
    store.put_terms(CustomerTerms("", "JPY", 9000.0, 100000.0))
    c = world["svc"].make("spindle-2", "ken").content
    assert c["risk"]["text"].startswith("Not enough evidence for a risk date")
    assert c["question"].startswith("The vibration of spindle 2 is in zone C")
    # the part's price is in EUR, the labour in JPY: no total is made up
    assert c["totals"]["total"] is None and "several currencies" in c["totals"]["incomplete"][0]
    # not in stock: the wait for it counts, in the machine's running hours (14 d x 120/7 h)
    assert c["downtime"]["hours"] == round(1.5 + 14 * 120 / 7, 1)
    store.write_outlooks([outlook(w, hours_per_week=None)])
    assert world["svc"].make("spindle-2", "ken").content["downtime"]["hours"] is None


def test_nothing_to_propose(world: dict[str, Any]) -> None:
    world["store"].write_outlooks([outlook(None, action="watch", parts_needed=())])
    with pytest.raises(ProposalError, match="asks for no work"):
        world["svc"].make("spindle-2", "ken")
    with pytest.raises(KeyError):
        world["svc"].make("nope", "ken")


def test_lifecycle_send_accept_done(world: dict[str, Any]) -> None:
    store: Store = world["store"]
    svc: Proposals = world["svc"]
    p = svc.make("spindle-2", "ken")
    assert svc.make("spindle-2", "ken").proposal_id == p.proposal_id  # the draft rewritten
    sent = svc.send(p.proposal_id, "ken")
    assert sent.expires_at == world["window"].start  # the stop comes before 14 days
    frozen = sent.content
    # a newer outlook never rewrites a sent proposal
    store.write_outlooks([outlook(world["window"], p10_ts=NOW + 12 * DAY)])
    assert store.proposal(p.proposal_id).content == frozen  # type: ignore[union-attr]
    with pytest.raises(ProposalError, match="only a draft"):
        svc.send(p.proposal_id, "ken")
    world["clock"].t += DAY
    acc = svc.accept(p.proposal_id, "acme-user")
    assert acc.state == "accepted"
    held = store.reservations(p.proposal_id)
    assert [(r.part_number, r.qty, r.state, r.need_by) for r in held] == [
        ("6205-2RS", 1, "reserved", world["window"].start)
    ]
    with pytest.raises(ProposalError, match="is accepted"):
        svc.decline(p.proposal_id, "acme-user")
    with pytest.raises(ProposalError, match="mark it done"):
        svc.make("spindle-2", "ken")
    world["clock"].t = world["window"].end
    done = svc.done(p.proposal_id, "ken")
    assert done.state == "done"
    assert [r.state for r in store.reservations(p.proposal_id)] == ["consumed"]
    assert store.stock("6205-2RS")[0].on_hand == 1
    entry = store.service_log("spindle-2")[-1]
    assert (entry.kind, entry.part_id, entry.acted_on_warning) == (
        "replacement",
        "de-bearing",
        True,
    )
    assert entry.downtime_avoided_h == 0.0  # no warning on record: the ledger's bound is 0
    steps = [(e.state, e.by) for e in store.proposal_events(p.proposal_id)]
    assert steps == [("draft", "ken"), ("sent", "ken"), ("accepted", "acme-user"),
                     ("done", "ken")]  # fmt: skip
    kinds = [e.kind for e in store.outbox_after(0)]
    assert kinds == ["proposal.draft", "proposal.sent", "proposal.accepted", "proposal.done"]


def test_revision_supersedes_and_expires_the_old(world: dict[str, Any]) -> None:
    store: Store = world["store"]
    svc: Proposals = world["svc"]
    first = svc.send(svc.make("spindle-2", "ken").proposal_id, "ken")
    store.write_outlooks([outlook(world["window"], p10_ts=NOW + 10 * DAY)])
    second = svc.make("spindle-2", "ken")
    assert (second.revision, second.supersedes) == (2, first.proposal_id)
    assert second.risk_ts == NOW + 10 * DAY
    svc.send(second.proposal_id, "ken")
    old = store.proposal(first.proposal_id)
    assert old is not None and old.state == "expired"
    assert (
        store.proposal_events(first.proposal_id)[-1].note == f"superseded by {second.proposal_id}"
    )
    with pytest.raises(ProposalError, match="is expired"):
        svc.accept(first.proposal_id, "acme-user")
    # a revision drafted while its predecessor is still open is not sent once that is accepted
    store.write_outlooks([outlook(world["window"], p10_ts=NOW + 8 * DAY)])
    third = svc.make("spindle-2", "ken")
    svc.accept(second.proposal_id, "acme-user")
    with pytest.raises(ProposalError, match="was accepted meanwhile"):
        svc.send(third.proposal_id, "ken")


def test_decline_keeps_the_risk_and_growth_flags_a_followup(world: dict[str, Any]) -> None:
    store: Store = world["store"]
    svc: Proposals = world["svc"]
    p = svc.send(svc.make("spindle-2", "ken").proposal_id, "ken")
    d = svc.decline(p.proposal_id, "acme-user", "budget")
    assert d.state == "declined" and store.reservations(p.proposal_id) == []
    assert store.outlooks(["spindle-2"])[0].action == "plan"  # the risk is still there
    assert svc.sweep() == (0, 0)  # same risk: nothing to follow up
    store.write_outlooks([outlook(world["window"], p10_ts=NOW + 9 * DAY, zone="C")])
    assert svc.sweep() == (0, 1)
    flag = store.proposal(p.proposal_id).followup  # type: ignore[union-attr]
    assert "risk date moved earlier (2026-12-18 -> 2026-12-11)" in flag and "zone worse" in flag
    assert svc.sweep() == (0, 0)  # flagged once
    assert store.outbox_after(0)[-1].kind == "proposal.followup"


def test_expiry_by_the_sweep(world: dict[str, Any]) -> None:
    store: Store = world["store"]
    svc: Proposals = world["svc"]
    p = svc.send(svc.make("spindle-2", "ken").proposal_id, "ken")
    world["clock"].t = world["window"].start - 1
    assert svc.sweep() == (0, 0)
    world["clock"].t = world["window"].start
    with pytest.raises(ProposalError, match="expired"):
        svc.accept(p.proposal_id, "acme-user")
    assert svc.sweep() == (1, 0)
    e = store.proposal_events(p.proposal_id)[-1]
    assert (e.state, e.by, e.note) == ("expired", "kizashi", "its planned stop began")


def test_durations_in_words() -> None:
    assert duration(21 * DAY) == "about three weeks"
    assert duration(3 * DAY) == "about three days"
    assert duration(0.2 * DAY) == "less than a day"
    assert duration(100 * DAY) == "about three months"


def test_question_in_each_case() -> None:
    from gateway.proposal_text import Inputs, question

    a = Asset("spindle-2", "Osaka Works", "Line 1", description="spindle 2",
              parts=(Part("de-bearing", "Drive-end bearing", "6205-2RS"),))  # fmt: skip
    w = MaintenanceWindow("Osaka Works", NOW + 7 * DAY, NOW + 7 * DAY + 3600, "", 1)

    def ask(o: Outlook, window: MaintenanceWindow | None = w) -> str:
        return question(Inputs(outlook=o, asset=a, tz="Asia/Tokyo", now=NOW, window=window))

    zone_c = ask(outlook(w, zone="C", level_mm_s=4.94))
    assert zone_c == (
        "The vibration of spindle 2 is in zone C: unsatisfactory for long-term running"
        " (4.9 mm/s). At the current pace, its drive-end bearing reaches the end of its life in"
        " about three weeks. Shall we replace it at the planned stop on Wednesday 9 December 2026?"
    )
    zone_d = ask(outlook(None, zone="D", action="stop_now"), None)
    assert zone_d.endswith("Shall we stop spindle 2 now and replace the drive-end bearing?")
    assert "end of its life" not in zone_d  # zone D: no wear forecast is quoted
    balance = ask(outlook(w, zone="C", parts_needed=(), fault="high vibration without bearing"
                          " signs: check balance, alignment and mounting first"))  # fmt: skip
    assert "Shall we check the balance, alignment and mounting of spindle 2 at" in balance
    none = ask(outlook(None, p10_ts=None, p50_ts=None, p90_ts=None, action="unplanned_stop",
                       need_by_ts=NOW + 3 * DAY), None)  # fmt: skip
    assert none == (
        "Not enough evidence yet for a date when the drive-end bearing of spindle 2 reaches the"
        " end of its life. Shall we arrange a stop to replace it by Saturday 5 December 2026?"
    )
