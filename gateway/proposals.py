"""Proposals: from the outlook's recommended action to the customer's answer and the job done.

`Proposals` is the lifecycle over the store (docs/SERVICE.md "Proposals"):

- `make(asset_id, by)`: a draft from the asset's stored outlook (only an action that asks for
  work: plan, unplanned stop, stop now). An open draft is rewritten; after a sent, declined or
  expired one it is a new revision that supersedes it; never while one is accepted.
- `send(id, by)`: the draft is rendered again from the current outlook and frozen as sent; it
  expires after VALID_DAYS or when its planned stop begins, whichever comes first. Sending a
  revision expires the one it supersedes if that was still waiting for an answer.
- `accept(id, by)`: reserves the parts (Store.reserve_parts, under the proposal's id, dated by
  the window) and books the job into the window, in the step's transaction.
- `decline(id, by, note)`: releases anything held; the risk stays on the asset and planner.
- `done(id, by)`: consumes the reservation; optionally writes the service-log replacement.
- `sweep()`: the periodic work (the gateway's supervised `proposals` task): expires sent
  proposals past their date and flags declined or expired ones whose risk grew.

Every step is one store transaction with its event row and its webhook outbox event.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from gateway.domain import (
    ACTION_RANK,
    PROPOSABLE_ACTIONS,
    ZONE_RANK,
    asset_zone_limits,
)
from gateway.proposal_text import Inputs, chart_points, content, day
from gateway.sitetime import date_at, iso_at
from gateway.store.api import CatalogPart, MaintenanceWindow, Proposal, Store

log = logging.getLogger(__name__)

DAY = 86400.0
VALID_DAYS = 14.0  # a sent proposal waits this long for an answer (or until its stop begins)
CHART_DAYS = 90.0  # the vibration history a proposal shows
SYSTEM = "kizashi"  # who did a step the gateway took by itself (expiry, follow-up)
FOLLOWUP_SLACK_S = DAY  # a risk date earlier by less than this is the same risk


class ProposalError(ValueError):
    """A step that is not allowed now, with the reason in words."""


class Proposals:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    # -- reading ---------------------------------------------------------------------------
    def customer_of(self, site: str) -> str:
        """The site's customer on the fleet server; "" on a site gateway (its own customer)."""
        get = getattr(self.store, "site_customers", None)
        return str(get().get(site, "")) if get is not None else ""

    def _tz(self, site: str) -> str:
        return next((s.tz for s in self.store.sites() if s.name == site), "UTC")

    def _window(self, window_id: int | None, site: str) -> MaintenanceWindow | None:
        if window_id is None:
            return None
        return next((w for w in self.store.windows(site) if w.window_id == window_id), None)

    def _inputs(self, asset_id: str) -> tuple[Inputs, MaintenanceWindow | None]:
        a = self.store.asset(asset_id)
        if a is None:
            raise KeyError(asset_id)
        outs = self.store.outlooks([asset_id])
        if not outs:
            raise ProposalError(f"{asset_id} has no outlook yet: nothing to propose")
        o = outs[0]
        if o.action not in PROPOSABLE_ACTIONS:
            raise ProposalError(
                f"the outlook of {asset_id} asks for no work ({o.action}): nothing to propose"
            )
        now = self.clock()
        window = self._window(o.window_id, a.site)
        catalog: dict[str, CatalogPart | None] = {}
        free: dict[str, int] = {}
        for pn, _ in o.parts_needed:
            catalog[pn] = self.store.catalog_part(pn)
            free[pn] = sum(max(0, s.free) for s in self.store.stock(pn))
        customer = self.customer_of(a.site)
        t, v, _, _ = self.store.hourly_series(asset_id, now - CHART_DAYS * DAY, now)
        inp = Inputs(
            outlook=o, asset=a, tz=self._tz(a.site), now=now, customer=customer, window=window,
            catalog=catalog, free_stock=free, terms=self.store.customer_terms(customer),
            chart=chart_points(t, v, asset_zone_limits(a)),
        )  # fmt: skip
        return inp, window

    def _proposal(self, proposal_id: str) -> Proposal:
        p = self.store.proposal(proposal_id)
        if p is None:
            raise KeyError(proposal_id)
        return p

    def payload(
        self, p: Proposal, state: str, by: str, at: float, note: str = ""
    ) -> dict[str, Any]:
        """The webhook body of a step (docs/SERVICE.md "Webhooks")."""
        c = p.content
        tz = str(c.get("tz") or "UTC")
        totals = c.get("totals") or {}
        down = c.get("downtime") or {}
        return {
            "proposal_id": p.proposal_id, "revision": p.revision, "supersedes": p.supersedes,
            "asset_id": p.asset_id, "site": p.site, "customer": p.customer, "state": state,
            "at": iso_at(at, tz), "by": by, "note": note, "action": p.action,
            "title": c.get("title"), "risk_date": date_at(p.risk_ts, tz),
            "window_start": iso_at(p.window_start, tz),
            "total": totals.get("total"), "currency": totals.get("currency"),
            "downtime_avoided_h": down.get("hours"), "downtime_value": down.get("amount"),
        }  # fmt: skip

    # -- the steps -------------------------------------------------------------------------
    def make(self, asset_id: str, by: str) -> Proposal:
        """A draft from the current outlook: the open draft rewritten, or a new revision."""
        inp, window = self._inputs(asset_id)
        o, a, now = inp.outlook, inp.asset, inp.now
        latest = next(iter(self.store.proposals(asset_id)), None)
        body = content(inp)
        fields: dict[str, Any] = {
            "action": o.action, "window_id": None if window is None else window.window_id,
            "window_start": None if window is None else window.start, "risk_ts": o.p10_ts,
            "zone": o.zone, "content": body, "updated_at": now,
        }  # fmt: skip
        if latest is not None and latest.state == "draft":
            p = dataclasses.replace(latest, **fields)
            if not self.store.update_draft(p):
                raise ProposalError(f"{latest.proposal_id} was sent meanwhile; try again")
            return p
        if latest is not None and latest.state == "accepted":
            raise ProposalError(
                f"{latest.proposal_id} is accepted and its job booked: mark it done before"
                " proposing new work on this machine"
            )
        revision, supersedes = 1, None
        if latest is not None and latest.state in ("sent", "declined", "expired"):
            revision, supersedes = latest.revision + 1, latest.proposal_id
        p = Proposal(
            proposal_id="", asset_id=a.asset_id, site=a.site, customer=inp.customer,
            revision=revision, state="draft", created_at=now, created_by=by,
            supersedes=supersedes, **fields,
        )  # fmt: skip
        new = self.store.add_proposal(p, outbox=self.payload(p, "draft", by, now))
        log.info("proposal drafted", extra={"proposal": new.proposal_id, "asset": asset_id})
        return new

    def send(self, proposal_id: str, by: str) -> Proposal:
        """Render the draft from the current outlook once more and freeze it as sent."""
        p = self._proposal(proposal_id)
        if p.state != "draft":
            raise ProposalError(f"{proposal_id} is {p.state}: only a draft can be sent")
        old = self.store.proposal(p.supersedes) if p.supersedes else None
        if old is not None and old.state in ("accepted", "done"):
            raise ProposalError(
                f"{old.proposal_id}, the revision this one replaces, was {old.state} meanwhile:"
                " this one is not needed"
            )
        fresh = self.make(p.asset_id, by)  # rewrites this draft (it is the newest)
        now = self.clock()
        if fresh.window_start is not None and fresh.window_start <= now:
            raise ProposalError("its planned stop has begun: make a new revision")
        expires = now + VALID_DAYS * DAY
        if fresh.window_start is not None:
            expires = min(expires, fresh.window_start)
        if p.supersedes:
            old = self.store.proposal(p.supersedes)
            if old is not None and old.state == "sent":
                note = f"superseded by {proposal_id}"
                self.store.step_proposal(
                    old.proposal_id, "expire", by, now, note,
                    outbox=self.payload(old, "expired", by, now, note),
                )  # fmt: skip
        return self.store.step_proposal(
            proposal_id, "send", by, now, outbox=self.payload(fresh, "sent", by, now),
            expires_at=expires,
        )  # fmt: skip

    def _answer(self, proposal_id: str, step: str, state: str, by: str, note: str) -> Proposal:
        p = self._proposal(proposal_id)
        now = self.clock()
        if step == "accept" and p.expires_at is not None and now >= p.expires_at:
            raise ProposalError(f"{proposal_id} expired on {self._when(p, p.expires_at)}")
        reserve = None
        if step == "accept":
            reserve = [
                (str(ln["part_number"]), int(ln["qty"]))
                for ln in p.content.get("lines", [])
                if ln.get("kind") == "part"
            ]
        try:
            return self.store.step_proposal(
                proposal_id, step, by, now, note, outbox=self.payload(p, state, by, now, note),
                reserve=reserve,
            )  # fmt: skip
        except ValueError as e:  # the state changed meanwhile, or a part the books refuse
            raise ProposalError(str(e)) from None

    def accept(self, proposal_id: str, by: str, note: str = "") -> Proposal:
        return self._answer(proposal_id, "accept", "accepted", by, note)

    def decline(self, proposal_id: str, by: str, note: str = "") -> Proposal:
        return self._answer(proposal_id, "decline", "declined", by, note)

    def done(self, proposal_id: str, by: str, log_service: bool = True) -> Proposal:
        """The job is done: the reserved pieces leave the shelf; with `log_service` the
        service log gets the replacement (acted on a warning; the downtime avoided bounded
        as every ledger entry is, gateway/service_entry.py)."""
        p = self._proposal(proposal_id)
        now = self.clock()
        out = self._answer(proposal_id, "done", "done", by, "")
        if log_service and p.content.get("lines"):
            try:
                self._log_service(p, by, now)
            except ValueError as e:  # the step stands; say why the entry was not written
                log.warning("service entry for %s not written: %s", proposal_id, e)
        return out

    def _log_service(self, p: Proposal, by: str, now: float) -> None:
        from gateway.service_entry import build_entry, day_end, downtime_bound, first_warning
        from gateway.sitetime import local

        a = self.store.asset(p.asset_id)
        if a is None:
            return
        tz = self._tz(a.site)
        today = local(now, tz).date()
        warned = first_warning(self.store, a, today.isoformat(), tz)
        hours = float((p.content.get("downtime") or {}).get("hours") or 0.0)
        hours = min(hours, downtime_bound(warned, day_end(today.isoformat(), tz)))
        entry = build_entry(
            a, "replacement", today, part=str(p.content.get("asset", {}).get("part_id", "")),
            finding=f"Done as proposed in {p.proposal_id}.", by=by, acted_on_warning=True,
            downtime_avoided_h=round(hours, 1), store=self.store, tz=tz,
        )  # fmt: skip
        self.store.add_service_entry(entry)

    def _when(self, p: Proposal, ts: float) -> str:
        return day(ts, str(p.content.get("tz") or "UTC"))

    # -- the periodic work -----------------------------------------------------------------
    def sweep(self) -> tuple[int, int]:
        """Expire sent proposals past their date; flag declined or expired ones whose risk
        grew since (the newest of each asset only). Returns (expired, flagged)."""
        now = self.clock()
        expired = 0
        for p in self.store.proposals(states=["sent"]):
            if p.expires_at is not None and now >= p.expires_at:
                why = (
                    "its planned stop began"
                    if p.window_start is not None and p.expires_at >= p.window_start
                    else f"no answer within {VALID_DAYS:g} days"
                )
                try:
                    self.store.step_proposal(
                        p.proposal_id, "expire", SYSTEM, now, why,
                        outbox=self.payload(p, "expired", SYSTEM, now, why),
                    )  # fmt: skip
                    expired += 1
                except ValueError:  # answered a moment ago
                    pass
        flagged = 0
        newest: dict[str, Proposal] = {}
        for p in self.store.proposals():  # newest first
            newest.setdefault(p.asset_id, p)
        closed = [p for p in newest.values() if p.state in ("declined", "expired")]
        outlooks = {o.asset_id: o for o in self.store.outlooks([p.asset_id for p in closed])}
        for p in closed:
            o = outlooks.get(p.asset_id)
            if o is None:
                continue
            reason = risk_grew(p, o.p10_ts, o.zone, o.action, str(p.content.get("tz") or "UTC"))
            if reason and reason != p.followup:
                self.store.set_followup(
                    p.proposal_id, reason, now,
                    outbox=self.payload(p, "followup", SYSTEM, now, reason),
                )  # fmt: skip
                flagged += 1
        return expired, flagged

    async def run(self, every_s: float = 60.0, also: Callable[[], object] | None = None) -> None:
        """The gateway's supervised `proposals` task; `also` is more periodic service work
        run after each sweep (the weekly KPI snapshot, gateway/kpi_report.py)."""
        while True:
            n = await asyncio.to_thread(self.sweep)
            if any(n):
                log.info("proposals swept", extra={"expired": n[0], "followups": n[1]})
            if also is not None:
                await asyncio.to_thread(also)
            await asyncio.sleep(every_s)


def risk_grew(p: Proposal, p10_ts: float | None, zone: str | None, action: str, tz: str) -> str:
    """Why a declined or expired proposal needs a follow-up ("" when its risk did not grow):
    the risk date moved earlier, the zone got worse, or the action more urgent."""
    why = []
    if p10_ts is not None and (p.risk_ts is None or p10_ts < p.risk_ts - FOLLOWUP_SLACK_S):
        was = "none" if p.risk_ts is None else str(date_at(p.risk_ts, tz))
        why.append(f"risk date moved earlier ({was} -> {date_at(p10_ts, tz)})")
    if ZONE_RANK.get(zone, 0) > ZONE_RANK.get(p.zone, 0):
        why.append(f"vibration zone worse ({p.zone or 'none'} -> {zone})")
    if ACTION_RANK.get(action, 0) > ACTION_RANK.get(p.action, 0):
        why.append(f"more urgent ({p.action} -> {action})")
    return "; ".join(why)
