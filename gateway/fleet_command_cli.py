"""`kizashi fleet command --config FLEET.toml ...`: commands from the fleet server to its sites.

    list    [--origin GW] [--state pending|done|refused|superseded] [--limit N]
    asset   ASSET [--zones 2.0,4.5,7.1|group] [--temp-source S] [--group G] [--description D]
    node    NODE (--asset ASSET | --none)
    service ASSET --kind K [--date YYYY-MM-DD] [--part P] [--finding TEXT] [--by NAME]
    window  SITE --start ISO --end ISO [--note TEXT]      (times without offset: the site's)
    periods GW [--report-s N] [--window-s N]              (the site's node periods; none: reset)
    update  --origin GW --build DIR --version V (--node ID ... | --site S | --all)
            [--canary-share 0.1] [--secrets DIR]
    prior   [--force]                                     (the fleet prior and the warning
                                                           thresholds, learned from every site)

Each command is queued in the central store for the site gateway that owns the asset, node or
site (the fleet server sends it: gateway/uplink/commands.py) and printed with its id; `list`
shows where each stands, a refused one with the site's reason. The site applies it with its
own rules, so what this command can check here it checks first, with a clear error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.fleet_server import load_fleet_config
from gateway.service_entry import build_entry
from gateway.sitetime import local, parse_local
from gateway.store import open_store
from gateway.store.api import parse_zone_limits
from gateway.store.sql import SqlStore
from gateway.updates import fleet_key, make_build
from gateway.uplink.fleet_prior import PriorPublisher
from gateway.uplink.site_commands import rollout_args

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="kizashi fleet command", description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="the fleet server's TOML file")
    ap.add_argument("--by", default="cli", help="who asks (kept with the command)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list")
    ls.add_argument("--origin")
    ls.add_argument("--state")
    ls.add_argument("--limit", type=int, default=50)
    a = sub.add_parser("asset")
    a.add_argument("asset")
    a.add_argument("--zones")
    a.add_argument("--temp-source")
    a.add_argument("--group")
    a.add_argument("--description")
    n = sub.add_parser("node")
    n.add_argument("node")
    who = n.add_mutually_exclusive_group(required=True)
    who.add_argument("--asset")
    who.add_argument("--none", action="store_true")
    s = sub.add_parser("service")
    s.add_argument("asset")
    s.add_argument("--kind", required=True)
    s.add_argument("--date")
    s.add_argument("--part", default="")
    s.add_argument("--finding", default="")
    w = sub.add_parser("window")
    w.add_argument("site")
    w.add_argument("--start", required=True)
    w.add_argument("--end", required=True)
    w.add_argument("--note", default="")
    pr = sub.add_parser("periods")
    pr.add_argument("origin")
    pr.add_argument("--report-s", type=int)
    pr.add_argument("--window-s", type=int)
    u = sub.add_parser("update")
    u.add_argument("--origin", required=True)
    u.add_argument("--build", type=Path, required=True)
    u.add_argument("--version", required=True)
    target = u.add_mutually_exclusive_group(required=True)
    target.add_argument("--node", action="append")
    target.add_argument("--site")
    target.add_argument("--all", action="store_true")
    u.add_argument("--canary-share", type=float, default=0.1)
    u.add_argument("--secrets", type=Path, help="holds the fleet key (default data_dir/secrets)")
    p = sub.add_parser("prior")
    p.add_argument("--force", action="store_true", help="send even if unchanged")
    return ap


def _owner(store: SqlStore, kind: str, key: str) -> str:
    origin = store.fleet_owner(kind, key)
    if origin is None:
        raise ValueError(f"{kind} {key!r} belongs to no site gateway of this fleet server")
    return origin


def _queue(store: SqlStore, origin: str, kind: str, args: dict[str, Any], by: str) -> int:
    cid = store.queue_fleet_command(origin, kind, args, by)
    print(f"command {cid} ({kind}) queued for {origin}")
    return cid


def _run(store: SqlStore, args: argparse.Namespace, origins: dict[str, str], base: Path) -> None:
    if args.cmd == "list":
        for c in store.fleet_commands(args.origin, args.state, args.limit):
            when = dt.datetime.fromtimestamp(c.created, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
            why = f": {c.reason}" if c.reason else ""
            print(f"{c.command_id}\t{c.origin}\t{c.kind}\t{when}\t{c.state}{why}")
        return
    if args.cmd == "asset":
        fields: dict[str, Any] = {"asset_id": args.asset}
        if args.zones is not None:
            parse_zone_limits(args.zones)
            fields["zones"] = args.zones
        for key, value in (("temp_source", args.temp_source), ("machine_group", args.group),
                           ("description", args.description)):  # fmt: skip
            if value:
                fields[key] = value
        _queue(store, _owner(store, "asset", args.asset), "asset_update", fields, args.by)
    elif args.cmd == "node":
        origin = _owner(store, "node", args.node)
        if args.asset and _owner(store, "asset", args.asset) != origin:
            raise ValueError("a node can only go to an asset of its own site gateway")
        _queue(store, origin, "node_assign", {"node_id": args.node, "asset_id": args.asset},
               args.by)  # fmt: skip
    elif args.cmd == "service":
        a = store.asset(args.asset)
        if a is None:
            raise ValueError(f"no asset {args.asset!r}")
        tz = {s.name: s.tz for s in store.sites()}.get(a.site, "UTC")
        today = local(dt.datetime.now(dt.UTC).timestamp(), tz).date()
        e = build_entry(
            a, args.kind, today, date=args.date, part=args.part, finding=args.finding, by=args.by
        )
        entry = {"asset_id": e.asset_id, "kind": e.kind, "date": e.date, "part": e.part_id,
                 "finding": e.finding, "by": e.by}  # fmt: skip
        _queue(store, _owner(store, "asset", a.asset_id), "service_add", entry, args.by)
    elif args.cmd == "window":
        tz = {s.name: s.tz for s in store.sites()}.get(args.site, "UTC")
        start, end = parse_local(args.start, tz), parse_local(args.end, tz)
        if not end > start:
            raise ValueError("--end must be after --start")
        w = {"site": args.site, "start": start, "end": end, "note": args.note}
        _queue(store, _owner(store, "site", args.site), "window_add", w, args.by)
    elif args.cmd == "periods":
        if args.origin not in origins:
            raise ValueError(f"{args.origin!r} is not in [fleet.origins]")
        periods = {k: v for k, v in (("report_s", args.report_s), ("window_s", args.window_s))
                   if v is not None}  # fmt: skip
        _queue(store, args.origin, "node_periods", periods, args.by)
    elif args.cmd == "update":
        if args.origin not in origins:
            raise ValueError(f"{args.origin!r} is not in [fleet.origins]")
        build = make_build(args.build, args.version, fleet_key(args.secrets or base / "secrets"))
        cmd = rollout_args(build, args.node, args.site, args.all, args.canary_share)
        _queue(store, args.origin, "rollout", cmd, args.by)
    elif args.cmd == "prior":
        pub = PriorPublisher(store, origins)
        why = "unchanged, or not enough evidence: see the log"
        for what, n in (("fleet prior", pub.publish_prior(args.force)),
                        ("warning thresholds", pub.publish_thresholds(args.force))):  # fmt: skip
            print(f"{what} queued for {n} site gateway(s)" if n else f"{what} not queued ({why})")


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    cfg = load_fleet_config(args.config)
    store = open_store(cfg.database)
    try:
        if not isinstance(store, SqlStore):
            raise TypeError("the fleet server needs an SQL store")
        _run(store, args, cfg.origins, cfg.data_dir)
    except (ValueError, OSError) as e:
        print(f"kizashi fleet command: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0
