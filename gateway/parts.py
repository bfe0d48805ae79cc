"""Parts demand and reorder advice: from the parts books (gateway/store/parts_sql.py) and the
outlook's parts needs, per part number:

- demand within 4/8/12 weeks, split into **committed** (pieces open reservations hold for
  accepted proposals, dated by the proposal's planned window, `Reservation.need_by`) and
  **forecast** (pieces the outlook says an asset needs by its need-by date that no open
  reservation for that asset and part number covers: open risk nobody has accepted yet);
- a reorder suggestion that respects the part's supplier lead time: the first date the
  pieces on hand no longer cover the needs in date order is the shortfall date; the order must
  go out a lead time before it (order-by = shortfall date - lead time), and it covers every
  need until a lead time after its delivery plus the part's safety stock, minus what is on
  hand. In words: "order now", "order by DATE" or "nothing to order".

A part that is not in the catalog has no lead time: its advice says so instead of a date.
Needs without a date (a reservation without a planned window) count as due now. Dates are UTC
calendar days. docs/SERVICE.md describes it with an example.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.store.api import CatalogPart, Outlook, Reservation, StockRow, Store

DAY = 86400.0
WEEK = 7 * DAY
HORIZONS: tuple[int, ...] = (4, 8, 12)


@dataclass(frozen=True, slots=True)
class PartNeed:
    """Pieces of a part number needed by a date (None: undated, due now)."""

    part_number: str
    qty: int
    need_by: float | None
    source: str  # committed | forecast
    asset_id: str = ""
    proposal_id: str = ""


@dataclass(frozen=True, slots=True)
class PartDemand:
    """One part number's demand and what to order."""

    part_number: str
    description: str
    catalogued: bool
    lead_time_days: float | None
    safety_stock: int
    on_hand: int
    reserved: int  # pieces open reservations hold on shelves
    shortage: int  # pieces open reservations hold that no shelf has (must be ordered)
    committed: dict[int, int]  # weeks -> pieces (cumulative, overdue included)
    forecast: dict[int, int]
    shortfall_at: float | None  # when the pieces on hand stop covering the needs
    order_by: float | None  # shortfall_at - lead time (None: nothing to order / no lead time)
    order_qty: int
    advice: str  # "order now ...", "order by YYYY-MM-DD ...", "nothing to order ..."
    needs: tuple[PartNeed, ...] = field(default=())

    @property
    def free(self) -> int:
        """Pieces on hand no open reservation holds (negative: more held than on hand)."""
        return self.on_hand - self.reserved - self.shortage


def day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


def committed_needs(reservations: Iterable[Reservation]) -> list[PartNeed]:
    return [
        PartNeed(r.part_number, r.qty, r.need_by, "committed", r.asset_id, r.proposal_id)
        for r in reservations
        if r.state == "reserved"
    ]


def forecast_needs(outlooks: Iterable[Outlook], committed: Sequence[PartNeed]) -> list[PartNeed]:
    """The outlook's dated parts needs less what open reservations for that asset and part
    number already hold (an accepted proposal covers its asset's risk)."""
    held: dict[tuple[str, str], int] = {}
    for n in committed:
        if n.asset_id:
            key = (n.asset_id, n.part_number)
            held[key] = held.get(key, 0) + n.qty
    out = []
    for o in outlooks:
        if o.need_by_ts is None:
            continue
        for part_number, qty in o.parts_needed:
            left = qty - held.get((o.asset_id, part_number), 0)
            if left > 0:
                out.append(PartNeed(part_number, left, o.need_by_ts, "forecast", o.asset_id))
    return out


def _within(needs: Iterable[PartNeed], now: float, horizons: Sequence[int]) -> dict[int, int]:
    """Cumulative pieces needed before each horizon (undated and overdue ones in all)."""
    return {
        h: sum(n.qty for n in needs if n.need_by is None or n.need_by < now + h * WEEK)
        for h in horizons
    }


def _first_short(needs: Sequence[PartNeed], have: int, now: float) -> float | None:
    """When the needs in date order first exceed `have` pieces (None: never)."""
    running = 0
    for n in needs:
        running += n.qty
        if running > have:
            return now if n.need_by is None else max(now, n.need_by)
    return None


def _advice(
    part: CatalogPart | None, on_hand: int, needs: Sequence[PartNeed], now: float
) -> tuple[float | None, float | None, int, str]:
    """(shortfall date, order-by, quantity, advice in words) for one part number.

    The shortfall is when a need finds no piece; the order is timed on when the stock would
    first dip into the safety stock (the same date without one)."""
    safety = part.safety_stock if part is not None else 0
    dated = sorted(needs, key=lambda n: -math.inf if n.need_by is None else n.need_by)
    shortfall = _first_short(dated, on_hand, now)
    breach = now if safety > on_hand else _first_short(dated, on_hand - safety, now)
    if breach is None:
        if not dated:
            return None, None, 0, "nothing to order: no known need"
        return None, None, 0, "nothing to order: stock covers every known need"
    if part is None:
        need = max(0, sum(n.qty for n in dated) - on_hand)
        return (
            shortfall,
            None,
            need,
            f"not in the catalog: {need} short by {day(breach)}, and no lead time to say"
            " when to order (add it to the price list)",
        )
    lead = part.lead_time_days * DAY
    order_by = breach - lead
    arrive = max(now, order_by) + lead
    # Cover every need until a lead time after delivery: the soonest a next order could land.
    cover = sum(n.qty for n in dated if n.need_by is None or n.need_by <= arrive + lead)
    qty = max(1, cover + safety - on_hand)
    why = (
        f"needed {day(shortfall)}"
        if shortfall is not None
        else f"to keep the safety stock of {safety}"
    )
    words = f"{qty} ({why}, lead time {part.lead_time_days:g} d)"
    if order_by > now:
        return shortfall, order_by, qty, f"order by {day(order_by)}: {words}"
    late = 0.0 if shortfall is None else (now + lead - shortfall) / DAY
    tail = f"; even now it arrives {math.ceil(late)} d after that need" if late >= 1 else ""
    return shortfall, order_by, qty, f"order now: {words}{tail}"


def plan_parts(
    catalog: Sequence[CatalogPart],
    stock: Sequence[StockRow],
    reservations: Sequence[Reservation],
    outlooks: Sequence[Outlook],
    now: float,
    horizons: Sequence[int] = HORIZONS,
) -> list[PartDemand]:
    """Demand and advice for every part number the catalog, the stock, an open reservation
    or the outlook names; the most urgent order first, then by part number."""
    committed = committed_needs(reservations)
    forecast = forecast_needs(outlooks, committed)
    parts = {p.part_number: p for p in catalog}
    on_hand: dict[str, int] = {}
    held: dict[str, int] = {}
    for s in stock:
        on_hand[s.part_number] = on_hand.get(s.part_number, 0) + s.on_hand
    short: dict[str, int] = {}
    for r in reservations:
        if r.state == "reserved":
            book = short if r.shortage else held
            book[r.part_number] = book.get(r.part_number, 0) + r.qty
    by_part: dict[str, list[PartNeed]] = {}
    for n in [*committed, *forecast]:
        by_part.setdefault(n.part_number, []).append(n)
    numbers = set(parts) | set(on_hand) | set(by_part)
    out = []
    for pn in numbers:
        part = parts.get(pn)
        mine = by_part.get(pn, [])
        shortfall, order_by, qty, advice = _advice(part, on_hand.get(pn, 0), mine, now)
        out.append(
            PartDemand(
                part_number=pn,
                description=part.description if part else "",
                catalogued=part is not None,
                lead_time_days=part.lead_time_days if part else None,
                safety_stock=part.safety_stock if part else 0,
                on_hand=on_hand.get(pn, 0),
                reserved=held.get(pn, 0),
                shortage=short.get(pn, 0),
                committed=_within([n for n in mine if n.source == "committed"], now, horizons),
                forecast=_within([n for n in mine if n.source == "forecast"], now, horizons),
                shortfall_at=shortfall,
                order_by=order_by,
                order_qty=qty,
                advice=advice,
                needs=tuple(mine),
            )
        )
    far = math.inf
    return sorted(
        out,
        key=lambda d: (
            d.order_by
            if d.order_by is not None
            else (d.shortfall_at or far)
            if d.order_qty
            else far,
            d.part_number,
        ),
    )


def plan_from_store(store: Store, now: float) -> list[PartDemand]:
    """`plan_parts` over the store's books and outlooks."""
    return plan_parts(store.catalog(), store.stock(), store.reservations(), store.outlooks(), now)


def demand_json(rows: Sequence[PartDemand]) -> list[dict[str, Any]]:
    """The demand as JSON-able dicts (the CLI's --json and the page's API share it)."""
    out = []
    for r in rows:
        out.append(
            {
                "part_number": r.part_number,
                "description": r.description,
                "catalogued": r.catalogued,
                "lead_time_days": r.lead_time_days,
                "safety_stock": r.safety_stock,
                "on_hand": r.on_hand,
                "reserved": r.reserved,
                "shortage": r.shortage,
                "free": r.free,
                **{f"committed_{h}w": r.committed.get(h, 0) for h in HORIZONS},
                **{f"forecast_{h}w": r.forecast.get(h, 0) for h in HORIZONS},
                "shortfall_date": None if r.shortfall_at is None else day(r.shortfall_at),
                "order_by": None if r.order_by is None else day(r.order_by),
                "order_qty": r.order_qty,
                "advice": r.advice,
                # where the numbers come from: each need, soonest first
                "needs": [
                    {
                        "source": n.source,
                        "qty": n.qty,
                        "need_by": None if n.need_by is None else day(n.need_by),
                        "asset_id": n.asset_id,
                        "proposal_id": n.proposal_id,
                    }
                    for n in sorted(r.needs, key=lambda n: n.need_by or -math.inf)
                ],
            }
        )
    return out
