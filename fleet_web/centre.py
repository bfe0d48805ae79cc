"""The page at the fleet server (FLEET_ROLE): its writes become commands to the site gateways.

The site gateway is the source of truth for its registry, service log and windows: what the
centre stored itself would be overwritten (registry) or duplicated (entries) by the site's next
state. So a service entry, a planned stop, a ledger correction, an asset's limits, a site's
zone or a node's asset made on the centre's page is checked here as the site would (a clear 400
at once for what is wrong), then queued as a command for the site gateway that owns the asset
or site (gateway/uplink/commands.py). The site applies it with its own rules and its next state
brings it back up: the centre's page shows it from then on, once. The command's state (pending,
done, refused with the site's reason) is listed at /commands and /api/commands.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import g, has_request_context

from .adapter import StoreFleet
from .data import Row

__all__ = ["CentreFleet", "sent_or"]


def sent_or(text: str) -> str:
    """The flash message after a write: on the fleet server, where the write went."""
    sent = g.get("fleet_command") if has_request_context() else None
    if sent is None:
        return text
    origin, cid = sent
    return (
        f"Sent to site gateway {origin} as command {cid}: shown here once the site has"
        " applied it (see Commands)."
    )


class CentreFleet(StoreFleet):
    """StoreFleet whose writes are queued as commands to the owning site gateway."""

    def _user(self) -> str:
        user = g.get("user") if has_request_context() else None
        return str(user["name"]) if user else ""

    def _queue(self, owner_kind: str, key: str, kind: str, args: dict[str, Any]) -> int:
        origin = self.store.fleet_owner(owner_kind, key)
        if origin is None:
            raise ValueError(f"{owner_kind} {key!r} belongs to no site gateway of this fleet")
        return self._send(origin, kind, args, self._user())

    def _send(self, origin: str, kind: str, args: dict[str, Any], user: str) -> int:
        """Queue the command for `origin`; the request remembers it for sent_or's message."""
        cid = int(self.store.queue_fleet_command(origin, kind, args, user))
        if has_request_context():
            g.fleet_command = (origin, cid)
        return cid

    def record_service(
        self,
        asset_id: str,
        kind: str,
        user: str,
        note: str = "",
        part: str = "",
        acted_on_warning: bool = False,
        downtime_avoided_h: float = 0.0,
        date: str | None = None,
        stop_h: float | None = None,
        repair_cost: float | None = None,
    ) -> Row:
        entry = self._checked_entry(  # the site's rules, here first: a clear 400 at once
            asset_id, kind, user, note, part, acted_on_warning, downtime_avoided_h, date,
            stop_h, repair_cost,
        )  # fmt: skip
        args = {
            "asset_id": entry.asset_id, "kind": entry.kind, "date": entry.date,
            "part": entry.part_id, "finding": entry.finding, "by": entry.by,
            "acted_on_warning": entry.acted_on_warning,
            "downtime_avoided_h": entry.downtime_avoided_h,
            "stop_h": entry.stop_h, "repair_cost": entry.repair_cost,
        }  # fmt: skip
        cid = self._queue("asset", asset_id, "service_add", args)
        return {**self._service_row(dataclasses.replace(entry, entry_id=None)), "command_id": cid}

    def add_window(self, site: str, start: float, end: float, note: str = "") -> int:
        if not end > start:
            raise ValueError("a window must end after it starts")
        args = {"site": site, "start": start, "end": end, "note": note}
        return self._queue("site", site, "window_add", args)

    def set_site_zone(self, site: str, tz: str) -> None:
        from gateway.store.api import Site, check_site

        check_site(Site(site, tz))
        self._queue("site", site, "site_zone", {"site": site, "tz": tz})

    def correct_ledger(
        self, entry_id: int, acted_on_warning: bool, downtime_avoided_h: float, user: str
    ) -> Row:
        where = self.store.fleet_site_id("service", entry_id)
        old = next((s for s in self.store.service_log() if s.entry_id == entry_id), None)
        if where is None or old is None:
            raise KeyError(entry_id)
        origin, site_id = where
        args = {"entry_id": site_id, "acted_on_warning": acted_on_warning,
                "downtime_avoided_h": downtime_avoided_h}  # fmt: skip
        cid = self._send(origin, "ledger_set", args, user)
        return {**self._service_row(old), "command_id": cid}

    def update_asset(self, asset_id: str, fields: Row) -> None:
        from gateway.store.api import parse_zone_limits

        a = self.store.asset(asset_id)
        if a is None:
            raise KeyError(asset_id)
        if fields.get("site") and fields["site"] != a.site:
            raise ValueError("an asset moves to another site at its site gateway")
        args: dict[str, Any] = {"asset_id": asset_id}
        names = {"name": "description", "machine": "machine", "machine_group": "machine_group",
                 "temp_source": "temp_source"}  # fmt: skip
        for key, name in names.items():
            if fields.get(key):
                args[name] = str(fields[key])
        if fields.get("zones") is not None:
            parse_zone_limits(str(fields["zones"]))  # malformed: 400 here
            args["zones"] = str(fields["zones"])
        self._queue("asset", asset_id, "asset_update", args)

    def assign_node(self, node_id: str, asset_id: str | None) -> None:
        origin = self.store.fleet_owner("node", node_id)
        if asset_id is not None and self.store.fleet_owner("asset", asset_id) != origin:
            raise ValueError("a node can only go to an asset of its own site gateway")
        self._queue("node", node_id, "node_assign", {"node_id": node_id, "asset_id": asset_id})

    def commands(self, limit: int = 200) -> list[Row]:
        """The outbox, newest first: what was asked of which site and what became of it."""
        return [
            {"id": c.command_id, "origin": c.origin, "kind": c.kind, "by": c.by_user,
             "created": c.created, "state": c.state, "reason": c.reason, "sends": c.sends,
             "answered": c.answered, "summary": _summary(c.kind, c.args)}
            for c in self.store.fleet_commands(limit=limit)
        ]  # fmt: skip


def _summary(kind: str, args: dict[str, Any]) -> str:
    """A command's arguments in a line (a rollout's build bytes and what the centre learned
    left out)."""
    if kind == "rollout":
        return f"firmware {args.get('version', '?')}"
    if kind == "fleet_prior":
        running = f" and {args['running']} parts still running" if args.get("running") else ""
        return f"fleet prior from {args.get('lives', '?')} completed lives{running}"
    if kind == "warning_thresholds":
        groups = ", ".join(sorted(args.get("state", {}).get("groups", {})))
        return f"warning thresholds of {groups} from {args.get('outcomes', '?')} warning outcomes"
    return ", ".join(f"{k}={v}" for k, v in sorted(args.items()) if not isinstance(v, bytes))
