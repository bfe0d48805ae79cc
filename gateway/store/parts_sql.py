"""The store's parts side: the price list (`part_catalog`), stock per warehouse (`part_stock`)
and the pieces held for proposals (`part_reservations`). docs/SERVICE.md is the reference.

A mixin of `SqlStore` (gateway/store/sql.py), like the outlook's and the uplink's. It only
persists and keeps the books consistent (one transaction per operation, the part's catalog
row locked on PostgreSQL so two processes cannot hand out the same pieces); the demand and
reorder judgement is gateway/parts.py.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from gateway.domain import (
    SHORTAGE_WAREHOUSE,
    check_catalog_part,
    check_quantity,
    check_warehouse,
)
from gateway.store.api import CatalogPart, Reservation, StockRow

_RES_COLUMNS = (
    "reservation_id, proposal_id, part_number, warehouse, qty, state, created_at, created_by,"
    " updated_at, updated_by, asset_id, need_by"
)
_CATALOG_COLUMNS = (
    "part_number, description, unit_price, currency, lead_time_days, labour_h, safety_stock"
)
# Pieces held at each (part, warehouse) by open reservations.
_HELD = "SELECT part_number, warehouse, sum(qty) FROM part_reservations WHERE state = 'reserved'"
_HELD_GROUP = " GROUP BY part_number, warehouse"


def _reservation(r: Sequence[Any]) -> Reservation:
    return Reservation(
        int(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), str(r[5]), float(r[6]),
        str(r[7]), float(r[8]), str(r[9]), str(r[10]), None if r[11] is None else float(r[11]),
    )  # fmt: skip


def _catalog_part(r: Sequence[Any]) -> CatalogPart:
    return CatalogPart(
        str(r[0]), str(r[1]), float(r[2]), str(r[3]), float(r[4]), float(r[5]), int(r[6])
    )


class PartsSql:
    """Parts reads and writes over the backend hooks of SqlStore."""

    _lock: Any
    _for_update = ""  # " FOR UPDATE" on PostgreSQL

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    # ---- price list
    def catalog_part(self, part_number: str) -> CatalogPart | None:
        with self._lock:
            rows = self._q(
                f"SELECT {_CATALOG_COLUMNS} FROM part_catalog WHERE part_number = ?",
                (part_number,),
            )
        return _catalog_part(rows[0]) if rows else None

    def catalog(self) -> list[CatalogPart]:
        with self._lock:
            rows = self._q(f"SELECT {_CATALOG_COLUMNS} FROM part_catalog ORDER BY part_number")
        return [_catalog_part(r) for r in rows]

    def put_catalog_part(self, part: CatalogPart) -> None:
        check_catalog_part(part)
        with self._lock, self._transaction():
            self._q(
                "INSERT INTO part_catalog (part_number, description, unit_price, currency,"
                " lead_time_days, labour_h, safety_stock, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (part_number) DO UPDATE SET description = excluded.description,"
                " unit_price = excluded.unit_price, currency = excluded.currency,"
                " lead_time_days = excluded.lead_time_days, labour_h = excluded.labour_h,"
                " safety_stock = excluded.safety_stock, updated_at = excluded.updated_at",
                (
                    part.part_number,
                    part.description,
                    float(part.unit_price),
                    part.currency,
                    float(part.lead_time_days),
                    float(part.labour_h),
                    part.safety_stock,
                    time.time(),
                ),
            )

    def _known(self, part_number: str) -> None:
        """Refuse an uncatalogued part number; on PostgreSQL also lock its catalog row so
        that stock and reservations of one part change one transaction at a time."""
        if not self._q(
            "SELECT 1 FROM part_catalog WHERE part_number = ?" + self._for_update, (part_number,)
        ):
            raise ValueError(
                f"unknown part number {part_number!r}: add it to the catalog first"
                " (kizashi part catalog add)"
            )

    # ---- stock
    def stock(self, part_number: str | None = None) -> list[StockRow]:
        where, params = (
            ("", ()) if part_number is None else (" WHERE part_number = ?", (part_number,))
        )
        with self._lock:
            rows = self._q(
                "SELECT part_number, warehouse, on_hand, updated_at, updated_by FROM part_stock"
                + where
                + " ORDER BY part_number, warehouse",
                params,
            )
            held = self._held_pieces(part_number)
        return [
            StockRow(str(p), str(w), int(n), held.get((str(p), str(w)), 0), float(at), str(by))
            for p, w, n, at, by in rows
        ]

    def _held_pieces(self, part_number: str | None = None) -> dict[tuple[str, str], int]:
        """(part, warehouse) -> pieces open reservations hold there (of one part, or all)."""
        where, params = (
            ("", ()) if part_number is None else (" AND part_number = ?", (part_number,))
        )
        return {
            (str(p), str(w)): int(n) for p, w, n in self._q(_HELD + where + _HELD_GROUP, params)
        }

    def _on_hand(self, part_number: str, warehouse: str) -> int | None:
        rows = self._q(
            "SELECT on_hand FROM part_stock WHERE part_number = ? AND warehouse = ?",
            (part_number, warehouse),
        )
        return int(rows[0][0]) if rows else None

    def _write_stock(
        self, part_number: str, warehouse: str, on_hand: int, by: str, at: float
    ) -> None:
        self._q(
            "INSERT INTO part_stock (part_number, warehouse, on_hand, updated_at, updated_by)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (part_number, warehouse) DO UPDATE SET"
            " on_hand = excluded.on_hand, updated_at = excluded.updated_at,"
            " updated_by = excluded.updated_by",
            (part_number, warehouse, on_hand, at, by),
        )

    def _stock_row(self, part_number: str, warehouse: str) -> StockRow:
        return next(r for r in self.stock(part_number) if r.warehouse == warehouse)

    def set_stock(
        self, part_number: str, warehouse: str, on_hand: int, by: str, at: float | None = None
    ) -> StockRow:
        check_warehouse(warehouse)
        check_quantity(on_hand, "pieces on hand")
        with self._lock:
            with self._transaction():
                self._known(part_number)
                self._write_stock(part_number, warehouse, on_hand, by, at or time.time())
            return self._stock_row(part_number, warehouse)

    def adjust_stock(
        self, part_number: str, warehouse: str, delta: int, by: str, at: float | None = None
    ) -> StockRow:
        check_warehouse(warehouse)
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise ValueError(f"a stock change must be a whole number of pieces, got {delta!r}")
        with self._lock:
            with self._transaction():
                self._known(part_number)
                have = self._on_hand(part_number, warehouse) or 0
                if have + delta < 0:
                    raise ValueError(
                        f"{part_number} at {warehouse}: only {have} on hand, cannot take {-delta}"
                    )
                self._write_stock(part_number, warehouse, have + delta, by, at or time.time())
            return self._stock_row(part_number, warehouse)

    # ---- reservations
    def reservations(self, proposal_id: str | None = None) -> list[Reservation]:
        where, params = (
            ("", ()) if proposal_id is None else (" WHERE proposal_id = ?", (proposal_id,))
        )
        with self._lock:
            rows = self._q(
                f"SELECT {_RES_COLUMNS} FROM part_reservations{where}"
                " ORDER BY created_at, reservation_id",
                params,
            )
        return [_reservation(r) for r in rows]

    def _free_by_warehouse(self, part_number: str) -> list[tuple[str, int, int]]:
        """(warehouse, on hand, free pieces > 0), most free first (then by name:
        deterministic)."""
        held = self._held_pieces(part_number)
        rows = self._q(
            "SELECT warehouse, on_hand FROM part_stock WHERE part_number = ?", (part_number,)
        )
        free = [(str(w), int(n), int(n) - held.get((part_number, str(w)), 0)) for w, n in rows]
        return sorted([f for f in free if f[2] > 0], key=lambda f: (-f[2], f[0]))

    def reserve_parts(
        self,
        proposal_id: str,
        lines: Sequence[tuple[str, int]],
        by: str,
        at: float,
        asset_id: str = "",
        need_by: float | None = None,
    ) -> list[Reservation]:
        with self._lock, self._transaction():
            return self._reserve(proposal_id, lines, by, at, asset_id, need_by)

    def _reserve(
        self,
        proposal_id: str,
        lines: Sequence[tuple[str, int]],
        by: str,
        at: float,
        asset_id: str = "",
        need_by: float | None = None,
    ) -> list[Reservation]:
        """reserve_parts inside the caller's transaction (a proposal's accept step)."""
        if not proposal_id:
            raise ValueError("a reservation needs a proposal id")
        wanted: dict[str, int] = {}
        for part_number, qty in lines:  # the same part on two lines is one need
            check_quantity(qty, f"quantity of {part_number}", minimum=1)
            wanted[part_number] = wanted.get(part_number, 0) + qty
        if self._q(
            "SELECT 1 FROM part_reservations WHERE proposal_id = ? AND state = 'reserved'",
            (proposal_id,),
        ):
            raise ValueError(
                f"proposal {proposal_id} already holds reserved parts: release them first"
            )
        out: list[Reservation] = []
        for part_number, qty in wanted.items():
            self._known(part_number)
            left = qty
            picks: list[tuple[str, int]] = []
            for warehouse, _, free in self._free_by_warehouse(part_number):
                take = min(free, left)
                picks.append((warehouse, take))
                left -= take
                if left == 0:
                    break
            if left:
                picks.append((SHORTAGE_WAREHOUSE, left))
            for warehouse, take in picks:
                rows = self._q(
                    "INSERT INTO part_reservations (proposal_id, part_number, warehouse, qty,"
                    " state, created_at, created_by, updated_at, updated_by, asset_id, need_by)"
                    f" VALUES (?, ?, ?, ?, 'reserved', ?, ?, ?, ?, ?, ?) RETURNING {_RES_COLUMNS}",
                    (proposal_id, part_number, warehouse, take, at, by, at, by, asset_id,
                     need_by),
                )  # fmt: skip
                out.append(_reservation(rows[0]))
        return out

    def _close_open(self, proposal_id: str, state: str, by: str, at: float) -> list[Reservation]:
        """The proposal's open reservations -> `state`, inside the caller's transaction; the
        rows as they are now, oldest first."""
        rows = self._q(
            "UPDATE part_reservations SET state = ?, updated_at = ?, updated_by = ?"
            f" WHERE proposal_id = ? AND state = 'reserved' RETURNING {_RES_COLUMNS}",
            (state, at, by, proposal_id),
        )
        return sorted(map(_reservation, rows), key=lambda r: (r.created_at, r.reservation_id))

    def release_reservations(self, proposal_id: str, by: str, at: float) -> list[Reservation]:
        with self._lock, self._transaction():
            return self._close_open(proposal_id, "released", by, at)

    def consume_reservations(self, proposal_id: str, by: str, at: float) -> list[Reservation]:
        with self._lock, self._transaction():
            return self._consume(proposal_id, by, at)

    def _consume(self, proposal_id: str, by: str, at: float) -> list[Reservation]:
        """consume_reservations inside the caller's transaction (a proposal's done step)."""
        done = self._close_open(proposal_id, "consumed", by, at)
        for part_number in dict.fromkeys(r.part_number for r in done):
            self._known(part_number)  # lock each part's books once
        for r in done:
            self._take(r, by, at)
        return done

    def _take(self, r: Reservation, by: str, at: float) -> None:
        """The consumed pieces leave the shelf: from their warehouse, or for a shortage from
        the free pieces of whichever warehouses have them now (never pieces other proposals
        hold; what no shelf has came straight from the supplier). None below zero."""
        if not r.shortage:
            have = self._on_hand(r.part_number, r.warehouse) or 0
            self._write_stock(r.part_number, r.warehouse, max(0, have - r.qty), by, at)
            return
        left = r.qty
        for warehouse, have, free in self._free_by_warehouse(r.part_number):
            take = min(free, left)
            self._write_stock(r.part_number, warehouse, have - take, by, at)
            left -= take
            if left == 0:
                break
