"""Tenancy: what a customer's user may see (docs/FLEET.md).

A user with a `customer` sees only the sites of that customer (the fleet server's site
gateways are each tagged with a customer) and only as a viewer. Every blueprint reads through
`auth.fleet()`, which wraps the page's FleetData in `TenantFleet` for such a user, so every
route, API answer, export and the live refresh is filtered in this one place; the response
cache is per tenant too (util.cache). Anything outside the customer's sites reads as absent
(None, empty), and every write is refused but one: accepting or declining a proposal its own
customer was sent (docs/SERVICE.md "Proposals"); drafts and other customers' proposals read
as absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.kpis import KpiInputs

from .data import FleetData, Row


class TenantFleet:
    """FleetData restricted to the sites of one customer (view only)."""

    def __init__(self, inner: FleetData, customer: str) -> None:
        self.inner = inner
        self.customer = customer
        customers = inner.site_customers()
        self.allowed = frozenset(s for s, c in customers.items() if c == customer)

    # ---- reads, filtered
    def version(self) -> int:
        return self.inner.version()

    def overview(self) -> list[Row]:
        return [r for r in self.inner.overview() if r.get("site") in self.allowed]

    def _asset_ids(self) -> set[str]:
        return {str(r["id"]) for r in self.overview()}

    def _mine(self, asset_id: str | None) -> bool:
        return asset_id is not None and asset_id in self._asset_ids()

    def asset(self, asset_id: str) -> Row | None:
        row = self.inner.asset(asset_id)
        return row if row is not None and row.get("site") in self.allowed else None

    def history(self, asset_id: str, start: float, end: float) -> dict[str, list[float]]:
        if not self._mine(asset_id):
            return {"t": [], "vel_rms": [], "runtime_h": [], "starts": []}
        return self.inner.history(asset_id, start, end)

    def cone(self, asset_id: str) -> Row:
        if not self._mine(asset_id):
            return {"t": [], "p10": [], "p50": [], "p90": [], "fail_level": None}
        return self.inner.cone(asset_id)

    def events(self, asset_id: str | None = None, limit: int = 200) -> list[Row]:
        if asset_id is not None and not self._mine(asset_id):
            return []
        mine = self._asset_ids()
        return [e for e in self.inner.events(asset_id, limit) if e.get("asset_id") in mine]

    def service_log(self, asset_id: str | None = None) -> list[Row]:
        if asset_id is not None and not self._mine(asset_id):
            return []
        mine = self._asset_ids()
        return [r for r in self.inner.service_log(asset_id) if r.get("asset_id") in mine]

    def parts(self, asset_id: str) -> list[Row]:
        return self.inner.parts(asset_id) if self._mine(asset_id) else []

    def ledger(self) -> list[Row]:
        mine = self._asset_ids()
        return [r for r in self.inner.ledger() if r.get("asset_id") in mine]

    def windows(self, site: str | None = None) -> list[Row]:
        if site is not None and site not in self.allowed:
            return []
        return [w for w in self.inner.windows(site) if w.get("site") in self.allowed]

    def parts_demand(self, weeks: int) -> list[Row]:
        demand: Any = getattr(self.inner, "parts_demand")  # noqa: B009  (takes rows)
        out: list[Row] = demand(weeks, self.overview())
        return out

    # Stock, prices and the demand are the service company's books: a customer sees none of
    # them, only the parts held for its own machines.
    def parts_catalog(self) -> list[Row]:
        return []

    def parts_stock(self) -> list[Row]:
        return []

    def parts_plan(self) -> list[Row]:
        return []

    def parts_reservations(self, open_only: bool = True) -> list[Row]:
        mine = self._asset_ids()
        return [r for r in self.inner.parts_reservations(open_only) if r.get("asset_id") in mine]

    # Proposals: its own customer's, from `sent` on (a draft is the service team's work), on
    # its own sites. Accepting or declining a sent one is the one write a customer's user has.
    def _visible(self, row: Row | None) -> bool:
        return (
            row is not None
            and row.get("customer") == self.customer
            and row.get("site") in self.allowed
            and row.get("state") != "draft"
        )

    def proposals(self, asset_id: str | None = None, state: str | None = None) -> list[Row]:
        return [r for r in self.inner.proposals(asset_id, state) if self._visible(r)]

    def proposal(self, proposal_id: str) -> Row | None:
        row = self.inner.proposal(proposal_id)
        return row if self._visible(row) else None

    def proposal_status(self) -> dict[str, Row]:
        mine = self._asset_ids()
        return {
            k: v
            for k, v in self.inner.proposal_status().items()
            if k in mine and v.get("state") != "draft" and v.get("customer") == self.customer
        }

    def proposal_step(
        self, proposal_id: str, step: str, user: str, note: str = "", log_service: bool = True
    ) -> Row:
        if step not in ("accept", "decline"):
            raise PermissionError("a customer's user can only accept or decline a proposal")
        row = self.proposal(proposal_id)
        if row is None:
            raise KeyError(proposal_id)  # another customer's, or a draft: absent
        return self.inner.proposal_step(proposal_id, step, user, note)

    def customer_terms(self) -> list[Row]:
        return []

    def customers(self) -> list[str]:
        return []

    def nodes(self) -> list[Row]:
        return [n for n in self.inner.nodes() if n.get("site") in self.allowed]

    def sites(self) -> list[str]:
        return [s for s in self.inner.sites() if s in self.allowed]

    def site_customers(self) -> dict[str, str]:
        """Only this customer's sites: the page's customer filter lists no other customer."""
        return {s: self.customer for s in sorted(self.allowed)}  # what `allowed` was made of

    def site_shifts(self) -> dict[str, str]:
        return {s: x for s, x in self.inner.site_shifts().items() if s in self.allowed}

    def site_zones(self) -> dict[str, str]:
        return {s: z for s, z in self.inner.site_zones().items() if s in self.allowed}

    def commands(self, limit: int = 200) -> list[Row]:
        return []  # the service team's work with the site gateways, not a customer's data

    def site_report(self, site: str, days: int) -> Row:
        if site not in self.allowed:
            raise KeyError(site)  # the route checks sites() first: this is the backstop
        return self.inner.site_report(site, days)

    def hourly(
        self, asset_ids: Sequence[str], start: float, end: float
    ) -> dict[str, NDArray[np.float64]]:
        mine = self._asset_ids()
        return self.inner.hourly([a for a in asset_ids if a in mine], start, end)

    def open_proposals(self, asset_ids: Sequence[str]) -> list[Row]:
        mine = self._asset_ids()
        return self.inner.open_proposals([a for a in asset_ids if a in mine])

    def warning_times(
        self, asset_ids: Sequence[str], start: float, end: float
    ) -> dict[str, list[float]]:
        mine = self._asset_ids()
        return self.inner.warning_times([a for a in asset_ids if a in mine], start, end)

    def kpi_inputs(self, asset_ids: Sequence[str], start: float, end: float) -> KpiInputs:
        mine = self._asset_ids()
        return self.inner.kpi_inputs([a for a in asset_ids if a in mine], start, end)

    # ---- the session needs these as they are
    def get_user(self, name: str) -> Row | None:
        return self.inner.get_user(name)

    def end_sessions(self, name: str) -> None:
        self.inner.end_sessions(name)

    # ---- writes: never for a customer's user (they are viewers; this is the backstop)
    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError("a customer's user can only view")

    record_service = correct_ledger = add_window = set_site_zone = set_site_shifts = _refuse
    list_users = add_user = set_user = update_asset = assign_node = _refuse
    set_stock = adjust_stock = put_catalog_part = make_proposal = set_terms = _refuse
