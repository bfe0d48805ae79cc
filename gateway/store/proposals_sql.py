"""The store's proposal side: customer terms, proposals with their steps, and the generic
webhook outbox. docs/SERVICE.md "Proposals" is the reference.

A mixin of `SqlStore` (gateway/store/sql.py) over the parts books it reserves from
(PartsSql). It only persists and keeps each step atomic: a step's state, its event row, its
outbox event and the parts it holds or lets go are one transaction, so a webhook never reports
a step that was rolled back and an accepted proposal never lacks its reservation. What a
proposal says and when a step is allowed is gateway/proposals.py.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

from gateway.domain import PROPOSAL_STEP_STATE, PROPOSAL_STEPS, check_terms
from gateway.store.api import (
    CustomerTerms,
    OutboxEvent,
    OutboxMark,
    Proposal,
    ProposalEvent,
)
from gateway.store.parts_sql import PartsSql

_P_COLUMNS = (
    "proposal_id, asset_id, site, customer, revision, state, action, created_at, created_by,"
    " updated_at, content, supersedes, sent_at, expires_at, window_id, window_start, risk_ts,"
    " zone, followup"
)
_SELECT = f"SELECT {_P_COLUMNS} FROM proposals"


def _f(v: Any) -> float | None:
    return None if v is None else float(v)


def _proposal(r: Sequence[Any]) -> Proposal:
    return Proposal(
        str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), str(r[5]), str(r[6]),
        float(r[7]), str(r[8]), float(r[9]), json.loads(r[10]), r[11], _f(r[12]), _f(r[13]),
        None if r[14] is None else int(r[14]), _f(r[15]), _f(r[16]), r[17], str(r[18]),
    )  # fmt: skip


def _dump(d: dict[str, Any]) -> str:
    return json.dumps(d, sort_keys=True, default=str)


class ProposalsSql(PartsSql):
    """Proposal and outbox reads and writes over the backend hooks of SqlStore; a step's parts
    are held or let go through the parts books (PartsSql) inside the step's transaction."""

    # ---- customer terms
    def put_terms(self, terms: CustomerTerms) -> None:
        check_terms(terms.currency, terms.labour_rate, terms.downtime_cost_h)
        with self._lock, self._transaction():
            self._q(
                "INSERT INTO customer_terms (customer, currency, labour_rate, downtime_cost_h,"
                " updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (customer) DO"
                " UPDATE SET currency = excluded.currency, labour_rate = excluded.labour_rate,"
                " downtime_cost_h = excluded.downtime_cost_h, updated_at = excluded.updated_at,"
                " updated_by = excluded.updated_by",
                (terms.customer, terms.currency, float(terms.labour_rate),
                 float(terms.downtime_cost_h), terms.updated_at, terms.updated_by),
            )  # fmt: skip

    def _terms(self, where: str, params: Sequence[Any]) -> list[CustomerTerms]:
        with self._lock:
            rows = self._q(
                "SELECT customer, currency, labour_rate, downtime_cost_h, updated_at, updated_by"
                f" FROM customer_terms{where} ORDER BY customer",
                params,
            )
        return [
            CustomerTerms(str(r[0]), str(r[1]), float(r[2]), float(r[3]), float(r[4]), str(r[5]))
            for r in rows
        ]

    def customer_terms(self, customer: str) -> CustomerTerms | None:
        rows = self._terms(" WHERE customer = ?", (customer,))
        return rows[0] if rows else None

    def all_terms(self) -> list[CustomerTerms]:
        return self._terms("", ())

    # ---- proposals
    def add_proposal(self, proposal: Proposal, outbox: dict[str, Any] | None = None) -> Proposal:
        if proposal.state != "draft":
            raise ValueError("a new proposal is a draft")
        p = proposal
        with self._lock, self._transaction():
            # The readable id comes from the row's serial number: insert under a unique
            # placeholder, then name it.
            tmp = "new-" + secrets.token_hex(8)
            rows = self._q(
                "INSERT INTO proposals (proposal_id, asset_id, site, customer, revision,"
                " supersedes, state, action, created_at, created_by, updated_at, window_id,"
                " window_start, risk_ts, zone, followup, content)"
                " VALUES (?, ?, ?, ?, ?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?, ?, '', ?)"
                " RETURNING proposal_no",
                (tmp, p.asset_id, p.site, p.customer, p.revision, p.supersedes, p.action,
                 p.created_at, p.created_by, p.created_at, p.window_id, p.window_start,
                 p.risk_ts, p.zone, _dump(p.content)),
            )  # fmt: skip
            pid = f"P-{int(rows[0][0])}"
            rows = self._q(
                "UPDATE proposals SET proposal_id = ? WHERE proposal_id = ?"
                f" RETURNING {_P_COLUMNS}",
                (pid, tmp),
            )
            self._event(pid, "draft", p.created_at, p.created_by, "")
            if outbox is not None:
                self._outbox("proposal.draft", {**outbox, "proposal_id": pid}, p.created_at)
        return _proposal(rows[0])

    def update_draft(self, proposal: Proposal) -> bool:
        p = proposal
        with self._lock, self._transaction():
            rows = self._q(
                "UPDATE proposals SET action = ?, updated_at = ?, window_id = ?,"
                " window_start = ?, risk_ts = ?, zone = ?, content = ?"
                " WHERE proposal_id = ? AND state = 'draft' RETURNING proposal_id",
                (p.action, p.updated_at, p.window_id, p.window_start, p.risk_ts, p.zone,
                 _dump(p.content), p.proposal_id),
            )  # fmt: skip
        return bool(rows)

    def step_proposal(
        self,
        proposal_id: str,
        step: str,
        by: str,
        at: float,
        note: str = "",
        outbox: dict[str, Any] | None = None,
        expires_at: float | None = None,
        reserve: Sequence[tuple[str, int]] | None = None,
    ) -> Proposal:
        if step not in PROPOSAL_STEPS:
            raise ValueError(f"unknown step {step!r}; known: {', '.join(PROPOSAL_STEPS)}")
        state = PROPOSAL_STEP_STATE[step]
        allowed = PROPOSAL_STEPS[step]
        with self._lock, self._transaction():
            marks = ", ".join("?" * len(allowed))
            sent = ", sent_at = ?, expires_at = ?" if step == "send" else ""
            params: list[Any] = [state, at]
            if step == "send":
                params += [at, expires_at]
            # The state is checked in the UPDATE itself: two clicks racing, one wins.
            rows = self._q(
                f"UPDATE proposals SET state = ?, updated_at = ?{sent}"
                f" WHERE proposal_id = ? AND state IN ({marks}) RETURNING {_P_COLUMNS}",
                (*params, proposal_id, *allowed),
            )
            if not rows:
                cur = self._get(proposal_id)
                if cur is None:
                    raise KeyError(proposal_id)
                raise ValueError(
                    f"proposal {proposal_id} is {cur.state}: it cannot be {state}"
                    f" (only a proposal that is {' or '.join(allowed)} can)"
                )
            out = _proposal(rows[0])  # the row as this step left it (nothing below changes it)
            if step == "accept" and reserve:
                self._reserve(proposal_id, list(reserve), by, at, out.asset_id, out.window_start)
            elif step in ("decline", "expire"):
                self._close_open(proposal_id, "released", by, at)
            elif step == "done":
                self._consume(proposal_id, by, at)
            self._event(proposal_id, state, at, by, note)
            if outbox is not None:
                self._outbox("proposal." + state, outbox, at)
        return out

    def set_followup(
        self, proposal_id: str, reason: str, at: float, outbox: dict[str, Any] | None = None
    ) -> bool:
        with self._lock, self._transaction():
            rows = self._q(
                "UPDATE proposals SET followup = ? WHERE proposal_id = ? AND followup <> ?"
                " RETURNING proposal_id",
                (reason, proposal_id, reason),
            )
            if rows and reason:
                self._event(proposal_id, "followup", at, "kizashi", reason)
                if outbox is not None:
                    self._outbox("proposal.followup", outbox, at)
        return bool(rows)

    def _get(self, proposal_id: str) -> Proposal | None:
        rows = self._q(_SELECT + " WHERE proposal_id = ?", (proposal_id,))
        return _proposal(rows[0]) if rows else None

    def proposal(self, proposal_id: str) -> Proposal | None:
        with self._lock:
            return self._get(proposal_id)

    def proposals(
        self, asset_id: str | None = None, states: Sequence[str] | None = None
    ) -> list[Proposal]:
        where: list[str] = []
        params: list[Any] = []
        if asset_id is not None:
            where.append("asset_id = ?")
            params.append(asset_id)
        if states is not None:
            if not states:
                return []
            where.append(f"state IN ({', '.join('?' * len(states))})")
            params += list(states)
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
        with self._lock:
            rows = self._q(sql + " ORDER BY proposal_no DESC", params)
        return [_proposal(r) for r in rows]

    def _event(self, proposal_id: str, state: str, at: float, by: str, note: str) -> None:
        self._q(
            "INSERT INTO proposal_events (proposal_id, state, at, by_user, note)"
            " VALUES (?, ?, ?, ?, ?)",
            (proposal_id, state, at, by, note),
        )

    def proposal_events(self, proposal_id: str | None = None) -> list[ProposalEvent]:
        sql = "SELECT event_id, proposal_id, state, at, by_user, note FROM proposal_events"
        params: tuple[Any, ...] = ()
        if proposal_id is not None:
            sql += " WHERE proposal_id = ?"
            params = (proposal_id,)
        with self._lock:
            rows = self._q(sql + " ORDER BY event_id", params)
        return [
            ProposalEvent(int(r[0]), str(r[1]), str(r[2]), float(r[3]), str(r[4]), str(r[5]))
            for r in rows
        ]

    # ---- the outbox
    def _outbox(self, kind: str, payload: dict[str, Any], at: float) -> int:
        rows = self._q(
            "INSERT INTO outbox (kind, created_at, payload) VALUES (?, ?, ?) RETURNING event_id",
            (kind, at, _dump(payload)),
        )
        return int(rows[0][0])

    def add_outbox(self, kind: str, payload: dict[str, Any], at: float) -> int:
        if not kind:
            raise ValueError("an outbox event needs a kind")
        with self._lock, self._transaction():
            return self._outbox(kind, payload, at)

    def add_outbox_once(
        self, kind: str, key: str, payload: dict[str, Any], at: float
    ) -> int | None:
        """The event, unless one was already written under `key` (then None): the key and the
        event are one transaction, so two writers (or a restart) never send it twice."""
        if not kind or not key:
            raise ValueError("an outbox event written once needs a kind and a key")
        with self._lock, self._transaction():
            if self._q("SELECT event_id FROM outbox_keys WHERE key = ?", (key,)):
                return None
            event_id = self._outbox(kind, payload, at)
            rows = self._q(
                "INSERT INTO outbox_keys (key, event_id) VALUES (?, ?)"
                " ON CONFLICT (key) DO NOTHING RETURNING key",
                (key, event_id),
            )
            if not rows:  # another writer took the key meanwhile: undo ours
                self._q("DELETE FROM outbox WHERE event_id = ?", (event_id,))
                return None
            return event_id

    def outbox_after(self, event_id: int, limit: int = 100) -> list[OutboxEvent]:
        with self._lock:
            rows = self._q(
                "SELECT event_id, kind, created_at, payload FROM outbox WHERE event_id > ?"
                " ORDER BY event_id LIMIT ?",
                (event_id, limit),
            )
        return [OutboxEvent(int(r[0]), str(r[1]), float(r[2]), json.loads(r[3])) for r in rows]

    def last_outbox_id(self) -> int:
        with self._lock:
            rows = self._q("SELECT max(event_id) FROM outbox")
        return int(rows[0][0] or 0)

    def outbox_mark(self, endpoint: str) -> OutboxMark | None:
        with self._lock:
            rows = self._q(
                "SELECT endpoint, upto, attempts, next_at, last_error, delivered, given_up,"
                " updated_at FROM outbox_marks WHERE endpoint = ?",
                (endpoint,),
            )
        if not rows:
            return None
        r = rows[0]
        return OutboxMark(
            str(r[0]), int(r[1]), int(r[2]), float(r[3]), str(r[4]), int(r[5]), int(r[6]),
            float(r[7]),
        )  # fmt: skip

    def set_outbox_mark(self, mark: OutboxMark) -> None:
        m = mark
        with self._lock, self._transaction():
            self._q(
                "INSERT INTO outbox_marks (endpoint, upto, attempts, next_at, last_error,"
                " delivered, given_up, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (endpoint) DO UPDATE SET upto = excluded.upto,"
                " attempts = excluded.attempts, next_at = excluded.next_at,"
                " last_error = excluded.last_error, delivered = excluded.delivered,"
                " given_up = excluded.given_up, updated_at = excluded.updated_at",
                (m.endpoint, m.upto, m.attempts, m.next_at, m.last_error[:500], m.delivered,
                 m.given_up, m.updated_at),
            )  # fmt: skip
