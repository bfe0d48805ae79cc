"""What a site gateway does with each command from the fleet server (gateway/uplink/commands.py).

Every command is applied with the site's own rules (the registry's checks, the service log's
rules, the site's time zone) and recorded with its id in the same transaction
(`Store.apply_command_once`): a command that arrives twice is applied once. A command the rules
refuse changes nothing and is answered `refused` with the reason. What follows is the site's
usual work: a registry edit is pushed to its node by the node configuration manager
(gateway/node_config.py) at its next check, a rollout is run by the rollout task
(gateway/rollout.py), and the site's next state forwarded carries the change back up, so the
centre shows what the site holds.

Kinds and arguments (all ids are the site's own):

- `asset_update` {asset_id, description?, machine?, machine_group?, zones? ("2,4.5,7.1" or
  "group"), temp_source?}; `node_assign` {node_id, asset_id or None};
- `service_add` {asset_id, kind, date?, part?, finding?, by?, acted_on_warning?,
  downtime_avoided_h?, stop_h?, repair_cost?}; `ledger_set` {entry_id, acted_on_warning,
  downtime_avoided_h};
- `window_add` {site, start, end, note?}; `window_delete` {window_id}; `site_zone` {site, tz};
- `node_periods` {report_s?, window_s?}: the site's report and window periods (they replace its
  `[node_config]` values; {} goes back to them), pushed to the nodes at the next check;
- `rollout` {version, manifest, signature, files [[name, bytes]], nodes? | site? | all?,
  canary_share?}: the build must carry a valid signature of this site's fleet key (the key its
  nodes trust), else it is refused here rather than by every node;
- `fleet_prior` {state}: the prior the centre fitted from every site's lives
  (FleetPrior.to_state()), used by this site's outlook from then on;
- `warning_thresholds` {state: {groups: {group: {thresholds: {name: value}, outcomes}}}}: the
  warning thresholds the centre tuned per machine group from every site's warning outcomes,
  used by this site's health monitor for those groups from its next step on (its own
  learning goes on for the thresholds and groups the centre sent none of).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.forecast.early_warning import WarningParams, with_thresholds
from gateway.forecast.prior import FleetPrior
from gateway.rollout import plan_rollout
from gateway.service_entry import build_entry, check_downtime, day_end, first_warning
from gateway.sitetime import local
from gateway.store.api import MaintenanceWindow, Site, parse_zone_limits
from gateway.store.sql import SqlStore
from gateway.updates import Build, fleet_public_key, signed_digest
from protocol import nodeconfig

__all__ = ["KINDS", "SiteCommands", "rollout_args"]

KINDS = (
    "asset_update", "node_assign", "service_add", "ledger_set", "window_add", "window_delete",
    "site_zone", "node_periods", "rollout", "fleet_prior", "warning_thresholds",
)  # fmt: skip


def rollout_args(
    build: Build,
    nodes: list[str] | None = None,
    site: str | None = None,
    all_nodes: bool = False,
    canary_share: float = 0.1,
) -> dict[str, Any]:
    """The arguments of a `rollout` command carrying `build` (signed, with its files)."""
    args: dict[str, Any] = {
        "version": build.version, "manifest": build.manifest, "signature": build.signature,
        "files": [[name, data] for name, data in build.files], "canary_share": canary_share,
    }  # fmt: skip
    if nodes:
        args["nodes"] = list(nodes)
    elif site:
        args["site"] = site
    elif all_nodes:
        args["all"] = True
    return args


def _str(args: dict[str, Any], key: str) -> str:
    v = args.get(key)
    if not isinstance(v, str) or not v:
        raise ValueError(f"argument {key!r} missing")
    return v


def _opt_float(args: dict[str, Any], key: str) -> float | None:
    """An optional number argument: None when absent (not recorded)."""
    v = args.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"argument {key!r} must be a number")
    return float(v)


class SiteCommands:
    """Apply commands to `store` (the site's), rollouts under `data_dir` with the fleet key of
    `secrets_dir`. `__call__` is CommandReceiver's `apply`."""

    def __init__(
        self,
        store: SqlStore,
        data_dir: Path,
        secrets_dir: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.data_dir = data_dir
        self.secrets_dir = secrets_dir
        self.clock = clock
        self.handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            k: getattr(self, k) for k in KINDS
        }

    def __call__(self, command_id: int, kind: str, args: dict[str, Any]) -> tuple[str, str]:
        handler = self.handlers.get(kind)
        if handler is None:
            prev = self.store.command_result(command_id)
            return prev if prev is not None else ("refused", f"unknown command kind {kind!r}")
        state, reason, _ = self.store.apply_command_once(command_id, kind, lambda: handler(args))
        return state, reason

    # ------------------------------------------------------------ registry
    def _asset(self, asset_id: Any) -> Any:
        a = self.store.asset(str(asset_id))
        if a is None:
            raise ValueError(f"no asset {asset_id!r} at this site")
        return a

    def asset_update(self, args: dict[str, Any]) -> None:
        a = self._asset(args.get("asset_id"))
        zones = args.get("zones")
        new = dataclasses.replace(
            a,
            description=str(args.get("description") or a.description),
            machine=str(args.get("machine") or a.machine),
            machine_group=str(args.get("machine_group") or a.machine_group),
            zone_limits=a.zone_limits if zones is None else parse_zone_limits(str(zones)),
            temp_source=str(args.get("temp_source") or a.temp_source),
        )
        self.store.upsert_asset(new)  # check_asset refuses a bad group, limits or source

    def node_assign(self, args: dict[str, Any]) -> None:
        node = _str(args, "node_id")
        asset_id = args.get("asset_id")
        target = None if asset_id is None else self._asset(asset_id)
        cur = self.store.asset_for_node(node)
        if cur is not None and (target is None or cur.asset_id != target.asset_id):
            self.store.upsert_asset(dataclasses.replace(cur, node_id=None))
        if target is not None:
            self.store.upsert_asset(dataclasses.replace(target, node_id=node))

    def site_zone(self, args: dict[str, Any]) -> None:
        site = _str(args, "site")
        if site not in {s.name for s in self.store.sites()}:
            raise ValueError(f"no site {site!r} at this site gateway")
        self.store.set_site(Site(site, _str(args, "tz")))  # refuses an unknown zone

    def node_periods(self, args: dict[str, Any]) -> None:
        periods = {k: int(args[k]) for k in ("report_s", "window_s") if args.get(k) is not None}
        changes = {**periods, "alarm_report_s": 1}  # the check below must not trip on it
        cfg, why = nodeconfig.merged(nodeconfig.DEFAULTS, changes)
        if cfg is None:
            raise ValueError(f"periods the nodes cannot take: {why}")
        self.store.set_node_periods(periods)

    # ------------------------------------------------------------ service log, windows
    def _tz(self, site: str) -> str:
        return {s.name: s.tz for s in self.store.sites()}.get(site, "UTC")

    def service_add(self, args: dict[str, Any]) -> None:
        a = self._asset(args.get("asset_id"))
        tz = self._tz(a.site)
        entry = build_entry(
            a,
            _str(args, "kind"),
            local(self.clock(), tz).date(),  # "today" at the asset's site
            date=args.get("date") or None,
            part=str(args.get("part") or ""),
            finding=str(args.get("finding") or ""),
            by=str(args.get("by") or ""),
            acted_on_warning=bool(args.get("acted_on_warning", False)),
            downtime_avoided_h=float(args.get("downtime_avoided_h") or 0.0),
            store=self.store,
            tz=tz,
            stop_h=_opt_float(args, "stop_h"),
            repair_cost=_opt_float(args, "repair_cost"),
        )
        self.store.add_service_entry(entry)

    def ledger_set(self, args: dict[str, Any]) -> None:
        eid = int(args["entry_id"])
        old = next((s for s in self.store.service_log() if s.entry_id == eid), None)
        if old is None:
            raise ValueError(f"no service entry {eid} at this site")
        a = self.store.asset(old.asset_id)
        tz = self._tz(a.site) if a else None
        warned = first_warning(self.store, a, old.date, tz) if a else None
        acted = bool(args.get("acted_on_warning", False))
        hours = check_downtime(
            float(args.get("downtime_avoided_h") or 0.0), acted, warned, day_end(old.date, tz)
        )
        self.store.set_ledger(eid, acted, hours)

    def window_add(self, args: dict[str, Any]) -> None:
        site = _str(args, "site")
        if site not in {s.name for s in self.store.sites()}:
            raise ValueError(f"no site {site!r} at this site gateway")
        start, end = float(args["start"]), float(args["end"])
        if not end > start:
            raise ValueError("a window must end after it starts")
        self.store.add_window(MaintenanceWindow(site, start, end, str(args.get("note") or "")))

    def window_delete(self, args: dict[str, Any]) -> None:
        if not self.store.delete_window(int(args["window_id"])):
            raise ValueError(f"no window {args['window_id']} at this site")

    # ------------------------------------------------------------ updates, what the centre learned
    def rollout(self, args: dict[str, Any]) -> None:
        manifest, sig = bytes(args["manifest"]), bytes(args["signature"])
        try:
            key = Ed25519PublicKey.from_public_bytes(fleet_public_key(self.secrets_dir))
            key.verify(sig, signed_digest(manifest))
        except InvalidSignature:
            raise ValueError("build not signed with this site's fleet key") from None
        doc = json.loads(manifest)
        files = tuple((str(n), bytes(d)) for n, d in args["files"])
        want = {str(n): (int(size), str(h)) for n, size, h in doc["files"]}
        have = {n: (len(d), hashlib.sha256(d).hexdigest()) for n, d in files}
        if want != have:
            raise ValueError("build files do not match the signed manifest")
        build = Build(str(doc["version"]), manifest, sig, files)
        nodes = [str(n) for n in args.get("nodes") or []]
        if not nodes:
            site = args.get("site")
            if site is None and not args.get("all"):
                raise ValueError("a rollout needs nodes, a site or all")
            assets = self.store.assets(site=str(site)) if site else self.store.assets()
            nodes = [a.node_id for a in assets if a.node_id]
        known = {n.node_id for n in self.store.nodes()} | {
            a.node_id for a in self.store.assets() if a.node_id
        }
        unknown = sorted(set(nodes) - known)
        if unknown:
            raise ValueError(f"unknown node(s) at this site: {', '.join(unknown)}")
        plan_rollout(
            self.data_dir, build, nodes, float(args.get("canary_share", 0.1)), self.clock()
        )

    def fleet_prior(self, args: dict[str, Any]) -> None:
        state = args["state"]
        try:
            if not isinstance(state, dict):
                raise TypeError("not a map")
            FleetPrior.from_state(state)  # refuse what the outlook could not read
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            raise ValueError(f"unreadable fleet prior: {e}") from None
        self.store.set_learned_state("fleet_prior", state)

    def warning_thresholds(self, args: dict[str, Any]) -> None:
        state = args["state"]
        try:
            groups = state["groups"]
            if not isinstance(groups, dict):
                raise TypeError("groups: not a map")
            for group, learned in groups.items():
                # refuse what the health monitor could not apply
                with_thresholds(WarningParams(), learned["thresholds"])
                if not isinstance(group, str) or int(learned["outcomes"]) < 1:
                    raise ValueError(f"group {group!r}: no outcomes")
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            raise ValueError(f"unreadable warning thresholds: {e}") from None
        self.store.set_learned_state("warning_thresholds", state)
