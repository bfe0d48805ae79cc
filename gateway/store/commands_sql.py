"""The store's side of commands from the fleet server to its site gateways (docs/FLEET.md,
gateway/uplink/commands.py). A mixin of `SqlStore` like uplink_sql.py.

- At the centre, `fleet_commands` is the outbox: a command is queued with an id, stays
  `pending` until its site answers, then is `done` or `refused` (with the site's reason);
  `superseded` when a newer command of a kind that replaces the older one (what the centre
  learned from every site: the fleet prior, the warning thresholds) was queued before the older
  one was answered.
- At a site, `site_commands` holds every command id it answered: the command's effect and its
  id are written in ONE transaction, so a command that arrives twice (a resend after an outage,
  the broker's redelivery) is applied once and answered again with the same result.
- What the centre learned and sent is kept in `meta` under its kind (`fleet_prior`, read by
  the outlook; `warning_thresholds`, read by the health monitor); at the centre, the digest of
  what it last queued under the kind + `_sent`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import msgpack

from gateway.store.uplink_sql import _chunks

__all__ = ["COMMAND_STATES", "LEARNED_KINDS", "REPLACED_KINDS", "CommandsSql", "FleetCommand"]

COMMAND_STATES = ("pending", "done", "refused", "superseded")
# What the centre learns from every site and sends down (gateway/uplink/fleet_prior.py): a
# newer command of these kinds makes an older unanswered one of the same origin pointless.
LEARNED_KINDS = ("fleet_prior", "warning_thresholds")
REPLACED_KINDS = frozenset(LEARNED_KINDS)
PERIODS_KEY = "node_periods"
_COLS = "command_id, origin, kind, args, by_user, created, state, reason, sends, sent, answered"


@dataclass(frozen=True)
class FleetCommand:
    command_id: int
    origin: str
    kind: str
    args: dict[str, Any]
    by_user: str
    created: float
    state: str
    reason: str
    sends: int
    sent: float | None
    answered: float | None


def _command(r: Sequence[Any]) -> FleetCommand:
    args = msgpack.unpackb(bytes(r[3]), raw=False)
    return FleetCommand(
        int(r[0]), str(r[1]), str(r[2]), args, str(r[4]), float(r[5]), str(r[6]), str(r[7]),
        int(r[8]), None if r[9] is None else float(r[9]), None if r[10] is None else float(r[10]),
    )  # fmt: skip


class CommandsSql:
    """The outbox (centre) and the applied ids (site) over SqlStore's hooks."""

    _lock: Any
    data_errors: tuple[type[BaseException], ...]

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _savepoint(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _set_meta(self, key: str, value: str) -> None:
        raise NotImplementedError

    def _owner(self, kind: str, key: str) -> str | None:  # UplinkSql
        raise NotImplementedError

    # ------------------------------------------------------------ centre: the outbox
    def queue_fleet_command(
        self, origin: str, kind: str, args: dict[str, Any], by_user: str = ""
    ) -> int:
        """Queue a command for the site gateway `origin`; its id."""
        blob = msgpack.packb(args, use_bin_type=True)
        now = time.time()
        with self._lock, self._transaction():
            if kind in REPLACED_KINDS:
                self._q(
                    "UPDATE fleet_commands SET state = 'superseded', answered = ?"
                    " WHERE origin = ? AND kind = ? AND state = 'pending'",
                    (now, origin, kind),
                )
            rows = self._q(
                "INSERT INTO fleet_commands (origin, kind, args, by_user, created, state)"
                " VALUES (?, ?, ?, ?, ?, 'pending') RETURNING command_id",
                (origin, kind, blob, by_user, now),
            )
        return int(rows[0][0])

    def fleet_commands(
        self, origin: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[FleetCommand]:
        """Commands, newest first (all, or of one origin and/or state)."""
        where, params = [], []
        if origin is not None:
            where.append("origin = ?")
            params.append(origin)
        if state is not None:
            where.append("state = ?")
            params.append(state)
        sql = f"SELECT {_COLS} FROM fleet_commands"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._q(sql + " ORDER BY command_id DESC LIMIT ?", (*params, int(limit)))
        return [_command(r) for r in rows]

    def fleet_command(self, command_id: int) -> FleetCommand | None:
        with self._lock:
            rows = self._q(
                f"SELECT {_COLS} FROM fleet_commands WHERE command_id = ?", (command_id,)
            )
        return _command(rows[0]) if rows else None

    def pending_fleet_heads(self) -> dict[str, int]:
        """origin -> its oldest pending command id (commands go one at a time, in id order)."""
        with self._lock:
            rows = self._q(
                "SELECT origin, MIN(command_id) FROM fleet_commands WHERE state = 'pending'"
                " GROUP BY origin ORDER BY origin"
            )
        return {str(r[0]): int(r[1]) for r in rows}

    def fleet_commands_by_id(self, ids: Sequence[int]) -> list[FleetCommand]:
        """The commands with these ids (one query per 500), by id."""
        out: list[FleetCommand] = []
        with self._lock:
            for chunk in _chunks([int(i) for i in ids]):
                out += [
                    _command(r)
                    for r in self._q(
                        f"SELECT {_COLS} FROM fleet_commands WHERE command_id IN"
                        f" ({', '.join('?' * len(chunk))}) ORDER BY command_id",
                        chunk,
                    )
                ]
        return out

    def fleet_command_sent(self, command_ids: Sequence[int], ts: float) -> None:
        """Count one more send of each of these commands, at `ts`."""
        with self._lock, self._transaction():
            for chunk in _chunks([int(i) for i in command_ids]):
                self._q(
                    "UPDATE fleet_commands SET sends = sends + 1, sent = ? WHERE command_id IN"
                    f" ({', '.join('?' * len(chunk))})",
                    (ts, *chunk),
                )

    def answer_fleet_command(self, command_id: int, origin: str, state: str, reason: str) -> bool:
        """Record the site's answer; False when no pending command of `origin` has that id
        (an answer repeated, or one naming another site's command)."""
        if state not in ("done", "refused"):
            raise ValueError(f"unknown command state {state!r}")
        with self._lock, self._transaction():
            rows = self._q(
                "UPDATE fleet_commands SET state = ?, reason = ?, answered = ?"
                " WHERE command_id = ? AND origin = ? AND state = 'pending' RETURNING command_id",
                (state, reason[:500], time.time(), int(command_id), origin),
            )
        return bool(rows)

    def fleet_owner(self, kind: str, key: str) -> str | None:
        """The site gateway that forwarded `key` ('site', 'asset', 'node'), None if none."""
        with self._lock:
            return self._owner(kind, key)

    def fleet_site_id(self, kind: str, centre_id: int) -> tuple[str, int] | None:
        """(origin, the site's id) of a forwarded 'service' entry or 'window' the centre
        stores as `centre_id`; None when the centre made it or it is unknown."""
        with self._lock:
            rows = self._q(
                "SELECT origin, key FROM fleet_keys WHERE kind = ? AND local_id = ?",
                (kind, int(centre_id)),
            )
        if not rows:
            return None
        return str(rows[0][0]), int(str(rows[0][1]).rsplit(":", 1)[1])

    def set_learned_sent(self, kind: str, digest: str) -> None:
        with self._lock, self._transaction():
            self._set_meta(_learned_key(kind) + "_sent", digest)

    def learned_sent(self, kind: str) -> str:
        """Digest of what the centre last queued for its sites as `kind` ('' if never)."""
        with self._lock:
            rows = self._q("SELECT value FROM meta WHERE key = ?", (_learned_key(kind) + "_sent",))
        return str(rows[0][0]) if rows else ""

    # ------------------------------------------------------------ site: each id once
    def command_result(self, command_id: int) -> tuple[str, str] | None:
        """(state, reason) this site answered to `command_id`, None if never seen."""
        with self._lock:
            rows = self._q(
                "SELECT state, reason FROM site_commands WHERE command_id = ?", (int(command_id),)
            )
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def apply_command_once(
        self,
        command_id: int,
        kind: str,
        apply: Callable[[], None],
        refusals: tuple[type[BaseException], ...] = (ValueError, KeyError, PermissionError),
    ) -> tuple[str, str, bool]:
        """Run `apply` (store writes) and record `command_id` in one transaction, unless the
        id was answered before: (state, reason, applied now). An exception in `refusals`
        undoes what `apply` wrote and records the command as refused with its message."""
        with self._lock, self._transaction():
            rows = self._q(
                "SELECT state, reason FROM site_commands WHERE command_id = ?", (int(command_id),)
            )
            if rows:
                return str(rows[0][0]), str(rows[0][1]), False
            state, reason = "done", ""
            try:
                with self._savepoint():
                    apply()
            except (*refusals, *self.data_errors) as e:
                state, reason = "refused", (str(e) or type(e).__name__)[:500]
            self._q(
                "INSERT INTO site_commands (command_id, kind, state, reason, applied)"
                " VALUES (?, ?, ?, ?, ?)",
                (int(command_id), kind, state, reason, time.time()),
            )
        return state, reason, True

    def set_learned_state(self, kind: str, state: dict[str, Any]) -> None:
        """Keep what the centre learned and sent as `kind` (the fleet prior:
        FleetPrior.to_state(); the warning thresholds: group -> learned thresholds)."""
        with self._lock, self._transaction():
            self._set_meta(_learned_key(kind), json.dumps(state))

    def set_node_periods(self, periods: dict[str, int]) -> None:
        """The site's report and window periods as the fleet server set them (they replace
        `[node_config]` report_s / window_s); an empty map goes back to the config's."""
        with self._lock, self._transaction():
            self._set_meta(PERIODS_KEY, json.dumps(periods))

    def node_periods(self) -> dict[str, int]:
        """report_s / window_s the fleet server set for this site ({} = the config's)."""
        with self._lock:
            rows = self._q("SELECT value FROM meta WHERE key = ?", (PERIODS_KEY,))
        if not rows:
            return {}
        raw = json.loads(str(rows[0][0]))
        return {k: int(v) for k, v in raw.items() if k in ("report_s", "window_s")}

    def learned_state(self, kind: str) -> dict[str, Any] | None:
        """What the centre sent as `kind`, None when it sent none."""
        with self._lock:
            rows = self._q("SELECT value FROM meta WHERE key = ?", (_learned_key(kind),))
        if not rows:
            return None
        out: dict[str, Any] = json.loads(str(rows[0][0]))
        return out


def _learned_key(kind: str) -> str:
    """The meta key of a learned kind: the kind itself (`fleet_prior`: as stored before)."""
    if kind not in LEARNED_KINDS:
        raise ValueError(f"not a kind the centre learns: {kind!r}")
    return kind
