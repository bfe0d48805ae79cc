"""`kizashi asset ...`: edit the asset registry (node -> asset, site, machine, parts).

    kizashi asset add ASSET --site S --machine M [--node N] [--group G] [--description D]
                        [--zones AB,BC,CD] [--temp-source SRC]
    kizashi asset list [--site S] [--json]
    kizashi asset set ASSET [--site S] [--machine M] [--group G] [--description D]
                        [--zones AB,BC,CD | --zones group] [--temp-source SRC]
    kizashi asset bind ASSET NODE        (a node belongs to one asset; rebinding moves it)
    kizashi asset unbind ASSET
    kizashi asset part ASSET PART_ID --name N [--number PN] [--l10-h H] [--lead-days D]
    kizashi asset rm ASSET
All take --db URL or --config FILE (gateway.config.store_url: the gateway's own database).
A site not in the registry yet is refused (a typo) unless --new-site; a node must be
provisioned (`kizashi node add`) or already seen by the gateway.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.config import add_store_options, secrets_path, store_url
from gateway.domain import TEMP_SOURCES, ZONE_LIMITS
from gateway.store import open_store
from gateway.store.api import Asset, Part, Store, parse_zone_limits

__all__ = ["add_asset", "bind_node", "main", "set_part"]


def add_asset(store: Store, asset: Asset) -> None:
    if store.asset(asset.asset_id) is not None:
        raise ValueError(f"asset {asset.asset_id} exists (use `asset set`)")
    store.upsert_asset(asset)


def bind_node(store: Store, asset_id: str, node_id: str | None) -> Asset:
    a = store.asset(asset_id)
    if a is None:
        raise KeyError(asset_id)
    a = dataclasses.replace(a, node_id=node_id)
    store.upsert_asset(a)
    return a


def set_part(store: Store, asset_id: str, part: Part) -> Asset:
    a = store.asset(asset_id)
    if a is None:
        raise KeyError(asset_id)
    parts = (*(p for p in a.parts if p.part_id != part.part_id), part)
    a = dataclasses.replace(a, parts=tuple(sorted(parts, key=lambda p: p.part_id)))
    store.upsert_asset(a)
    return a


GROUP_HELP = (
    "severity zones by ISO 10816/20816 machine group or class: "
    + ", ".join(ZONE_LIMITS)
    + " (default group2_rigid: 15-300 kW on rigid foundations)"
)
ZONES_HELP = (
    "the asset's own velocity limits A/B,B/C,C/D in mm/s (e.g. the maker's), instead of its "
    "group's; 'group' goes back to the group's"
)
TEMP_HELP = (
    "where the asset's node takes the temperature from, pushed in its configuration: auto "
    "(what the board has fitted, default), ds18b20 (the probe), sensor or board (a die), none"
)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="kizashi asset")
    add_store_options(ap)
    ap.add_argument("--secrets", help="secrets directory, to check node ids (as `kizashi node`)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("add")
    a.add_argument("asset_id")
    a.add_argument("--site", required=True)
    a.add_argument("--new-site", action="store_true", help="the site is new (not a typo)")
    a.add_argument("--machine", required=True)
    a.add_argument("--node", help="node id bound to this asset")
    a.add_argument("--group", default="group2_rigid", help=GROUP_HELP)
    a.add_argument("--description", default="")
    a.add_argument("--zones", help=ZONES_HELP)
    a.add_argument("--temp-source", default="auto", choices=TEMP_SOURCES, help=TEMP_HELP)
    ls = sub.add_parser("list")
    ls.add_argument("--site")
    ls.add_argument("--json", action="store_true")
    s = sub.add_parser("set")
    s.add_argument("asset_id")
    for opt in ("--site", "--machine", "--description"):
        s.add_argument(opt)
    s.add_argument("--new-site", action="store_true", help="the site is new (not a typo)")
    s.add_argument("--group", help=GROUP_HELP)
    s.add_argument("--zones", help=ZONES_HELP)
    s.add_argument("--temp-source", choices=TEMP_SOURCES, help=TEMP_HELP)
    b = sub.add_parser("bind")
    b.add_argument("asset_id")
    b.add_argument("node_id")
    u = sub.add_parser("unbind")
    u.add_argument("asset_id")
    p = sub.add_parser("part")
    p.add_argument("asset_id")
    p.add_argument("part_id")
    p.add_argument("--name", required=True)
    p.add_argument("--number", default="", help="part number (what the stores order)")
    p.add_argument("--l10-h", type=float, help="rated L10 life in running hours")
    p.add_argument("--lead-days", type=float, help="days from order to the part on site")
    r = sub.add_parser("rm")
    r.add_argument("asset_id")
    return ap


def check_site_name(site: str, known: Sequence[str], new_site: bool) -> None:
    """ValueError for a site the registry does not know, unless it is declared new (or there
    is no site yet to misspell), with the nearest known names."""
    if not site.strip():
        raise ValueError("site: empty")
    if new_site or site in known or not known:
        return
    near = difflib.get_close_matches(site, known, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(near)}?)" if near else ""
    raise ValueError(f"unknown site {site!r}{hint}; --new-site if it really is a new one")


def check_node_known(store: Store, node_id: str, secrets: Path) -> None:
    """ValueError unless the node is provisioned (secrets) or the gateway has heard it."""
    from gateway.provision import list_nodes

    if node_id in list_nodes(secrets) or store.node(node_id) is not None:
        return
    raise ValueError(
        f"node {node_id!r} is not provisioned in {secrets} and never seen: "
        "`kizashi node add` it first (or give --secrets / --config)"
    )


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    store = open_store(store_url(args))
    known = sorted({a.site for a in store.assets()} | {s.name for s in store.sites()})
    try:
        if args.cmd in ("add", "set") and args.site is not None:
            check_site_name(args.site, known, args.new_site)
        node = args.node if args.cmd == "add" else args.node_id if args.cmd == "bind" else None
        if node:
            check_node_known(store, node, secrets_path(args))
        if args.cmd == "add":
            add_asset(
                store,
                Asset(
                    args.asset_id,
                    args.site,
                    args.machine,
                    args.node,
                    args.group,
                    args.description,
                    zone_limits=parse_zone_limits(args.zones) if args.zones else None,
                    temp_source=args.temp_source,
                ),
            )
        elif args.cmd == "list":
            assets = store.assets(args.site)
            if args.json:
                print(json.dumps([dataclasses.asdict(a) for a in assets], indent=1))
            for a in [] if args.json else assets:
                zones = ",".join(f"{x:g}" for x in a.zone_limits) if a.zone_limits else "group"
                print(
                    f"{a.asset_id}\t{a.site}\t{a.machine}\t{a.node_id or '-'}"
                    f"\t{a.machine_group}\tzones={zones}\ttemp={a.temp_source}"
                )
                for part in a.parts:
                    print(
                        f"  {part.part_id}\t{part.name}\t{part.part_number}"
                        f"\tL10={part.rated_l10_h}h\tlead={part.lead_time_days}d"
                    )
        elif args.cmd == "set":
            cur = store.asset(args.asset_id)
            if cur is None:
                raise KeyError(args.asset_id)
            changes = {
                k: v
                for k, v in (
                    ("site", args.site),
                    ("machine", args.machine),
                    ("machine_group", args.group),
                    ("description", args.description),
                    ("temp_source", args.temp_source),
                )
                if v is not None
            }
            if args.zones is not None:
                changes["zone_limits"] = parse_zone_limits(args.zones)
            store.upsert_asset(dataclasses.replace(cur, **changes))
        elif args.cmd in ("bind", "unbind"):
            bind_node(store, args.asset_id, args.node_id if args.cmd == "bind" else None)
        elif args.cmd == "part":
            set_part(
                store,
                args.asset_id,
                Part(args.part_id, args.name, args.number, args.l10_h, args.lead_days),
            )
        elif args.cmd == "rm" and not store.delete_asset(args.asset_id):
            raise KeyError(args.asset_id)
    except KeyError as e:
        print(f"kizashi asset: no asset {e.args[0]}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"kizashi asset: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0
