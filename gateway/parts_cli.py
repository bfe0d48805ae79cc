"""`kizashi part ...`: the parts books (price list, stock, reservations) and the demand.

    kizashi part catalog add PN --price P --lead-days D [--currency EUR] [--labour-h H]
                             [--safety N] [--description TEXT]      (adds or replaces)
    kizashi part catalog list [--json]
    kizashi part stock set PN WAREHOUSE COUNT [--by NAME]           (a stock take)
    kizashi part stock adjust PN WAREHOUSE DELTA [--by NAME]        (+ received, - taken)
    kizashi part stock list [--part PN] [--json]
    kizashi part reservations list [--proposal ID] [--all] [--json]  (open ones unless --all)
    kizashi part demand [--json]       (4/8/12-week demand and what to order, gateway/parts.py)
All take --db URL or --config FILE. Bad input is refused with the reason (exit 2) and
nothing is written. docs/SERVICE.md describes the books and the demand.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from gateway.config import add_store_options, store_url
from gateway.parts import HORIZONS, PartDemand, day, demand_json, plan_from_store
from gateway.store import open_store
from gateway.store.api import CatalogPart, Store

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="kizashi part")
    add_store_options(ap)
    sub = ap.add_subparsers(dest="area", required=True)
    cat = sub.add_parser("catalog", help="the price list").add_subparsers(dest="cmd", required=True)
    a = cat.add_parser("add", help="add or replace a part number")
    a.add_argument("part_number")
    a.add_argument("--price", type=float, required=True, help="unit price")
    a.add_argument("--currency", default="EUR", help="three-letter code (default EUR)")
    a.add_argument("--lead-days", type=float, required=True, help="supplier lead time, days")
    a.add_argument("--labour-h", type=float, default=0.0, help="typical hours to fit it")
    a.add_argument("--safety", type=int, default=0, help="pieces to keep beyond known demand")
    a.add_argument("--description", default="")
    cl = cat.add_parser("list")
    cl.add_argument("--json", action="store_true")
    st = sub.add_parser("stock", help="pieces per warehouse").add_subparsers(
        dest="cmd", required=True
    )
    for name, count_help in (("set", "pieces counted"), ("adjust", "+received / -taken")):
        s = st.add_parser(name)
        s.add_argument("part_number")
        s.add_argument("warehouse")
        s.add_argument("count", type=int, help=count_help)
        s.add_argument("--by", default="cli", help="who counted or moved them")
    sl = st.add_parser("list")
    sl.add_argument("--part")
    sl.add_argument("--json", action="store_true")
    res = sub.add_parser("reservations", help="pieces held for proposals").add_subparsers(
        dest="cmd", required=True
    )
    rl = res.add_parser("list")
    rl.add_argument("--proposal")
    rl.add_argument("--all", action="store_true", help="released and consumed ones too")
    rl.add_argument("--json", action="store_true")
    d = sub.add_parser("demand", help="4/8/12-week demand and reorder advice")
    d.add_argument("--json", action="store_true")
    return ap


def _print_demand(rows: Sequence[PartDemand]) -> None:
    head = "part\ton_hand\tfree\t" + "\t".join(f"{h}w c+f" for h in HORIZONS) + "\tadvice"
    print(head)
    for r in rows:
        cols = "\t".join(f"{r.committed[h]}+{r.forecast[h]}" for h in HORIZONS)
        print(f"{r.part_number}\t{r.on_hand}\t{r.free}\t{cols}\t{r.advice}")
    print("(c+f: committed by accepted proposals + forecast from open risk, pieces)")


def _run(store: Store, args: argparse.Namespace) -> None:
    now = time.time()
    if args.area == "catalog" and args.cmd == "add":
        store.put_catalog_part(
            CatalogPart(
                args.part_number,
                args.description,
                args.price,
                args.currency,
                args.lead_days,
                args.labour_h,
                args.safety,
            )
        )
    elif args.area == "catalog":
        parts = store.catalog()
        if args.json:
            print(json.dumps([dataclasses.asdict(p) for p in parts], indent=1))
        for p in [] if args.json else parts:
            print(
                f"{p.part_number}\t{p.unit_price:.2f} {p.currency}\tlead={p.lead_time_days:g}d"
                f"\tlabour={p.labour_h:g}h\tsafety={p.safety_stock}\t{p.description}"
            )
    elif args.area == "stock" and args.cmd in ("set", "adjust"):
        change = store.set_stock if args.cmd == "set" else store.adjust_stock
        row = change(args.part_number, args.warehouse, args.count, args.by, now)
        print(f"{row.part_number} at {row.warehouse}: {row.on_hand} on hand, {row.free} free")
    elif args.area == "stock":
        rows = store.stock(args.part)
        if args.json:
            print(json.dumps([{**dataclasses.asdict(r), "free": r.free} for r in rows], indent=1))
        for r in [] if args.json else rows:
            print(f"{r.part_number}\t{r.warehouse}\ton_hand={r.on_hand}\treserved={r.reserved}")
    elif args.area == "reservations":
        res = [r for r in store.reservations(args.proposal) if args.all or r.state == "reserved"]
        if args.json:
            print(json.dumps([dataclasses.asdict(r) for r in res], indent=1))
        for h in [] if args.json else res:
            where = h.warehouse or "SHORT (to order)"
            need = "-" if h.need_by is None else day(h.need_by)
            print(
                f"{h.reservation_id}\t{h.proposal_id}\t{h.part_number}\t{h.qty}\t{where}"
                f"\t{h.state}\tneed_by={need}\tasset={h.asset_id or '-'}\tby={h.created_by}"
            )
    elif args.area == "demand":
        plan = plan_from_store(store, now)
        if args.json:
            stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
            print(json.dumps({"computed_at": stamp, "parts": demand_json(plan)}, indent=1))
        else:
            _print_demand(plan)


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    store = open_store(store_url(args))
    try:
        _run(store, args)
    except ValueError as e:
        print(f"kizashi part: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0
