"""The demo's service story (issue 18 item 7): customers, a customer's user, and one finished
proactive job in the seeded past, so the Proposals, Parts, Ledger and KPI pages have figures
on first start while the live fleet shows the next warning waiting for its proposal.

- **Customers**: each demo site is tagged with a customer the way a fleet server's config tags
  its site gateways (`Store.set_origin` + `Store.claim_site`; docs/FLEET.md "Tenancy"), so a
  customer's user sees only its own sites on the demo's page too.
- **A customer's user**: `naniwa` of Naniwa Press (the Osaka site), a viewer who can accept or
  decline its proposals; its password is printed once like the admin's (or taken from
  KIZASHI_CUSTOMER_PASSWORD).
- **The past job** on Servo press 1 (OSK-PRS-01): its drive-end bearing wore during the seeded
  weeks (kizashi/demo_history.py: `DemoNode.replaced_days`), Kizashi warned
  (`baseline_change`, when the seeded vibration had risen 35 %), the outlook of that
  day planned the bearing at a line stop, the service engineer (`admin`) made and sent the
  proposal, `naniwa` accepted it (the bearing reserved from Osaka stores), and the job was done
  at the stop: the reservation consumed, the replacement in the service log acting on the
  warning, its downtime avoided bounded by the time from warning to repair. Every step goes
  through gateway/proposals.py with the clock set to its day; only the warning event and the
  outlook of that day are written directly (the seeded past has no live monitor or engine), and
  that outlook is removed once the job is done (the live engine writes the current one).
- **An inspection** on Raw water pump B (KOB-PMP-02, imbalance, zone C in the seeded data):
  a warning and an inspection that confirmed it.

The live engine's first outlook replaces the seeded one; the live fleet's wearing press 2
(OSK-PRS-02) is the next story: a warning, a plan, a proposal to make.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from datetime import datetime

from gateway.proposals import Proposals
from gateway.sitetime import zone
from gateway.store.api import (
    CustomerTerms,
    EventRecord,
    MaintenanceWindow,
    Outlook,
    ServiceEntry,
    Store,
    User,
    WriteBatch,
)
from gateway.store.sql import SqlStore

DAY = 86400.0
DEMO_CUSTOMERS = {
    "Osaka Press Shop": "Naniwa Press",
    "Stuttgart Assembly": "Neckar Zerspanung",
    "Kobe Water Works": "Kobe City Water",
}
# (currency, labour rate per hour, cost of an hour of downtime): written for the demo
DEMO_TERMS = {
    "Naniwa Press": ("EUR", 85.0, 1800.0),
    "Neckar Zerspanung": ("EUR", 95.0, 2600.0),
    "Kobe City Water": ("EUR", 70.0, 900.0),
}
CUSTOMER_USER = "naniwa"  # a user of Naniwa Press
ENGINEER = "admin"
STORY_ASSET, STORY_NODE, STORY_PART = "OSK-PRS-01", "kz001", "6312-2Z/C3"
INSPECTED_ASSET, INSPECTED_NODE = "KOB-PMP-02", "kz010"
# Days before the live nodes start (`origin`): the wear began, Kizashi warned, the stop.
WEAR_FROM_DAYS, WARNED_DAYS, REPLACED_DAYS = 19.0, 13.0, 8.0


def tag_customers(store: Store) -> None:
    """Each demo site's customer (first start; a site already claimed is left as it is)."""
    for site, customer in DEMO_CUSTOMERS.items():
        origin = f"demo:{site}"
        if isinstance(store, SqlStore):  # every store open_store makes
            store.set_origin(origin, customer)
            store.claim_site(site, origin)
        if store.customer_terms(customer) is None:
            currency, rate, downtime = DEMO_TERMS[customer]
            store.put_terms(CustomerTerms(customer, currency, rate, downtime, 0.0, "demo"))


def ensure_customer_user(store: Store) -> str | None:
    """Creates `naniwa` (Naniwa Press) on first start; returns the password when generated.
    KIZASHI_CUSTOMER_PASSWORD sets its password, new or existing."""
    from fleet_web.auth import hash_password, verify_password

    wanted = os.environ.get("KIZASHI_CUSTOMER_PASSWORD")
    existing = store.user(CUSTOMER_USER)
    customer = DEMO_CUSTOMERS["Osaka Press Shop"]
    if existing is None:
        password = wanted or secrets.token_urlsafe(12)
        store.upsert_user(User(CUSTOMER_USER, hash_password(password), "viewer", customer=customer))
        return None if wanted else password
    if wanted and not verify_password(existing.password_hash, wanted):
        store.upsert_user(dataclasses.replace(existing, password_hash=hash_password(wanted)))
    return None


def _stop(origin: float, tz: str) -> MaintenanceWindow:
    """The line stop the past job was done at: 08:00-16:00 local, REPLACED_DAYS before."""
    d = datetime.fromtimestamp(origin - REPLACED_DAYS * DAY, zone(tz)).date()
    start = datetime(d.year, d.month, d.day, 8, tzinfo=zone(tz)).timestamp()
    return MaintenanceWindow("Osaka Press Shop", start, start + 8 * 3600, "line stop")


def _outlook_then(at: float, w: MaintenanceWindow) -> Outlook:
    """What the outlook said on the warning's day: bearing wear, plan the bearing at the stop
    before the risk date (the seeded wear reaches zone C about a week after the stop)."""
    return Outlook(
        asset_id=STORY_ASSET, computed_at=at, zone="B", level_mm_s=2.0, level_n=144,
        level_ts=at, trend="rising", trend_pct_week=18.0, status="degrading",
        method="trend_match+fleet_prior",
        status_text="Wear trend: vibration rising 18 % a week since the warning.",
        health_index=0.55, rul_p10_h=260.0, rul_p50_h=420.0, rul_p90_h=700.0,
        p10_ts=w.start + 5 * DAY, p50_ts=w.start + 12 * DAY, p90_ts=w.start + 24 * DAY,
        beyond_horizon=False, life_text="risk within the horizon", hours_per_week=160.0,
        action="plan", reason="forecast",
        fault="bearing wear (vibration rising over the running hours)",
        part_id="bearing-de", part_number=STORY_PART, lead_time_days=14.0,
        need_by_ts=w.start, order_by_ts=w.start - 14 * DAY, window_id=w.window_id,
        window_start=w.start, window_end=w.end,
        action_text=f"Replace {STORY_PART} at the line stop before the risk date.",
        parts_needed=((STORY_PART, 1),),
    )  # fmt: skip


class _Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def seed_story(store: Store, origin: float) -> str:
    """The past job and inspection (fresh demo only). Returns the proposal's id."""
    tz = next((s.tz for s in store.sites() if s.name == "Osaka Press Shop"), "UTC")
    wid = store.add_window(_stop(origin, tz))
    w = next(x for x in store.windows() if x.window_id == wid)
    warned = origin - WARNED_DAYS * DAY
    store.write_batch(
        WriteBatch(events=[
            EventRecord(warned, STORY_NODE, "baseline_change",
                        {"reason": "velocity RMS 1.35x its learned baseline", "channel": "vel_rms",
                         "ratio": 1.35}, source="gateway"),
            EventRecord(origin - 6 * DAY, INSPECTED_NODE, "alarm_alert",
                        {"zone": "C"}, source="gateway"),
        ])
    )  # fmt: skip
    store.write_outlooks([_outlook_then(warned + 3600, w)])
    clock = _Clock(warned + 20 * 3600)
    svc = Proposals(store, clock)
    p = svc.make(STORY_ASSET, ENGINEER)
    clock.t += 3600
    svc.send(p.proposal_id, ENGINEER)
    clock.t += 1.5 * DAY
    svc.accept(p.proposal_id, CUSTOMER_USER, "Yes, at the line stop.")
    clock.t = w.end
    svc.done(p.proposal_id, ENGINEER)
    store.delete_outlooks([STORY_ASSET])  # that day's judgement is history: the engine's is next
    day = datetime.fromtimestamp(origin - 5 * DAY, zone("Asia/Tokyo")).date().isoformat()
    store.add_service_entry(
        ServiceEntry(INSPECTED_ASSET, day, "inspection",
                     finding="defect: impeller fouled, imbalance; clean and balance at the"
                     " next stop", by=ENGINEER, acted_on_warning=True)
    )  # fmt: skip
    return p.proposal_id
