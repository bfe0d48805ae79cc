"""What the pages need from the gateway, as one interface (`FleetData`).

The blueprints only talk to this protocol. `create_app` wraps the gateway store and its outlook
in the one implementation (`fleet_web.adapter.StoreFleet`); tests and the benchmark use it over
a real store too.

Rows are plain JSON-able dicts; times are epoch seconds (UTC) inside, ISO 8601 in the API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from gateway.kpis import KpiInputs

Row = dict[str, Any]

ZONES = ("A", "B", "C", "D")

# Columns of the overview row (the /api/assets objects), in CSV order.
ASSET_COLUMNS = (
    "id",
    "name",
    "site",
    "machine",
    "component",
    "health",
    "trend",
    "vel_rms",
    "temp_c",
    "runtime_h",
    "starts",
    "rul_p10_h",
    "rul_p50_h",
    "rul_p90_h",
    "rul_p10_date",
    "rul_p50_date",
    "rul_p90_date",
    "forecast_status",
    "status_text",
    "life_text",
    "action",
    "action_text",
    "fault",
    "need_by",
    "order_by",
    "zone_d_at",
    "window_start",
    "window_end",
    "plan",
    "plan_reason",
    "service_due",
    "last_seen",
    "node_id",
    "node_health",
)


@runtime_checkable
class FleetData(Protocol):
    def version(self) -> int:
        """Changes whenever anything shown may have changed (used for caching); follows the
        store's commits within a second."""

    def overview(self) -> list[Row]:
        """One row per asset, keys ASSET_COLUMNS (+ `zones`: {A,B,C} upper limits, `readings`)."""

    def asset(self, asset_id: str) -> Row | None: ...

    def history(self, asset_id: str, start: float, end: float) -> dict[str, list[float]]:
        """Hourly history: keys t (epoch s), vel_rms, runtime_h, starts (same length)."""

    def cone(self, asset_id: str) -> Row:
        """Forecast cone: t (epoch s), p10, p50, p90 level lists; fail_level."""

    def events(self, asset_id: str | None = None, limit: int = 200) -> list[Row]: ...

    def service_log(self, asset_id: str | None = None) -> list[Row]: ...

    def parts(self, asset_id: str) -> list[Row]: ...

    def record_service(
        self,
        asset_id: str,
        kind: str,
        user: str,
        note: str = "",
        part: str = "",
        acted_on_warning: bool = False,
        downtime_avoided_h: float = 0.0,
        date: str | None = None,
        stop_h: float | None = None,
        repair_cost: float | None = None,
    ) -> Row:
        """Add a service-log entry dated `date` (YYYY-MM-DD, default today), with the hours the
        machine stood still and what the job was invoiced when known (None: not recorded);
        ValueError when the kind, date, part, downtime, stop or cost figures are wrong
        (gateway/service_entry.py)."""

    def ledger(self) -> list[Row]:
        """Downtime-avoided ledger: acted-on warnings with hours avoided, `bound_h` (the most
        the entry can claim) and `needs_review` (its hours exceed that bound)."""

    def correct_ledger(
        self, entry_id: int, acted_on_warning: bool, downtime_avoided_h: float, user: str
    ) -> Row:
        """An admin's correction of an entry's ledger fields (same bounds as a new entry);
        KeyError for no such entry, ValueError with the reason for a refused value."""

    def windows(self, site: str | None = None) -> list[Row]:
        """Maintenance windows (id, site, start, end) each with `jobs` (proposed services)."""

    def add_window(self, site: str, start: float, end: float, note: str = "") -> int:
        """Add a planned maintenance stop (instants; the page reads typed times in the site's
        zone); ValueError when the end is not after the start."""

    def parts_demand(self, weeks: int) -> list[Row]: ...

    # --- parts books (fleet_web/parts_data.py, docs/SERVICE.md)
    def parts_catalog(self) -> list[Row]: ...

    def parts_stock(self) -> list[Row]: ...

    def parts_plan(self) -> list[Row]:
        """Per part number: committed and forecast demand at 4/8/12 weeks, reorder advice."""

    def parts_reservations(self, open_only: bool = True) -> list[Row]: ...

    def set_stock(self, part_number: str, warehouse: str, count: int, user: str) -> Row:
        """A stock take; ValueError (unknown part, bad count) with the reason."""

    def adjust_stock(self, part_number: str, warehouse: str, delta: int, user: str) -> Row:
        """Pieces received (+) or taken (-); ValueError below zero."""

    def put_catalog_part(self, part: Any) -> None:
        """Add or replace a price-list entry (a gateway.store.api.CatalogPart)."""

    # --- proposals (fleet_web/proposal_data.py, docs/SERVICE.md "Proposals")
    def proposals(self, asset_id: str | None = None, state: str | None = None) -> list[Row]: ...

    def proposal(self, proposal_id: str) -> Row | None: ...

    def make_proposal(self, asset_id: str, user: str) -> Row:
        """A draft from the asset's outlook; ValueError when there is nothing to propose."""

    def proposal_step(
        self, proposal_id: str, step: str, user: str, note: str = "", log_service: bool = True
    ) -> Row:
        """send / accept / decline / done (`log_service`: done also writes the service-log
        replacement); ValueError (with why) when not allowed now."""

    def proposal_status(self) -> dict[str, Row]:
        """asset id -> its newest proposal's state, when and by whom it got there."""

    def customer_terms(self) -> list[Row]: ...

    def customers(self) -> list[str]: ...

    def set_terms(
        self, customer: str, currency: str, labour_rate: float, downtime_cost_h: float, user: str
    ) -> None: ...

    def nodes(self) -> list[Row]: ...

    def sites(self) -> list[str]: ...

    def site_zones(self) -> dict[str, str]:
        """site -> IANA time zone (UTC when never set): how the site's times are shown."""

    def set_site_zone(self, site: str, tz: str) -> None:
        """Set a site's time zone; ValueError for a zone the IANA database does not know."""

    def commands(self, limit: int = 200) -> list[Row]:
        """The fleet server's commands to its site gateways, newest first (fleet_web/centre.py;
        none on a site gateway)."""

    def site_report(self, site: str, days: int) -> Row: ...

    def site_shifts(self) -> dict[str, str]:
        """site -> its shifts (gateway/shifts.py text) for the sites that set their own."""

    def set_site_shifts(self, site: str, shifts: str) -> None:
        """Set a site's shifts ("" = the default); ValueError with the reason when malformed."""

    def site_customers(self) -> dict[str, str]:
        """site -> customer on the fleet server (its site gateways' tags); empty elsewhere."""

    def hourly(
        self, asset_ids: Sequence[str], start: float, end: float
    ) -> dict[str, NDArray[np.float64]]:
        """The stored hourly rows of those assets in [start, end) as arrays
        (`Store.hourly_columns`: the consulting report's input; assets without data are left
        out)."""

    def open_proposals(self, asset_ids: Sequence[str]) -> list[Row]:
        """Proposals of those assets the customer has and has not closed (sent: awaiting an
        answer; accepted: the job is booked), newest first: proposal_id, revision, asset_id,
        site, state, title, risk_date, window_start, total, currency, sent_at."""

    def warning_times(
        self, asset_ids: Sequence[str], start: float, end: float
    ) -> dict[str, list[float]]:
        """When each asset's warning events (gateway/service_entry.WARNING_EVENTS) were raised
        in [start, end)."""

    def kpi_inputs(self, asset_ids: Sequence[str], start: float, end: float) -> KpiInputs:
        """The records the KPIs of those assets in [start, end) are computed from
        (gateway/kpi_report.inputs_from_store)."""

    def get_user(self, name: str) -> Row | None:
        """name, role, password_hash, disabled, session_version (see end_sessions)."""

    def end_sessions(self, name: str) -> None:
        """End every page session of the user (logout); a new password or a change of
        `disabled` does the same by itself."""

    def list_users(self) -> list[Row]: ...

    def add_user(self, name: str, role: str, password_hash: str) -> None: ...

    def set_user(
        self, name: str, role: str | None = None, disabled: bool | None = None
    ) -> None: ...

    def update_asset(self, asset_id: str, fields: Row) -> None: ...

    def assign_node(self, node_id: str, asset_id: str | None) -> None: ...
