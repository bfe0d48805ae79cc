"""The store's fleet side (gateway/uplink, docs/FLEET.md): what a site gateway reads to forward,
and what the central fleet server writes when it applies a site's rows.

A mixin of `SqlStore` like outlook_sql.py. Two kinds of data travel:

- the append-only streams `frames` and `events`, read after a watermark in commit order (their
  ids) and applied at the centre together with the new watermark in ONE transaction, so a
  replayed message adds nothing (frames are also checked by (node, boot, seq));
- the site's state (sites, registry, service log with the warning outcomes its entries
  settled, windows, nodes, outlook), sent as a whole
  snapshot and applied idempotently: entries by the site's id (`fleet_keys` maps it to the
  centre's id), the rest by its natural key.

Every forwarded key is owned by one site gateway (the origin): a row whose node, asset or site
belongs to another origin is refused, logged and counted, never merged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import msgpack

from gateway.store.api import EventRecord, FrameRecord, WriteBatch
from gateway.store.outlook_sql import _COLUMNS as _OUTLOOK_COLUMNS
from gateway.store.outlook_sql import _UPSERT as _OUTLOOK_UPSERT
from gateway.store.outlook_sql import REGISTRY_KEY

log = logging.getLogger(__name__)

STREAMS = ("frames", "events")
_FRAME_SELECT = (
    "SELECT frame_id, node_id, boot_id, seq, kind, node_time, recv_time, ts, payload, flags,"
    " dropped, runtime_s, starts, acc_x, acc_y, acc_z, vel_x, vel_y, vel_z, peak_mg, kurt_x100,"
    " temp_c_x10, backfilled FROM frames WHERE frame_id > ? ORDER BY frame_id LIMIT ?"
)
_NODE_COLUMNS = (
    "node_id, boot_id, fw, board, sensor, birth_info, last_birth, last_seen, online, dropped,"
    " frames_received, frames_lost, gaps, clock_offset_s, resets"
)
_NODE_UPSERT = (
    f"INSERT INTO nodes ({_NODE_COLUMNS}) VALUES ({', '.join('?' * 15)})"
    " ON CONFLICT (node_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _NODE_COLUMNS.replace(" ", "").split(",")[1:])
)
_ASSET_UPSERT = (
    "INSERT INTO assets (asset_id, site, machine, node_id, machine_group, description,"
    " zone_ab, zone_bc, zone_cd, temp_source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (asset_id) DO UPDATE SET site = excluded.site, machine = excluded.machine,"
    " node_id = excluded.node_id, machine_group = excluded.machine_group,"
    " description = excluded.description, zone_ab = excluded.zone_ab,"
    " zone_bc = excluded.zone_bc, zone_cd = excluded.zone_cd,"
    " temp_source = excluded.temp_source"
)
# An asset row on the wire: the 9 columns of _ASSET_UPSERT before temp_source, its parts, then
# temp_source (added last, so a centre still reads a site that does not send it yet: 'auto').
_ASSET_PARTS, _ASSET_TEMP_SOURCE = 9, 10
_OUTLOOK_WINDOW = _OUTLOOK_COLUMNS.replace(" ", "").split(",").index("window_id")


FrameKey = tuple[str, int, int]  # (node, boot, seq): a frame's identity wherever it is stored


def _chunks(items: Sequence[Any], n: int = 500) -> Iterator[Sequence[Any]]:
    for k in range(0, len(items), n):
        yield items[k : k + n]


def _none3(row: Sequence[Any]) -> tuple[int, int, int] | None:
    return None if row[0] is None else (int(row[0]), int(row[1]), int(row[2]))


def frame_record(r: Sequence[Any]) -> FrameRecord:
    """A FrameRecord from the columns of _FRAME_SELECT after frame_id."""
    return FrameRecord(
        r[0], int(r[1]), int(r[2]), r[3], int(r[4]), float(r[5]), float(r[6]), bytes(r[7]),
        r[8], r[9], r[10], r[11], _none3(r[12:15]), _none3(r[15:18]), r[18], r[19], r[20],
        bool(r[21]),
    )  # fmt: skip


def _digest(value: Any) -> int:
    """A 63-bit digest of a msgpack-able value (fits a BIGINT column)."""
    raw = hashlib.sha256(msgpack.packb(value, use_bin_type=True)).digest()
    return int.from_bytes(raw[:8], "big") >> 1


def frame_from_wire(r: Sequence[Any]) -> FrameRecord:
    """A FrameRecord from its fields in order, as msgpack carries them (lists for tuples)."""
    acc, vel = r[12], r[13]
    return FrameRecord(
        str(r[0]), int(r[1]), int(r[2]), str(r[3]), int(r[4]), float(r[5]), float(r[6]),
        bytes(r[7]), r[8], r[9], r[10], r[11], None if acc is None else tuple(acc),
        None if vel is None else tuple(vel), r[14], r[15], r[16], bool(r[17]),
    )  # fmt: skip


@dataclass
class ApplyResult:
    """What one apply did at the centre: the watermark after it, rows stored and refused."""

    upto: int = 0
    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def refuse(self, reason: str, what: str, origin: str) -> None:
        self.refused += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        log.warning(
            "forwarded row refused", extra={"origin": origin, "reason": reason, "row": what}
        )


@dataclass
class FramesMessage:
    """A frames message of `origin` as the applier decoded it: rows with ids in (after, upto]."""

    origin: str
    after: int
    upto: int
    rows: Sequence[tuple[int, FrameRecord]]


class UplinkSql:
    """Forwarding reads (site) and idempotent applies (centre) over SqlStore's hooks."""

    _lock: Any

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _write_batch(self, batch: WriteBatch, isolate: bool = False) -> int:
        raise NotImplementedError

    def _insert_frames(self, frames: Sequence[FrameRecord]) -> None:
        raise NotImplementedError

    def _write_reports(self, frames: Sequence[FrameRecord], node_asset: dict[str, str]) -> None:
        raise NotImplementedError

    def _insert_new_frames(self, frames: Sequence[FrameRecord]) -> set[FrameKey] | None:
        """Insert `frames`, skipping the (node, boot, seq) already stored, in one statement;
        the keys it inserted. None where the backend cannot say (SQLite's executemany returns
        no rows): the caller then checks first (_existing_frames)."""
        return None

    def _registry_changed(self, ts: float) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ watermarks (both sides)
    def uplink_mark(self, origin: str, stream: str) -> int:
        """How far `stream` of `origin` is forwarded (site: acknowledged by the centre;
        centre: applied); 0 when never."""
        with self._lock:
            rows = self._q(
                "SELECT upto FROM uplink_marks WHERE origin = ? AND stream = ?", (origin, stream)
            )
        return int(rows[0][0]) if rows else 0

    def set_uplink_mark(self, origin: str, stream: str, upto: int) -> None:
        with self._lock, self._transaction():
            self._set_mark(origin, stream, upto)

    def _set_mark(self, origin: str, stream: str, upto: int) -> None:
        self._q(
            "INSERT INTO uplink_marks (origin, stream, upto, updated) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (origin, stream) DO UPDATE SET upto = excluded.upto,"
            " updated = excluded.updated",
            (origin, stream, int(upto), time.time()),
        )

    # ------------------------------------------------------------ site side: what to send
    def frames_after(self, frame_id: int, limit: int = 1000) -> list[tuple[int, FrameRecord]]:
        """Stored frames after `frame_id` in commit order, with their ids."""
        with self._lock:
            rows = self._q(_FRAME_SELECT, (int(frame_id), int(limit)))
        return [(int(r[0]), frame_record(r[1:])) for r in rows]

    def registry_stamp(self) -> str:
        """Changes whenever the registry or the windows change (the forwarder then sends the
        state before more frames, so the centre files them under the same assets)."""
        with self._lock:
            rows = self._q("SELECT value FROM meta WHERE key = ?", (REGISTRY_KEY,))
        return str(rows[0][0]) if rows else ""

    def event_rows_after(self, event_id: int, limit: int = 1000) -> list[list[Any]]:
        """Events after `event_id` as wire rows [id, ts, node, source, code, detail, boot, seq]."""
        with self._lock:
            rows = self._q(
                "SELECT event_id, ts, node_id, source, code, detail, boot_id, seq FROM events"
                " WHERE event_id > ? ORDER BY event_id LIMIT ?",
                (int(event_id), int(limit)),
            )
        return [[int(r[0]), float(r[1]), *r[2:5], r[5], r[6], r[7]] for r in rows]

    def state_snapshot(self) -> dict[str, list[list[Any]]]:
        """The site's state as plain rows (msgpack-able), read in one transaction."""
        with self._lock, self._transaction():
            parts: dict[str, list[list[Any]]] = {}
            for p in self._q(
                "SELECT asset_id, part_id, name, part_number, rated_l10_h, lead_time_days"
                " FROM parts ORDER BY asset_id, part_id"
            ):
                parts.setdefault(p[0], []).append(list(p[1:]))
            return {
                "sites": [list(r) for r in self._q("SELECT site, tz FROM sites ORDER BY site")],
                "assets": [
                    [*r[:_ASSET_PARTS], parts.get(r[0], []), r[_ASSET_PARTS]]
                    for r in self._q(
                        "SELECT asset_id, site, machine, node_id, machine_group, description,"
                        " zone_ab, zone_bc, zone_cd, temp_source FROM assets ORDER BY asset_id"
                    )
                ],
                "service": [
                    list(r)
                    for r in self._q(
                        "SELECT entry_id, asset_id, part_id, date, kind, finding, by_user,"
                        " acted_on_warning, downtime_avoided_h, stop_h, repair_cost"
                        " FROM service_log ORDER BY entry_id"
                    )
                ],
                # What the health monitor settled about warnings, by the entry that settled
                # it (the centre tunes each group's warning thresholds from every site's).
                "outcomes": [
                    [int(r[0]), r[1], r[2], float(r[3]), bool(r[4])]
                    for r in self._q(
                        "SELECT entry_id, machine_group, channel, peak_value, confirmed"
                        " FROM warning_outcomes ORDER BY entry_id"
                    )
                ],
                "windows": [
                    list(r)
                    for r in self._q(
                        "SELECT window_id, site, start_ts, end_ts, note FROM windows"
                        " ORDER BY window_id"
                    )
                ],
                "nodes": [
                    list(r) for r in self._q(f"SELECT {_NODE_COLUMNS} FROM nodes ORDER BY node_id")
                ],
                "outlooks": [
                    list(r)
                    for r in self._q(f"SELECT {_OUTLOOK_COLUMNS} FROM outlook ORDER BY asset_id")
                ],
            }

    # ------------------------------------------------------------ centre side: apply
    def set_origin(self, origin: str, customer: str) -> None:
        """Register a site gateway and its customer (from the centre's config)."""
        with self._lock, self._transaction():
            self._q(
                "INSERT INTO fleet_origins (origin, customer, last_seen) VALUES (?, ?, NULL)"
                " ON CONFLICT (origin) DO UPDATE SET customer = excluded.customer",
                (origin, customer),
            )

    def claim_site(self, site: str, origin: str) -> bool:
        """Tag `site` as `origin`'s (so its customer's users see it) without a forwarded row:
        the demo's one-gateway customers (kizashi/demo_story.py). False when another origin
        owns it already."""
        with self._lock, self._transaction():
            return self._claim("site", site, origin)

    def fleet_origins(self) -> dict[str, str]:
        """origin -> customer of every registered site gateway."""
        with self._lock:
            rows = self._q("SELECT origin, customer FROM fleet_origins ORDER BY origin")
        return {str(r[0]): str(r[1]) for r in rows}

    def site_customers(self) -> dict[str, str]:
        """site -> customer of every site a site gateway forwarded (its origin's customer)."""
        with self._lock:
            rows = self._q(
                "SELECT k.key, o.customer FROM fleet_keys k JOIN fleet_origins o"
                " ON o.origin = k.origin WHERE k.kind = 'site' ORDER BY k.key"
            )
        return {str(r[0]): str(r[1]) for r in rows}

    def _owner(self, kind: str, key: str) -> str | None:
        rows = self._q("SELECT origin FROM fleet_keys WHERE kind = ? AND key = ?", (kind, key))
        return str(rows[0][0]) if rows else None

    def _claim(self, kind: str, key: str, origin: str, local_id: int | None = None) -> bool:
        """True when `key` is (now) owned by `origin`; False when another origin owns it."""
        owner = self._owner(kind, key)
        if owner is None:
            self._q(
                "INSERT INTO fleet_keys (kind, key, origin, local_id) VALUES (?, ?, ?, ?)",
                (kind, key, origin, local_id),
            )
            return True
        return owner == origin

    def _claim_all(self, kind: str, keys: Sequence[str], origin: str) -> dict[str, bool]:
        """`_claim` for many keys in a few statements: key -> owned by `origin`. A key another
        applier claims at the same moment is read back, never taken twice (primary key)."""
        keys = sorted(set(keys))
        owners = self._owners(kind, keys)
        missing = [k for k in keys if k not in owners]
        if missing:
            self._many(
                "INSERT INTO fleet_keys (kind, key, origin, local_id) VALUES (?, ?, ?, NULL)"
                " ON CONFLICT DO NOTHING",
                [(kind, k, origin) for k in missing],
            )
            owners.update(self._owners(kind, missing))
        return {k: owners.get(k) == origin for k in keys}

    def _claim_nodes(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], bool]:
        """`_claim_all("node", ...)` for nodes of several origins: (origin, node) -> the node
        is (now) that origin's. A node no one owns goes to the first origin naming it."""
        owners = self._owners("node", [n for _, n in pairs])
        first: dict[str, str] = {}
        for o, n in pairs:
            if n not in owners:
                first.setdefault(n, o)
        if first:
            self._many(
                "INSERT INTO fleet_keys (kind, key, origin, local_id) VALUES ('node', ?, ?, NULL)"
                " ON CONFLICT DO NOTHING",
                sorted(first.items()),
            )
            owners.update(self._owners("node", list(first)))
        return {(o, n): owners.get(n) == o for o, n in pairs}

    def _owners(self, kind: str, keys: Sequence[str]) -> dict[str, str]:
        """key -> owning origin for those of `keys` some origin owns (`_owner` in a few
        statements)."""
        owners: dict[str, str] = {}
        for chunk in _chunks(sorted(set(keys))):
            marks = ", ".join("?" * len(chunk))
            for k, o in self._q(
                f"SELECT key, origin FROM fleet_keys WHERE kind = ? AND key IN ({marks})",
                (kind, *chunk),
            ):
                owners[str(k)] = str(o)
        return owners

    def _node_assets(self, nodes: Sequence[str]) -> dict[str, str]:
        """node -> asset for `nodes` only (the centre holds every site's assets)."""
        out: dict[str, str] = {}
        for chunk in _chunks(sorted(set(nodes))):
            for n, a in self._q(
                "SELECT node_id, asset_id FROM assets WHERE node_id IN"
                f" ({', '.join('?' * len(chunk))})",
                chunk,
            ):
                out[str(n)] = str(a)
        return out

    def _owned(self, kind: str, origin: str) -> dict[str, int | None]:
        rows = self._q(
            "SELECT key, local_id FROM fleet_keys WHERE kind = ? AND origin = ?", (kind, origin)
        )
        return {str(r[0]): None if r[1] is None else int(r[1]) for r in rows}

    def apply_frames(
        self, origin: str, after: int, upto: int, rows: Sequence[tuple[int, FrameRecord]]
    ) -> ApplyResult:
        """Store the frames of `origin` with ids in (after, upto] once, in one transaction with
        the new mark; the result says the mark after it.

        A message that starts beyond the applied mark (a gap: something was lost on the way)
        applies nothing and answers the old mark, so the site resends from there; one that
        ends at or below it (a replay) adds nothing."""
        return self.apply_frames_many([FramesMessage(origin, after, upto, rows)])[0]

    def apply_frames_many(self, messages: Sequence[FramesMessage]) -> list[ApplyResult]:
        """`apply_frames` for several messages (of different origins, or one origin's in
        order) in ONE transaction with one statement per step for all of them: the marks
        locked together, one claim read, one frame insert, one report write, one mark write.
        Each message keeps its own mark and check (a gap or a replay applies nothing), as if
        applied one after the other. The per-message cost (a transaction of about ten
        statements) dominates small messages, so a busy lane applies what is waiting together.
        Raises as apply_frames does (then nothing of the batch is stored)."""
        results = [ApplyResult() for _ in messages]
        if not messages:
            return results
        with self._lock, self._transaction():
            marks = self._marks_for_update(sorted({m.origin for m in messages}), "frames")
            taken: list[tuple[int, FrameRecord]] = []  # (message index, frame) past its mark
            moved: set[str] = set()  # origins whose mark this batch moves
            for i, m in enumerate(messages):
                res, mark = results[i], marks.get(m.origin, 0)
                res.upto = mark
                if m.after > mark or m.upto <= mark:
                    res.duplicates = len(m.rows) if m.upto <= mark else 0
                    continue
                for fid, f in m.rows:
                    if fid <= mark:
                        res.duplicates += 1
                    else:
                        taken.append((i, f))
                marks[m.origin] = res.upto = m.upto
                moved.add(m.origin)
            nodes_ok = self._claim_nodes([(messages[i].origin, f.node_id) for i, f in taken])
            fresh: list[tuple[int, FrameRecord]] = []
            for i, f in taken:
                if nodes_ok[(messages[i].origin, f.node_id)]:
                    fresh.append((i, f))
                else:
                    results[i].refuse("node_of_other_site", f.node_id, messages[i].origin)
            # recv_time at the centre is when the centre applied the frame: the page follows
            # new readings by it, and a site's clock (ahead or behind) must not hide the other
            # sites' readings from it. ts and node_time stay the site's.
            now = time.time()
            new = self._store_new_frames([f._replace(recv_time=now) for _, f in fresh])
            # which message each new frame came from: the first copy in batch order is new
            left = {(f.node_id, f.boot_id, f.seq) for f in new}
            for i, f in fresh:
                key = (f.node_id, f.boot_id, f.seq)
                if key in left:
                    left.discard(key)
                    results[i].stored += 1
                else:
                    results[i].duplicates += 1
            if new:
                self._write_reports(new, self._node_assets([f.node_id for f in new]))
            if moved:
                self._set_marks(sorted((o, marks[o]) for o in moved), "frames")
                self._touch_origins(sorted(moved))
        return results

    def _store_new_frames(self, frames: Sequence[FrameRecord]) -> list[FrameRecord]:
        """Insert the frames of `frames` not stored yet (by (node, boot, seq), also within
        `frames`); returns them, for the hourly sums (a frame counted twice would skew them)."""
        if not frames:
            return []
        inserted = self._insert_new_frames(frames)
        if inserted is None:
            stored = self._existing_frames(frames)
            seen: set[FrameKey] = set()
            new = []
            for f in frames:
                key = (f.node_id, f.boot_id, f.seq)
                if key not in stored and key not in seen:
                    seen.add(key)
                    new.append(f)
            self._insert_frames(new)
            return new
        out = []
        for f in frames:
            key = (f.node_id, f.boot_id, f.seq)
            if key in inserted:
                inserted.discard(key)  # a second copy within the message is not new
                out.append(f)
        return out

    def _existing_frames(self, frames: Sequence[FrameRecord]) -> set[tuple[str, int, int]]:
        """The (node, boot, seq) keys among `frames` the store holds already."""
        spans: dict[tuple[str, int], list[int]] = {}
        for f in frames:
            spans.setdefault((f.node_id, f.boot_id), []).append(f.seq)
        have: set[tuple[str, int, int]] = set()
        for (node, boot), seqs in spans.items():
            for r in self._q(
                "SELECT seq FROM frames WHERE node_id = ? AND boot_id = ? AND seq BETWEEN ? AND ?",
                (node, boot, min(seqs), max(seqs)),
            ):
                have.add((node, boot, int(r[0])))
        return have

    def apply_events(
        self, origin: str, after: int, upto: int, rows: Sequence[Sequence[Any]]
    ) -> ApplyResult:
        """Store the events of `origin` with ids in (after, upto] once (see apply_frames)."""
        res = ApplyResult()
        with self._lock, self._transaction():
            mark = self._mark_for_update(origin, "events")
            res.upto = mark
            if after > mark or upto <= mark:
                res.duplicates = len(rows) if upto <= mark else 0
                return res
            events: list[EventRecord] = []
            # the nodes' owners in one read, not one a row (the applier lanes' hot path)
            owners = self._owners("node", [str(r[2]) for r in rows if int(r[0]) > mark])
            for r in rows:
                if int(r[0]) <= mark:
                    res.duplicates += 1
                    continue
                node = str(r[2])
                owner = owners.get(node)
                if owner is not None and owner != origin:
                    res.refuse("node_of_other_site", node, origin)
                    continue
                detail = json.loads(r[5]) if isinstance(r[5], str) else dict(r[5])
                events.append(
                    EventRecord(
                        float(r[1]), node, str(r[4]), detail, r[6], r[7],
                        "gateway" if r[3] == "gateway" else "node",
                    )
                )  # fmt: skip
            refused = self._write_batch(WriteBatch(events=events), isolate=True) if events else 0
            for _ in range(refused):  # a row this database refuses (e.g. NUL in PostgreSQL text)
                res.refuse("refused_by_store", origin, origin)
            res.stored = len(events) - refused
            self._set_mark(origin, "events", upto)
            self._touch_origin(origin)
            res.upto = upto
        return res

    def _mark_for_update(self, origin: str, stream: str) -> int:
        # Two appliers of one origin serialise on this row (PostgreSQL), SQLite on the file.
        rows = self._q(
            "SELECT upto FROM uplink_marks WHERE origin = ? AND stream = ?" + self._for_update,
            (origin, stream),
        )
        return int(rows[0][0]) if rows else 0

    _for_update = ""  # " FOR UPDATE" on PostgreSQL

    def _marks_for_update(self, origins: Sequence[str], stream: str) -> dict[str, int]:
        """`_mark_for_update` of several origins in one statement (locked in origin order, so
        two appliers locking overlapping sets cannot deadlock on them)."""
        out: dict[str, int] = {}
        for chunk in _chunks(origins):
            for o, upto in self._q(
                "SELECT origin, upto FROM uplink_marks WHERE stream = ? AND origin IN"
                f" ({', '.join('?' * len(chunk))}) ORDER BY origin" + self._for_update,
                (stream, *chunk),
            ):
                out[str(o)] = int(upto)
        return out

    def _set_marks(self, marks: Sequence[tuple[str, int]], stream: str) -> None:
        """`_set_mark` of several origins in one statement."""
        now = time.time()
        for chunk in _chunks(marks, 200):
            self._q(
                "INSERT INTO uplink_marks (origin, stream, upto, updated) VALUES "
                + ", ".join(["(?, ?, ?, ?)"] * len(chunk))
                + " ON CONFLICT (origin, stream) DO UPDATE SET upto = excluded.upto,"
                " updated = excluded.updated",
                [v for o, upto in chunk for v in (o, stream, int(upto), now)],
            )

    def _touch_origins(self, origins: Sequence[str]) -> None:
        for chunk in _chunks(origins):
            self._q(
                f"UPDATE fleet_origins SET last_seen = ? WHERE origin IN"
                f" ({', '.join('?' * len(chunk))})",
                (time.time(), *chunk),
            )

    def _touch_origin(self, origin: str) -> None:
        self._q("UPDATE fleet_origins SET last_seen = ? WHERE origin = ?", (time.time(), origin))

    def apply_state(self, origin: str, state: dict[str, Any]) -> ApplyResult:
        """Make the centre's copy of `origin`'s state equal to `state` (a state_snapshot).

        The registry part (sites, assets, windows) is applied only when it differs from the
        last one applied for this origin (a digest in fleet_keys): node counters and outlooks
        change every few seconds, the registry rarely, and a registry change makes every page
        re-read the whole fleet."""
        res = ApplyResult()
        digest = _digest([state["sites"], state["assets"], state["windows"]])
        with self._lock, self._transaction():
            if self._owned("registry", origin).get(origin) != digest:
                assets, sites_ok = self._apply_registry(origin, state, res)
                windows = self._apply_windows(origin, state["windows"], sites_ok, res)
                self._q("DELETE FROM fleet_keys WHERE kind = 'registry' AND key = ?", (origin,))
                if not res.refused:  # with refusals, try again next time (a key may be freed)
                    self._claim("registry", origin, origin, digest)
                self._registry_changed(time.time())
            else:
                assets = set(self._owned("asset", origin))
                windows = {
                    int(k.split(":")[-1]): v
                    for k, v in self._owned("window", origin).items()
                    if v is not None
                }
            self._apply_nodes(origin, state["nodes"], res)
            entries = self._apply_service(origin, state["service"], assets, res)
            # absent from a site older than schema 17: it has none to send
            self._apply_outcomes(origin, state.get("outcomes", []), entries, res)
            self._apply_outlooks(state["outlooks"], assets, windows)
            self._touch_origin(origin)
        return res

    def _apply_registry(
        self, origin: str, state: dict[str, Any], res: ApplyResult
    ) -> tuple[set[str], dict[str, bool]]:
        """Sites and assets of `origin`; (its asset ids, site -> owned by origin)."""
        names = [str(s) for s, _ in state["sites"]] + [str(a[1]) for a in state["assets"]]
        sites_ok = self._claim_all("site", names, origin)
        for s, _ in state["sites"]:
            if not sites_ok[str(s)]:
                res.refuse("site_of_other_site_gateway", str(s), origin)
        self._many(
            "INSERT INTO sites (site, tz) VALUES (?, ?) ON CONFLICT (site) DO UPDATE SET"
            " tz = excluded.tz",
            [(s, tz) for s, tz in state["sites"] if sites_ok[str(s)]],
        )
        assets = self._assets_ok(origin, state["assets"], sites_ok, res)
        self._apply_assets(origin, assets)
        return {str(a[0]) for a in assets}, sites_ok

    def _assets_ok(
        self, origin: str, assets: Sequence[Sequence[Any]], sites_ok: dict[str, bool],
        res: ApplyResult,
    ) -> list[Sequence[Any]]:  # fmt: skip
        """The assets `origin` may write: on its own sites, its own ids and nodes (claimed in
        that order, so nothing is claimed for a row that is refused)."""
        on_site = []
        for a in assets:
            if sites_ok.get(str(a[1]), False):
                on_site.append(a)
            else:
                res.refuse("site_of_other_site_gateway", str(a[0]), origin)
        ids_ok = self._claim_all("asset", [str(a[0]) for a in on_site], origin)
        mine = []
        for a in on_site:
            if ids_ok[str(a[0])]:
                mine.append(a)
            else:
                res.refuse("asset_of_other_site", str(a[0]), origin)
        nodes_ok = self._claim_all("node", [str(a[3]) for a in mine if a[3] is not None], origin)
        out = []
        for a in mine:
            if a[3] is not None and not nodes_ok[str(a[3])]:
                res.refuse("node_of_other_site", str(a[0]), origin)
            else:
                out.append(a)
        return out

    def _apply_assets(self, origin: str, assets: Sequence[Sequence[Any]]) -> None:
        present = {str(a[0]) for a in assets}
        for gone in set(self._owned("asset", origin)) - present:
            self._q("DELETE FROM parts WHERE asset_id = ?", (gone,))
            self._q("DELETE FROM outlook WHERE asset_id = ?", (gone,))
            self._q("DELETE FROM assets WHERE asset_id = ?", (gone,))
            self._q("DELETE FROM fleet_keys WHERE kind = 'asset' AND key = ?", (gone,))
        # a node belongs to one asset (as upsert_asset)
        self._many(
            "UPDATE assets SET node_id = NULL WHERE node_id = ? AND asset_id <> ?",
            [(a[3], a[0]) for a in assets if a[3] is not None],
        )
        self._many(
            _ASSET_UPSERT,
            [
                (*a[:_ASSET_PARTS],
                 str(a[_ASSET_TEMP_SOURCE]) if len(a) > _ASSET_TEMP_SOURCE else "auto")
                for a in assets
            ],
        )  # fmt: skip
        self._many("DELETE FROM parts WHERE asset_id = ?", [(a[0],) for a in assets])
        self._many(
            "INSERT INTO parts (asset_id, part_id, name, part_number, rated_l10_h,"
            " lead_time_days) VALUES (?, ?, ?, ?, ?, ?)",
            [(a[0], *p) for a in assets for p in a[_ASSET_PARTS]],
        )

    def _apply_nodes(self, origin: str, nodes: Sequence[Sequence[Any]], res: ApplyResult) -> None:
        ok = self._claim_all("node", [str(n[0]) for n in nodes], origin)
        for n in nodes:
            if not ok[str(n[0])]:
                res.refuse("node_of_other_site", str(n[0]), origin)
        self._many(_NODE_UPSERT, [tuple(n) for n in nodes if ok[str(n[0])]])

    def _apply_service(
        self, origin: str, entries: Sequence[Sequence[Any]], assets: set[str], res: ApplyResult
    ) -> dict[str, int | None]:
        """Entries by the site's id; returns "origin:site id" -> the centre's entry id."""
        mapped = self._owned("service", origin)
        for e in entries:
            key = f"{origin}:{int(e[0])}"
            if e[1] not in assets:
                res.refuse("entry_for_unknown_asset", key, origin)
                continue
            local = mapped.get(key)
            # A site on schema 15 or older sends no stop_h, repair_cost: not recorded.
            row = (*e[1:11], *([None] * (11 - len(e))))
            if local is None:
                rows = self._q(
                    "INSERT INTO service_log (asset_id, part_id, date, kind, finding, by_user,"
                    " acted_on_warning, downtime_avoided_h, stop_h, repair_cost)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING entry_id",
                    row,
                )
                self._claim("service", key, origin, int(rows[0][0]))
                mapped[key] = int(rows[0][0])
            else:  # the ledger fields can be corrected at the site
                self._q(
                    "UPDATE service_log SET asset_id = ?, part_id = ?, date = ?, kind = ?,"
                    " finding = ?, by_user = ?, acted_on_warning = ?, downtime_avoided_h = ?,"
                    " stop_h = ?, repair_cost = ? WHERE entry_id = ?",
                    (*row, local),
                )
        return mapped

    def _apply_outcomes(
        self, origin: str, rows: Sequence[Sequence[Any]], entries: dict[str, int | None],
        res: ApplyResult,
    ) -> None:  # fmt: skip
        """Warning outcomes under the centre's id of the entry that settled them, once each
        (an entry settles one outcome, which never changes: a state sent again adds nothing)."""
        keep = []
        for r in rows:
            local = entries.get(f"{origin}:{int(r[0])}")
            if local is None:  # its entry was refused (unknown asset): so is the outcome
                res.refuse("outcome_for_unknown_entry", f"{origin}:{int(r[0])}", origin)
                continue
            keep.append((local, str(r[1]), str(r[2]), float(r[3]), 1 if r[4] else 0))
        self._many(
            "INSERT INTO warning_outcomes (entry_id, machine_group, channel, peak_value,"
            " confirmed) VALUES (?, ?, ?, ?, ?) ON CONFLICT (entry_id) DO NOTHING",
            keep,
        )

    def _apply_windows(
        self, origin: str, windows: Sequence[Sequence[Any]], sites_ok: dict[str, bool],
        res: ApplyResult,
    ) -> dict[int, int]:  # fmt: skip
        """Windows by the site's id; returns site window id -> centre window id."""
        mapped = self._owned("window", origin)
        out: dict[int, int] = {}
        for w in windows:
            key = f"{origin}:{int(w[0])}"
            ok = sites_ok.get(str(w[1]))
            if ok is None:
                ok = sites_ok[str(w[1])] = self._claim("site", str(w[1]), origin)
            if not ok:
                res.refuse("site_of_other_site_gateway", key, origin)
                continue
            local = mapped.pop(key, None)
            if local is None:
                rows = self._q(
                    "INSERT INTO windows (site, start_ts, end_ts, note) VALUES (?, ?, ?, ?)"
                    " RETURNING window_id",
                    tuple(w[1:]),
                )
                local = int(rows[0][0])
                self._claim("window", key, origin, local)
            else:
                self._q(
                    "UPDATE windows SET site = ?, start_ts = ?, end_ts = ?, note = ?"
                    " WHERE window_id = ?",
                    (*w[1:], local),
                )
            out[int(w[0])] = local
        for key, local in mapped.items():  # deleted at the site
            self._q("DELETE FROM windows WHERE window_id = ?", (local,))
            self._q("DELETE FROM fleet_keys WHERE kind = 'window' AND key = ?", (key,))
        return out

    def _apply_outlooks(
        self, rows: Sequence[Sequence[Any]], assets: set[str], windows: dict[int, int]
    ) -> None:
        """Rows whose judgement changed, written with the centre's time as computed_at (the
        page follows changed outlooks by it; a site's clock must not hide other sites')."""
        mine = [r for r in rows if r[0] in assets]
        stored: dict[str, tuple[Any, ...]] = {}
        ids = [r[0] for r in mine]
        for k in range(0, len(ids), 500):
            chunk = ids[k : k + 500]
            for have in self._q(
                f"SELECT {_OUTLOOK_COLUMNS} FROM outlook WHERE asset_id IN"
                f" ({', '.join('?' * len(chunk))})",
                chunk,
            ):
                stored[have[0]] = tuple(have[2:])
        now = time.time()
        out = []
        for r in mine:
            row = list(r)
            w = row[_OUTLOOK_WINDOW]
            row[_OUTLOOK_WINDOW] = None if w is None else windows.get(int(w))
            if stored.get(row[0]) == tuple(row[2:]):
                continue  # the same judgement: nothing for the page to re-read
            row[1] = now
            out.append(row)
        self._many(_OUTLOOK_UPSERT, out)
