"""Parts demand split into committed and forecast, and reorder advice that respects the lead
time (gateway/parts.py), on hand-made books and outlooks; and once over a real store."""

from __future__ import annotations

from gateway.parts import DAY, WEEK, PartDemand, day, plan_from_store, plan_parts
from gateway.store.api import CatalogPart, Outlook, Reservation, StockRow, Store

NOW = 1_800_000_000.0  # 2027-01-15
BRG = CatalogPart("BRG", "bearing", 20.0, "EUR", lead_time_days=14.0, labour_h=1.0)


def outlook(
    asset_id: str, need_in_days: float | None, parts: tuple[tuple[str, int], ...]
) -> Outlook:
    need = None if need_in_days is None else NOW + need_in_days * DAY
    return Outlook(
        asset_id=asset_id, computed_at=NOW, zone="C", level_mm_s=5.0, level_n=10, level_ts=NOW,
        trend="rising", trend_pct_week=3.0, status="degrading", method="trend", status_text="",
        health_index=0.5, rul_p10_h=100.0, rul_p50_h=200.0, rul_p90_h=300.0, p10_ts=need,
        p50_ts=None, p90_ts=None, beyond_horizon=False, life_text="", hours_per_week=100.0,
        action="plan", reason="forecast", fault="bearing wear", part_id="de",
        part_number=parts[0][0] if parts else "", lead_time_days=14.0, need_by_ts=need,
        order_by_ts=None, window_id=None, window_start=None, window_end=None, action_text="",
        parts_needed=parts,
    )  # fmt: skip


def reserved(
    pid: str, qty: int, need_in_days: float | None, asset: str = "", wh: str = "main"
) -> Reservation:
    need = None if need_in_days is None else NOW + need_in_days * DAY
    return Reservation(1, pid, "BRG", wh, qty, "reserved", NOW, "anna", NOW, "anna", asset, need)


def one(rows: list[PartDemand], pn: str = "BRG") -> PartDemand:
    (row,) = [r for r in rows if r.part_number == pn]
    return row


def test_committed_and_forecast_split_by_horizon() -> None:
    res = [reserved("P-1", 1, 10, asset="a1"), reserved("P-2", 2, 40, asset="a2", wh="")]
    looks = [
        outlook("a1", 10, (("BRG", 1),)),  # covered by P-1: not forecast again
        outlook("a2", 40, (("BRG", 3),)),  # P-2 holds 2 of 3: 1 left as forecast
        outlook("a3", 70, (("BRG", 1),)),  # open risk in week 10
        outlook("a4", None, (("BRG", 1),)),  # no date: not a need the outlook asks for
    ]
    d = one(plan_parts([BRG], [StockRow("BRG", "main", 5)], res, looks, NOW))
    assert d.committed == {4: 1, 8: 3, 12: 3}
    assert d.forecast == {4: 0, 8: 1, 12: 2}
    assert (d.on_hand, d.reserved, d.shortage, d.free) == (5, 1, 2, 2)


def test_nothing_to_order_when_stock_covers_every_need() -> None:
    d = one(
        plan_parts([BRG], [StockRow("BRG", "main", 3)], [], [outlook("a", 20, (("BRG", 2),))], NOW)
    )
    assert (d.order_qty, d.order_by) == (0, None)
    assert d.advice == "nothing to order: stock covers every known need"
    empty = one(plan_parts([BRG], [], [], [], NOW))
    assert empty.advice == "nothing to order: no known need"


def test_order_by_is_the_shortfall_date_less_the_lead_time() -> None:
    looks = [outlook("a", 10, (("BRG", 1),)), outlook("b", 50, (("BRG", 2),))]
    d = one(plan_parts([BRG], [StockRow("BRG", "main", 1)], [], looks, NOW))
    # the piece on hand covers a; b's need on day 50 is short: order 14 days before it
    assert d.shortfall_at == NOW + 50 * DAY
    assert d.order_by == NOW + 36 * DAY
    # delivery on day 50 covers needs until day 64: b's 2 pieces + a's 1, less 1 on hand
    assert d.order_qty == 2
    assert (
        d.advice
        == f"order by {day(NOW + 36 * DAY)}: 2 (needed {day(NOW + 50 * DAY)}, lead time 14 d)"
    )


def test_order_now_says_when_even_now_is_too_late() -> None:
    looks = [outlook("a", 5, (("BRG", 2),))]
    d = one(plan_parts([BRG], [], [], looks, NOW))
    assert d.order_by is not None and d.order_by < NOW and d.order_qty == 2
    assert d.advice.startswith("order now: 2 (needed")
    assert d.advice.endswith("; even now it arrives 9 d after that need")  # 14 d lead, 5 d
    # in time, but only just: order now, no lateness
    d = one(plan_parts([BRG], [], [], [outlook("a", 14, (("BRG", 1),))], NOW))
    assert d.advice == f"order now: 1 (needed {day(NOW + 14 * DAY)}, lead time 14 d)"


def test_safety_stock_and_undated_reservations() -> None:
    safe = CatalogPart("BRG", "bearing", 20.0, "EUR", 14.0, 1.0, safety_stock=2)
    d = one(plan_parts([safe], [StockRow("BRG", "main", 1)], [], [], NOW))
    assert d.advice == "order now: 1 (to keep the safety stock of 2, lead time 14 d)"
    assert d.shortfall_at is None  # no need goes without a piece
    # the need on day 30 is covered, but takes the stock below safety: order by day 16
    d = one(
        plan_parts([safe], [StockRow("BRG", "main", 2)], [], [outlook("a", 30, (("BRG", 1),))], NOW)
    )
    assert d.order_by == NOW + 16 * DAY and d.order_qty == 1
    assert d.advice.startswith(f"order by {day(NOW + 16 * DAY)}: 1 (to keep the safety stock")
    d = one(plan_parts([BRG], [], [reserved("P-1", 2, None, wh="")], [], NOW))
    assert d.committed == {4: 2, 8: 2, 12: 2}  # undated: due now
    assert d.advice.startswith("order now: 2")


def test_uncatalogued_part_says_there_is_no_lead_time() -> None:
    d = one(plan_parts([], [], [], [outlook("a", 30, (("X-9", 1),))], NOW), "X-9")
    assert not d.catalogued and d.order_by is None and d.order_qty == 1
    assert "not in the catalog" in d.advice and "no lead time" in d.advice


def test_most_urgent_first() -> None:
    other = CatalogPart("SEAL", "seal", 3.0, "EUR", 2.0, 0.2)
    looks = [outlook("a", 60, (("BRG", 1),)), outlook("b", 3, (("SEAL", 1),))]
    rows = plan_parts([BRG, other], [], [], looks, NOW)
    assert [r.part_number for r in rows] == ["SEAL", "BRG"]
    assert WEEK == 7 * DAY


def test_plan_from_a_real_store(store: Store) -> None:
    store.put_catalog_part(BRG)
    store.set_stock("BRG", "main", 1, "anna")
    store.reserve_parts("P-1", [("BRG", 3)], "anna", NOW, asset_id="a1", need_by=NOW + 20 * DAY)
    store.write_outlooks([outlook("a1", 20, (("BRG", 1),)), outlook("a2", 30, (("BRG", 1),))])
    d = one(plan_from_store(store, NOW))
    assert d.committed == {4: 3, 8: 3, 12: 3} and d.forecast == {4: 0, 8: 1, 12: 1}
    assert (d.reserved, d.shortage, d.order_qty) == (1, 2, 3)
    assert d.order_by == NOW + 6 * DAY
