"""`kizashi service ...` (service log) and `kizashi window ...` (maintenance windows).

    kizashi service add ASSET --kind inspection|replacement|failure [--part P] [--date D]
                        [--finding TEXT] [--by NAME]
                        [--acted-on-warning [--downtime-avoided-h H]]
    kizashi service list [ASSET]
    kizashi window add SITE --start ISO --end ISO [--note TEXT]
                        (times without an offset are the site's local time: `kizashi site`)
    kizashi window list [SITE]      (in each site's local time, with its UTC offset)
    kizashi window rm WINDOW_ID
All take --db URL or --config FILE (gateway.config.store_url: the gateway's own database).
A window's site must exist (a misspelt site is refused; --new-site for a site without assets
yet), a window that already ended needs --past, and windows of one site may not overlap.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Sequence

from gateway import service_entry as rules
from gateway.config import add_store_options, store_url
from gateway.registry_cli import check_site_name
from gateway.sitetime import iso_at, parse_local, zone
from gateway.store import open_store
from gateway.store.api import SERVICE_KINDS, MaintenanceWindow


def _db(ap: argparse.ArgumentParser) -> None:
    add_store_options(ap)


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog="kizashi service")
    _db(ap)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("add")
    a.add_argument("asset_id")
    a.add_argument("--kind", required=True, choices=SERVICE_KINDS)
    a.add_argument("--part", default="", help="part id or part number (registry)")
    a.add_argument("--date", default=None, help="YYYY-MM-DD, not in the future (default: today)")
    a.add_argument("--finding", default="")
    a.add_argument("--by", default="")
    a.add_argument(
        "--acted-on-warning",
        action="store_true",
        help="the work was done because of a Kizashi warning (downtime-avoided ledger)",
    )
    a.add_argument(
        "--downtime-avoided-h",
        type=float,
        default=0.0,
        help="unplanned downtime this avoided, hours (needs --acted-on-warning)",
    )
    a.add_argument(
        "--stop-h",
        type=float,
        default=None,
        help="hours the machine stood still for this job (a failure: its unplanned downtime)",
    )
    a.add_argument(
        "--repair-cost",
        type=float,
        default=None,
        help="what the job was invoiced, in the customer's currency (customer terms)",
    )
    ls = sub.add_parser("list")
    ls.add_argument("asset_id", nargs="?")
    args = ap.parse_args(list(argv))
    store = open_store(store_url(args))
    try:
        if args.cmd == "add":
            asset = store.asset(args.asset_id)
            if asset is None:
                print(f"kizashi service: no asset {args.asset_id}", file=sys.stderr)
                return 1
            # "Today" is the site's calendar day (a Tokyo morning is still yesterday in UTC).
            tz = {s.name: s.tz for s in store.sites()}.get(asset.site)
            entry = rules.build_entry(
                asset,
                args.kind,
                dt.datetime.now(zone(tz)).date(),
                date=args.date,
                part=args.part,
                finding=args.finding,
                by=args.by,
                acted_on_warning=args.acted_on_warning,
                downtime_avoided_h=args.downtime_avoided_h,
                store=store,
                tz=tz,
                stop_h=args.stop_h,
                repair_cost=args.repair_cost,
            )
            print(store.add_service_entry(entry))
        else:
            for e in store.service_log(args.asset_id):
                ledger = f"warning:{e.downtime_avoided_h:g}h" if e.acted_on_warning else ""
                print(
                    f"{e.entry_id}\t{e.date}\t{e.asset_id}\t{e.kind}\t{e.part_id}\t{e.finding}"
                    f"\t{ledger}"
                )
    except ValueError as e:
        print(f"kizashi service: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0


def window_main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog="kizashi window")
    _db(ap)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("add")
    a.add_argument("site")
    a.add_argument(
        "--start", required=True, help="ISO date/time; without an offset, the site's local time"
    )
    a.add_argument("--end", required=True, help="as --start")
    a.add_argument("--note", default="")
    a.add_argument("--new-site", action="store_true", help="the site has no asset yet")
    a.add_argument("--past", action="store_true", help="record a stop that already ended")
    ls = sub.add_parser("list")
    ls.add_argument("site", nargs="?")
    rm = sub.add_parser("rm", help="delete a window (its id from `window list`)")
    rm.add_argument("window_id", type=int)
    args = ap.parse_args(list(argv))

    store = open_store(store_url(args))
    try:
        zones = {s.name: s.tz for s in store.sites()}
        if args.cmd == "add":
            check_site_name(args.site, list(zones), args.new_site)
            tz = zones.get(args.site, "UTC")
            start, end = parse_local(args.start, tz), parse_local(args.end, tz)
            if end <= time.time() and not args.past:
                raise ValueError("the window has already ended (--past to record it anyway)")
            for w in store.windows(args.site):
                if w.start < end and start < w.end:
                    raise ValueError(
                        f"overlaps window {w.window_id} ({iso_at(w.start, tz)} .. "
                        f"{iso_at(w.end, tz)}); change or `window rm` that one first"
                    )
            print(store.add_window(MaintenanceWindow(args.site, start, end, args.note)))
        elif args.cmd == "rm":
            if not store.delete_window(args.window_id):
                print(f"kizashi window: no window {args.window_id}", file=sys.stderr)
                return 1
        else:
            for w in store.windows(args.site):
                tz = zones.get(w.site, "UTC")
                s, e = iso_at(w.start, tz), iso_at(w.end, tz)
                print(f"{w.window_id}\t{w.site}\t{s}\t{e}\t{w.note}")
    except ValueError as e:
        print(f"kizashi window: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0
