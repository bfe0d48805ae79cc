"""`kizashi site ...`: a site's time zone (how its times are shown and typed).

    kizashi site set NAME --tz Asia/Tokyo      (an IANA zone name; default of every site: UTC)
    kizashi site set NAME --shifts early=06-14,late=14-22,night=22-06
                                               (its shifts in its wall-clock hours; "" = these)
    kizashi site list [--json]
All take --db URL or --config FILE (gateway.config.store_url: the gateway's own database).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from gateway.config import add_store_options, store_url
from gateway.store import open_store
from gateway.store.api import Site


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog="kizashi site")
    add_store_options(ap)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("set", help="set a site's time zone and/or its shifts")
    s.add_argument("name")
    s.add_argument("--tz", help="IANA time zone, e.g. Asia/Tokyo, Europe/Berlin")
    s.add_argument(
        "--shifts",
        help='NAME=HH-HH,... in the site\'s hours (night=22-06 crosses midnight); ""'
        " = early=06-14,late=14-22,night=22-06",
    )
    ls = sub.add_parser("list")
    ls.add_argument("--json", action="store_true")
    args = ap.parse_args(list(argv))
    store = open_store(store_url(args))
    try:
        if args.cmd == "set":
            if args.tz is None and args.shifts is None:
                raise ValueError("give --tz, --shifts or both")
            if args.tz is not None:
                store.set_site(Site(args.name, args.tz))
            if args.shifts is not None:
                store.set_site_shifts(args.name, args.shifts)
        elif args.json:
            out = [{"name": x.name, "tz": x.tz, "shifts": x.shifts} for x in store.sites()]
            print(json.dumps(out, indent=1))
        else:
            for x in store.sites():
                print(f"{x.name}\t{x.tz}" + (f"\t{x.shifts}" if x.shifts else ""))
    except ValueError as e:
        print(f"kizashi site: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0
