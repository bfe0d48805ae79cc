"""The parts side of `FleetData` over the gateway store (a mixin of adapter.StoreFleet): the
price list, stock per warehouse, reservations and the demand with its reorder advice
(gateway/parts.py computes it; the page only shows it). docs/SERVICE.md."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from gateway import sitetime
from gateway.parts import day, demand_json, plan_parts
from gateway.store.api import CatalogPart, Outlook, Reservation

from .data import Row
from .util import iso

STOCK_COLUMNS = ("part_number", "description", "warehouse", "on_hand", "reserved", "free",
                 "updated_at", "updated_by")  # fmt: skip
CATALOG_COLUMNS = ("part_number", "description", "unit_price", "currency", "lead_time_days",
                   "labour_h", "safety_stock")  # fmt: skip
RESERVATION_COLUMNS = ("id", "proposal_id", "part_number", "qty", "warehouse", "shortage",
                       "state", "asset_id", "site", "need_by", "created_at", "created_by",
                       "updated_at", "updated_by")  # fmt: skip
DEMAND_COLUMNS = ("part_number", "description", "catalogued", "lead_time_days",
                  "safety_stock", "on_hand", "reserved", "shortage", "free", "committed_4w",
                  "committed_8w", "committed_12w", "forecast_4w", "forecast_8w",
                  "forecast_12w", "shortfall_date", "order_by", "order_qty",
                  "advice")  # fmt: skip


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {text!r}")
    return value


def pieces(text: str, what: str) -> int:
    """A typed whole number of pieces ("3", "-2"), else ValueError naming the field."""
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{what} must be a whole number of pieces, got {text!r}") from None


def catalog_part_of(form: Row) -> CatalogPart:
    """A price-list entry from the page's form fields (ValueError naming the bad field)."""
    return CatalogPart(
        part_number=str(form.get("part_number", "")),
        description=str(form.get("description", ""))[:200],
        unit_price=_number(str(form.get("unit_price", "")), "unit price"),
        currency=str(form.get("currency", "EUR")).strip().upper(),
        lead_time_days=_number(str(form.get("lead_time_days", "")), "lead time (days)"),
        labour_h=_number(str(form.get("labour_h", "0") or "0"), "labour (hours)"),
        safety_stock=pieces(str(form.get("safety_stock", "0") or "0"), "safety stock"),
    )


class PartsData:
    """The parts rows of the page; needs the store, the clock and the overview rows."""

    store: Any
    clock: Callable[[], float]
    overview: Callable[[], list[Row]]
    _outlooks: dict[str, Outlook]

    def parts_catalog(self) -> list[Row]:
        return [
            {
                "part_number": p.part_number,
                "description": p.description,
                "unit_price": p.unit_price,
                "currency": p.currency,
                "lead_time_days": p.lead_time_days,
                "labour_h": p.labour_h,
                "safety_stock": p.safety_stock,
            }
            for p in self.store.catalog()
        ]

    def parts_stock(self) -> list[Row]:
        names = {p.part_number: p.description for p in self.store.catalog()}
        return [
            {
                "part_number": s.part_number,
                "description": names.get(s.part_number, ""),
                "warehouse": s.warehouse,
                "on_hand": s.on_hand,
                "reserved": s.reserved,
                "free": s.free,
                "updated_at": iso(s.updated_at) if s.updated_at else None,
                "updated_by": s.updated_by,
            }
            for s in self.store.stock()
        ]

    def parts_plan(self) -> list[Row]:
        """From the outlooks the page already holds (read again only when they changed)."""
        self.overview()  # brings self._outlooks up to the store's last commit
        outlooks = list(self._outlooks.values())
        return demand_json(
            plan_parts(
                self.store.catalog(),
                self.store.stock(),
                self.store.reservations(),
                outlooks,
                self.clock(),
            )
        )

    def _reservation_row(self, r: Reservation, sites: dict[str, tuple[str, str]]) -> Row:
        site, tz = sites.get(r.asset_id, ("", sitetime.UTC_NAME))
        return {
            "id": r.reservation_id,
            "proposal_id": r.proposal_id,
            "part_number": r.part_number,
            "qty": r.qty,
            "warehouse": r.warehouse,
            "shortage": r.shortage,
            "state": r.state,
            "asset_id": r.asset_id,
            "site": site,
            "need_by": None if r.need_by is None else day(r.need_by),
            "created_at": iso(r.created_at),
            "created_by": r.created_by,
            "updated_at": iso(r.updated_at),
            "updated_by": r.updated_by,
            "_tz": tz,
        }

    def parts_reservations(self, open_only: bool = True) -> list[Row]:
        """Reservations, newest first (open ones unless `open_only` is False)."""
        sites = {str(r["id"]): (str(r["site"]), str(r.get("tz", "UTC"))) for r in self.overview()}
        rows = [
            self._reservation_row(r, sites)
            for r in self.store.reservations()
            if not open_only or r.state == "reserved"
        ]
        return rows[::-1]

    def set_stock(self, part_number: str, warehouse: str, count: int, user: str) -> Row:
        s = self.store.set_stock(part_number, warehouse, count, user, self.clock())
        return {"part_number": s.part_number, "warehouse": s.warehouse, "on_hand": s.on_hand}

    def adjust_stock(self, part_number: str, warehouse: str, delta: int, user: str) -> Row:
        s = self.store.adjust_stock(part_number, warehouse, delta, user, self.clock())
        return {"part_number": s.part_number, "warehouse": s.warehouse, "on_hand": s.on_hand}

    def put_catalog_part(self, part: CatalogPart) -> None:
        self.store.put_catalog_part(part)
