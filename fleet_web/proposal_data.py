"""The proposals side of `FleetData` over the gateway store (a mixin of adapter.StoreFleet):
proposals as rows for the pages, the API and the CSV export, their steps (gateway/proposals.py
does the lifecycle; the page only asks), and the customers' terms. docs/SERVICE.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway import sitetime
from gateway.proposal_text import day, money
from gateway.proposals import Proposals
from gateway.store.api import CustomerTerms, Proposal, ProposalEvent

from .data import Row

PROPOSAL_COLUMNS = ("id", "asset_id", "site", "customer", "revision", "supersedes",
                    "superseded_by", "state", "action", "title", "question", "risk_date",
                    "window_start", "total", "currency", "downtime_avoided_h",
                    "downtime_value", "created_at", "created_by", "sent_at", "expires_at",
                    "answered_at", "answered_by", "followup")  # fmt: skip
TERMS_COLUMNS = ("customer", "currency", "labour_rate", "downtime_cost_h", "updated_at",
                 "updated_by")  # fmt: skip
STEPS = ("send", "accept", "decline", "done")


class ProposalData:
    """The proposal rows of the page; needs the store, the clock and the write hook."""

    store: Any
    clock: Callable[[], float]
    _after_write: Callable[..., None]
    site_customers: Callable[[], dict[str, str]]

    def _proposals_svc(self) -> Proposals:
        return Proposals(self.store, self.clock)

    def _events_by_proposal(self) -> dict[str, list[ProposalEvent]]:
        """Every step, grouped by proposal in one read (a list is not N queries)."""
        out: dict[str, list[ProposalEvent]] = {}
        for e in self.store.proposal_events():
            out.setdefault(e.proposal_id, []).append(e)
        return out

    def proposal_row(
        self,
        p: Proposal,
        newer: dict[str, str] | None = None,
        events: list[ProposalEvent] | None = None,
    ) -> Row:
        c = p.content
        tz = str(c.get("tz") or sitetime.UTC_NAME)
        totals = c.get("totals") or {}
        down = c.get("downtime") or {}
        if events is None:
            events = self.store.proposal_events(p.proposal_id)
        answer = next((e for e in reversed(events) if e.state in ("accepted", "declined")), None)
        return {
            "id": p.proposal_id, "asset_id": p.asset_id, "site": p.site, "customer": p.customer,
            "revision": p.revision, "supersedes": p.supersedes,
            "superseded_by": (newer or {}).get(p.proposal_id), "state": p.state,
            "action": p.action, "title": c.get("title", ""), "question": c.get("question", ""),
            "risk_date": sitetime.date_at(p.risk_ts, tz),
            "window_start": sitetime.iso_at(p.window_start, tz),
            "total": totals.get("total"), "currency": totals.get("currency"),
            "downtime_avoided_h": down.get("hours"), "downtime_value": down.get("amount"),
            "created_at": sitetime.iso_at(p.created_at, tz), "created_by": p.created_by,
            "sent_at": sitetime.iso_at(p.sent_at, tz),
            "expires_at": sitetime.iso_at(p.expires_at, tz),
            "answered_at": None if answer is None else sitetime.iso_at(answer.at, tz),
            "answered_on": None if answer is None else day(answer.at, tz),
            "answered_by": None if answer is None else answer.by,
            "followup": p.followup, "tz": tz, "content": c,
            "events": [{"state": e.state, "at": sitetime.iso_at(e.at, tz), "by": e.by,
                        "note": e.note} for e in events],
        }  # fmt: skip

    def proposals(self, asset_id: str | None = None, state: str | None = None) -> list[Row]:
        """Proposals, newest first, each with its steps."""
        every = self.store.proposals(asset_id)  # revisions are per asset: all of them here
        newer = {p.supersedes: p.proposal_id for p in every if p.supersedes}
        steps = self._events_by_proposal()
        return [
            self.proposal_row(p, newer, steps.get(p.proposal_id, []))
            for p in every
            if state is None or p.state == state
        ]

    def proposal(self, proposal_id: str) -> Row | None:
        p = self.store.proposal(proposal_id)
        if p is None:
            return None
        newer = {
            q.supersedes: q.proposal_id for q in self.store.proposals(p.asset_id) if q.supersedes
        }
        row = self.proposal_row(p, newer)
        row["reservations"] = [
            {"part_number": r.part_number, "qty": r.qty, "warehouse": r.warehouse,
             "shortage": r.shortage, "state": r.state}
            for r in self.store.reservations(proposal_id)
        ]  # fmt: skip
        return row

    def make_proposal(self, asset_id: str, user: str) -> Row:
        """A draft from the asset's outlook (or its open draft rewritten); KeyError for no
        such asset, ValueError when there is nothing to propose."""
        p = self._proposals_svc().make(asset_id, user)
        out = self.proposal(p.proposal_id)
        assert out is not None
        return out

    def proposal_step(
        self, proposal_id: str, step: str, user: str, note: str = "", log_service: bool = True
    ) -> Row:
        """send / accept / decline / done; KeyError for no such proposal, ValueError when the
        step is not allowed now (with why)."""
        svc = self._proposals_svc()
        if step == "send":
            p = svc.send(proposal_id, user)
        elif step == "accept":
            p = svc.accept(proposal_id, user, note)
        elif step == "decline":
            p = svc.decline(proposal_id, user, note)
        elif step == "done":
            p = svc.done(proposal_id, user, log_service)
        else:
            raise ValueError(f"unknown step {step!r}; known: {', '.join(STEPS)}")
        if step == "done":
            self._after_write(p.asset_id)  # the service entry resets the part's wear
        out = self.proposal(p.proposal_id)
        assert out is not None
        return out

    def proposal_status(self) -> dict[str, Row]:
        """asset id -> its newest proposal (id, state, when answered, follow-up): what the
        asset page and the planner show beside the risk."""
        out: dict[str, Row] = {}
        steps = self._events_by_proposal()
        for p in self.store.proposals():  # newest first
            if p.asset_id in out:
                continue
            tz = str(p.content.get("tz") or sitetime.UTC_NAME)
            events = steps.get(p.proposal_id, [])
            last = events[-1] if events else None
            out[p.asset_id] = {
                "id": p.proposal_id, "state": p.state, "followup": p.followup,
                "window_id": p.window_id, "title": p.content.get("title", ""),
                "on": None if last is None else day(last.at, tz),
                "by": None if last is None else last.by,
                "customer": p.customer,
            }  # fmt: skip
        return out

    # ---- customer terms
    def customer_terms(self) -> list[Row]:
        return [
            {"customer": t.customer, "currency": t.currency, "labour_rate": t.labour_rate,
             "downtime_cost_h": t.downtime_cost_h,
             "updated_at": sitetime.iso_at(t.updated_at, None) if t.updated_at else None,
             "updated_by": t.updated_by,
             "example": money(t.labour_rate, t.currency)}
            for t in self.store.all_terms()
        ]  # fmt: skip

    def customers(self) -> list[str]:
        """The customers terms can be set for: "" (this gateway's own) and the fleet's."""
        known = {t.customer for t in self.store.all_terms()}
        return sorted({"", *self.site_customers().values(), *known})

    def set_terms(
        self, customer: str, currency: str, labour_rate: float, downtime_cost_h: float, user: str
    ) -> None:
        """ValueError (currency, a negative or non-finite amount) with the reason."""
        self.store.put_terms(
            CustomerTerms(customer, currency, labour_rate, downtime_cost_h, self.clock(), user)
        )
