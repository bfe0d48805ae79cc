"""The SQL both backends share. Subclasses supply the connection, the transaction and the
parameter style; every statement here is written once, with `?` placeholders and
`{greatest}` for the two-argument maximum (max() in SQLite, GREATEST() in PostgreSQL).
"""

from __future__ import annotations

import json
import logging
import math
import operator
import re
import threading
import time
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from typing import Any

from gateway.store import schema
from gateway.store.api import (
    CONFIG_STATES,
    ROLES,
    SERVICE_KINDS,
    Asset,
    FrameRecord,
    HourlyPoint,
    LatestState,
    MaintenanceWindow,
    NodeConfigState,
    NodeInfo,
    OutcomeRecord,
    Part,
    SeqState,
    ServiceEntry,
    Site,
    StoredEvent,
    StoredFrame,
    User,
    WriteBatch,
    check_asset,
    check_site,
)
from gateway.store.commands_sql import CommandsSql
from gateway.store.outlook_sql import OutlookSql
from gateway.store.proposals_sql import ProposalsSql
from gateway.store.uplink_sql import UplinkSql

Row = tuple[Any, ...]
FLAG_RUNNING = 1
# A stored time this far ahead of its receive time is a bad node clock (ingest bounds it
# much tighter, see PipelineConfig.max_future_s): such rows never hold the latest state.
FUTURE_SLACK_S = 3600
log = logging.getLogger(__name__)
FLAG_SENSOR_FAULT = 16  # protocol.frames: the report's vibration values are no measurement


def is_sensor_fault(flags: int | None) -> bool:
    return bool((flags or 0) & FLAG_SENSOR_FAULT)


RESET_HISTORY = 20
# Schema version 1 stand-ins of the fleet page, converted once by `SqlStore._migrate`: a
# ledger entry carried this tag at the end of its finding, a disabled user a "!" before its
# hash (no real hash starts with "!": werkzeug "scrypt:", "pbkdf2:", gateway "scrypt$").
_LEGACY_LEDGER_TAG = re.compile(r"\s*\[kizashi:warning avoided=([0-9.]+)h\]\s*$")
_LEGACY_LEDGER_LIKE = "%[kizashi:warning avoided=%"

_FRAME_INSERT = (
    "INSERT INTO frames (node_id, boot_id, seq, kind, node_time, recv_time, ts, flags, dropped,"
    " runtime_s, starts, acc_x, acc_y, acc_z, vel_x, vel_y, vel_z, peak_mg, kurt_x100,"
    " temp_c_x10, backfilled, payload) VALUES"
    " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
_HOURLY_UPSERT = (
    "INSERT INTO hourly (asset_id, hour, n, s_vel_x, s_vel_y, s_vel_z, max_vel, s_acc_x,"
    " s_acc_y, s_acc_z, max_peak, s_kurt, s_temp, n_temp, runtime_s, starts, n_running)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (asset_id, hour) DO UPDATE SET n = hourly.n + excluded.n,"
    " s_vel_x = hourly.s_vel_x + excluded.s_vel_x, s_vel_y = hourly.s_vel_y + excluded.s_vel_y,"
    " s_vel_z = hourly.s_vel_z + excluded.s_vel_z,"
    " max_vel = {greatest}(hourly.max_vel, excluded.max_vel),"
    " s_acc_x = hourly.s_acc_x + excluded.s_acc_x, s_acc_y = hourly.s_acc_y + excluded.s_acc_y,"
    " s_acc_z = hourly.s_acc_z + excluded.s_acc_z,"
    " max_peak = {greatest}(hourly.max_peak, excluded.max_peak),"
    " s_kurt = hourly.s_kurt + excluded.s_kurt, s_temp = hourly.s_temp + excluded.s_temp,"
    " n_temp = hourly.n_temp + excluded.n_temp,"
    " runtime_s = {greatest}(hourly.runtime_s, excluded.runtime_s),"
    " starts = {greatest}(hourly.starts, excluded.starts),"
    " n_running = hourly.n_running + excluded.n_running"
)
_LATEST_UPSERT = (
    "INSERT INTO latest (asset_id, node_id, ts, recv_time, flags, vel_x, vel_y, vel_z, acc_x,"
    " acc_y, acc_z, peak, kurt, temp, runtime_s, starts)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (asset_id) DO UPDATE SET node_id = excluded.node_id, ts = excluded.ts,"
    " recv_time = excluded.recv_time, flags = excluded.flags, vel_x = excluded.vel_x,"
    " vel_y = excluded.vel_y, vel_z = excluded.vel_z, acc_x = excluded.acc_x,"
    " acc_y = excluded.acc_y, acc_z = excluded.acc_z, peak = excluded.peak,"
    " kurt = excluded.kurt, temp = excluded.temp, runtime_s = excluded.runtime_s,"
    " starts = excluded.starts WHERE excluded.ts >= latest.ts"
    # A stored latest whose time is far ahead of when it was received (a bad node clock,
    # or rows from before ingest bounded node time) must not freeze the asset: it yields.
    f" OR latest.ts > latest.recv_time + {FUTURE_SLACK_S}"
)
_BIRTH_UPDATE = (
    "UPDATE nodes SET boot_id = ?, fw = ?, board = ?, sensor = ?, birth_info = ?,"
    " last_birth = ?, resets = ? WHERE node_id = ?"
)
_EVENT_INSERT = (
    "INSERT INTO events (ts, node_id, source, code, detail, boot_id, seq)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_NODE_ENSURE = "INSERT INTO nodes (node_id) VALUES (?) ON CONFLICT DO NOTHING"
_NODE_STATUS_UPSERT = (
    "INSERT INTO nodes (node_id, last_seen, online, dropped, frames_received, frames_lost, gaps,"
    " clock_offset_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (node_id) DO UPDATE SET"
    " last_seen = excluded.last_seen, online = excluded.online, dropped = excluded.dropped,"
    " frames_received = excluded.frames_received, frames_lost = excluded.frames_lost,"
    " gaps = excluded.gaps, clock_offset_s = excluded.clock_offset_s"
)
_SEQ_UPSERT = (
    "INSERT INTO seq_state (node_id, boot_id, contig, max_seq, above, lost, dropped, updated)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (node_id, boot_id) DO UPDATE SET"
    " contig = excluded.contig, max_seq = excluded.max_seq, above = excluded.above,"
    " lost = excluded.lost, dropped = excluded.dropped, updated = excluded.updated"
)
_LATEST_SELECT = (
    "SELECT l.asset_id, l.node_id, COALESCE(a.site, ''), COALESCE(a.machine, ''),"
    " COALESCE(a.machine_group, ''), l.ts, l.recv_time, l.flags, l.vel_x, l.vel_y, l.vel_z,"
    " l.acc_x, l.acc_y, l.acc_z, l.peak, l.kurt, l.temp, l.runtime_s, l.starts"
    " FROM latest l LEFT JOIN assets a ON a.asset_id = l.asset_id"
)
_NODE_SELECT = (
    "SELECT node_id, boot_id, fw, board, sensor, birth_info, last_birth, last_seen, online,"
    " dropped, frames_received, frames_lost, gaps, clock_offset_s, resets FROM nodes"
)


_NONE3 = (None, None, None)
_TS = operator.itemgetter(6)
_HOUR_OF = (3600.0).__rfloordiv__  # ts -> ts // 3600 (a float), at C level in map()
_TRUTH = operator.truth


def _frame_columns(frames: Sequence[FrameRecord]) -> list[Sequence[Any]]:
    """The columns of _FRAME_INSERT (22, in its order) for `frames`, built at C level
    (one transpose, no Python call per frame)."""
    c = list(zip(*frames, strict=True))
    acc, vel = c[12], c[13]
    if None in acc:
        acc = tuple(a or _NONE3 for a in acc)
    if None in vel:
        vel = tuple(v or _NONE3 for v in vel)
    # backfilled as 0/1 (an INTEGER column; PostgreSQL would refuse a boolean)
    bf = tuple(map(int, map(_TRUTH, c[17])))
    return [*c[:7], *c[8:12], *zip(*acc, strict=True), *zip(*vel, strict=True), *c[14:17], bf, c[7]]


def _group_row(asset: str, hour: float, n: int, c: list[tuple[Any, ...]]) -> Row:
    """One hourly row from the columns `c` of a group's FrameRecords: sums of the wire
    integers, scaled once. Raises TypeError if an optional value is None (see caller)."""
    ax, ay, az = zip(*c[12], strict=True)
    vx, vy, vz = zip(*c[13], strict=True)
    flags, temp = c[8], c[16]
    sum(flags)  # TypeError on None, before flags & FLAG_RUNNING would silently misbehave
    return (
        asset,
        int(hour) * 3600,
        n,
        sum(vx) / 100.0,
        sum(vy) / 100.0,
        sum(vz) / 100.0,
        max(max(vx), max(vy), max(vz)) / 100.0,
        sum(ax) / 1000.0,
        sum(ay) / 1000.0,
        sum(az) / 1000.0,
        max(c[14]) / 1000.0,
        sum(filter(None, c[15])) / 100.0,
        sum(temp) / 10.0,
        len(temp),
        int(max(c[10])),
        int(max(c[11])),
        sum(map(_TRUTH, map(FLAG_RUNNING.__and__, flags))),
    )


def _hourly_and_latest(
    frames: Sequence[FrameRecord], node_asset: dict[str, str]
) -> tuple[list[Row], dict[str, FrameRecord]]:
    """Hourly aggregate rows (per asset and hour) and the newest report per asset.

    Reports are grouped by (asset, hour) first; each group is then summed column-wise with
    C-level sum/max over the wire integers and scaled once per group (no per-frame division
    or max() call). Frames other than reports with values are skipped; among reports with the
    same ts the later one is the newest. Optional values that are None count as 0 (flags,
    runtime, starts, peak, kurtosis); a None temperature is left out of the temperature mean.
    A `sensor_fault` report carries no vibration (its zeros are no measurement): it can be the
    asset's latest state (the page shows the fault) but never enters the hourly history.
    """
    reports = [
        f
        for f in frames
        if f.kind == "report" and f.acc_rms_mg is not None and f.vel_rms_mm_s_x100 is not None
    ]
    get = node_asset.get
    faulted = [f for f in reports if is_sensor_fault(f.flags)]
    if faulted:
        reports = [f for f in reports if not is_sensor_fault(f.flags)]
    hourly, latest = _hourly_and_latest_of(reports, get)
    for f in faulted:
        asset = get(f.node_id, f.node_id)
        cur = latest.get(asset)
        if cur is None or f.ts >= cur.ts:
            latest[asset] = f
    return hourly, latest


def _hourly_and_latest_of(
    reports: list[FrameRecord], get: Callable[[str, str], str]
) -> tuple[list[Row], dict[str, FrameRecord]]:
    if not reports:
        return [], {}
    nodes = [f.node_id for f in reports]
    groups: dict[tuple[str, float], list[FrameRecord]] = {}
    keys = zip(map(get, nodes, nodes), map(_HOUR_OF, map(_TS, reports)), strict=True)
    for key, f in zip(keys, reports, strict=True):
        g = groups.get(key)
        if g is None:
            groups[key] = [f]
        else:
            g.append(f)
    hourly: list[Row] = []
    latest: dict[str, FrameRecord] = {}
    for (asset, hour), g in groups.items():
        c = list(zip(*g, strict=True))
        try:
            row = _group_row(asset, hour, len(g), c)
        except TypeError:  # some optional values are None: the slow path
            for i in (8, 10, 11, 14, 15):
                c[i] = tuple(x or 0 for x in c[i])
            c[16] = tuple(x for x in c[16] if x is not None)
            row = _group_row(asset, hour, len(g), c)
        hourly.append(row)
        newest = max(reversed(g), key=_TS)  # the last of equal ts, as in batch order
        cur = latest.get(asset)
        if cur is None or newest.ts >= cur.ts:
            latest[asset] = newest
    return hourly, latest


def _json(text: str) -> Any:
    """Stored JSON -> value; NaN/Infinity (never valid JSON, refused at decode since protocol
    checks, but possibly stored before) read as None so no page or API answer breaks."""
    return json.loads(text, parse_constant=lambda _: None)


def _ranges_json(r: tuple[tuple[int, int], ...]) -> str:
    return json.dumps([list(x) for x in r])


def _ranges(text: str) -> tuple[tuple[int, int], ...]:
    return tuple((int(a), int(b)) for a, b in json.loads(text))


_IDS_PER_READ = 500  # node ids per IN (...) list: well under both backends' parameter limits


def _where(conditions: Sequence[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """[(sql with one '?', value or None), ...] -> (" WHERE a AND b" or "", params).

    A condition whose value is None is left out: the optional filters of the read methods."""
    used = [(cond, value) for cond, value in conditions if value is not None]
    sql = " WHERE " + " AND ".join(cond for cond, _ in used) if used else ""
    return sql, [value for _, value in used]


class SqlStore(OutlookSql, UplinkSql, ProposalsSql, CommandsSql):
    """Shared implementation of gateway.store.api.Store over a DB-API connection (the
    outlook's table and reads in gateway/store/outlook_sql.py; fleet forwarding in
    gateway/store/uplink_sql.py; proposals and the webhook outbox in
    gateway/store/proposals_sql.py, over the parts stock and reservations of
    gateway/store/parts_sql.py; commands from the fleet server in
    gateway/store/commands_sql.py)."""

    greatest = "max"
    placeholder = "?"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._sql_cache: dict[str, str] = {}

    # ---- backend hooks
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        out = self._sql_cache.get(sql)
        if out is None:
            out = sql.replace("{greatest}", self.greatest)
            if self.placeholder != "?":
                out = out.replace("?", self.placeholder)
            self._sql_cache[sql] = out
        return out

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._execute(self._sql(sql), params)

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._executemany(self._sql(sql), rows)

    def _many_columns(self, sql: str, columns: Sequence[Sequence[Any]]) -> None:
        """`_many` with the parameters given column by column (equal lengths)."""
        self._many(sql, list(zip(*columns, strict=True)))

    # ---- schema migration
    add_column_if_missing = ""  # "IF NOT EXISTS " where ALTER TABLE ... ADD COLUMN has it

    def _columns(self, table: str) -> set[str]:
        """Names of the columns `table` has now (backend hook)."""
        raise NotImplementedError

    def _migrate(self, dialect: dict[str, str]) -> None:
        """Bring a database created by an older version up to schema.SCHEMA_VERSION.

        Called by the backends on open, after the CREATE ... IF NOT EXISTS statements and
        inside the same transaction. Adds the columns of schema.ADDED_COLUMNS that a table
        lacks; from version 1 it also turns the web page's old stand-ins into the new fields
        (ledger tag in `finding` -> acted_on_warning/downtime_avoided_h; "!" hash prefix ->
        disabled). Idempotent; a database newer than this code keeps its version.
        """
        have: dict[str, set[str]] = {}
        for table, column, definition in schema.added_columns(dialect):
            cols = have.setdefault(table, self._columns(table))
            if column not in cols:
                self._q(
                    f"ALTER TABLE {table} ADD COLUMN {self.add_column_if_missing}"
                    f"{column} {definition}"
                )
                cols.add(column)
        rows = self._q("SELECT value FROM meta WHERE key = 'schema_version'")
        version = int(rows[0][0]) if rows else 1
        if version < 2:
            self._migrate_v1_stand_ins()
        if version < schema.SCHEMA_VERSION:
            self._q(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(schema.SCHEMA_VERSION),),
            )
        self._repair_future_times()

    def _repair_future_times(self) -> None:
        """Assets frozen by a report from a bad node clock (a time decades ahead, stored before
        ingest bounded node time) are thawed: their latest row takes its receive time, which
        the next report then replaces. Cheap (one row per asset), so it runs on every open;
        the frames and hourly rows of such reports are repaired once (meta key)."""
        self._q(f"UPDATE latest SET ts = recv_time WHERE ts > recv_time + {FUTURE_SLACK_S}")
        if self._q("SELECT value FROM meta WHERE key = 'future_times_repaired'"):
            return
        self._q(f"UPDATE frames SET ts = recv_time WHERE ts > recv_time + {FUTURE_SLACK_S}")
        # Hour buckets beyond tomorrow can only come from such frames.
        self._q("DELETE FROM hourly WHERE hour > ?", (int(time.time()) + 86400,))
        self._q("INSERT INTO meta (key, value) VALUES ('future_times_repaired', '1')")

    def _migrate_v1_stand_ins(self) -> None:
        for entry_id, finding in self._q(
            "SELECT entry_id, finding FROM service_log WHERE finding LIKE ?",
            (_LEGACY_LEDGER_LIKE,),
        ):
            m = _LEGACY_LEDGER_TAG.search(finding)
            if m is None:
                continue
            try:
                hours = float(m.group(1))
            except ValueError:  # not written by the page (e.g. "1.2.3"): leave the row alone
                continue
            self._q(
                "UPDATE service_log SET finding = ?, acted_on_warning = 1,"
                " downtime_avoided_h = ? WHERE entry_id = ?",
                (finding[: m.start()], hours if math.isfinite(hours) else 0.0, entry_id),
            )
        self._q(
            "UPDATE users SET disabled = 1, password_hash = LTRIM(password_hash, '!')"
            " WHERE password_hash LIKE ?",
            ("!%",),
        )

    # ---- ingest
    # Errors that say "these values cannot be stored" (not "the database is unreachable"):
    # the batch is then written row by row so that one bad row cannot block the others.
    data_errors: tuple[type[BaseException], ...] = (ValueError, OverflowError, TypeError)

    def write_batch(self, batch: WriteBatch) -> int:
        """Commit `batch` atomically; returns the number of rows refused (0 normally).

        If the batch fails with a data error (see `data_errors`), it is written again in one
        transaction with each event and birth row under its own savepoint: a row the database
        refuses is left out, logged and counted, and everything else is stored. The refused
        rows' frames stay stored as raw frames and are acked (resending cannot make them
        storable). Connection errors are raised as they are: the caller retries the batch.
        """
        with self._lock:
            try:
                with self._transaction():
                    self._write_batch(batch)
                return 0
            except self.data_errors as e:
                log.warning("batch refused, isolating bad rows", extra={"error": repr(e)[:200]})
            with self._transaction():
                return self._write_batch(batch, isolate=True)

    def _savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction that rolls back alone on error (backend hook)."""
        raise NotImplementedError

    def _isolated(self, what: str, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Each row under its own savepoint; returns how many the database refused."""
        refused = 0
        for row in rows:
            try:
                with self._savepoint():
                    self._q(sql, row)
            except self.data_errors as e:
                refused += 1
                log.error(
                    "row refused by the store",
                    extra={"table": what, "node": row[1] if what == "events" else row[-1],
                           "error": repr(e)[:200]},
                )  # fmt: skip
        return refused

    def probe(self) -> None:
        """A small write transaction: raises if the store cannot commit now (full disk, no
        connection, read-only). For health checks when no batch was committed lately."""
        with self._lock, self._transaction():
            self._q(
                "INSERT INTO meta (key, value) VALUES ('probe', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (repr(time.time()),),
            )

    def _write_batch(self, batch: WriteBatch, isolate: bool = False) -> int:
        node_asset = {
            str(r[0]): str(r[1])
            for r in self._q("SELECT node_id, asset_id FROM assets WHERE node_id IS NOT NULL")
        }
        self._insert_frames(batch.frames)
        self._write_reports(batch.frames, node_asset)
        return self._write_rest(batch, isolate)

    def _insert_frames(self, frames: Sequence[FrameRecord]) -> None:
        if frames:
            self._many_columns(_FRAME_INSERT, _frame_columns(frames))

    def _write_reports(self, frames: Sequence[FrameRecord], node_asset: dict[str, str]) -> None:
        """The hourly sums and latest rows of stored `frames` (node -> asset: `node_asset`)."""
        hourly, latest = _hourly_and_latest(frames, node_asset)
        self._many(_HOURLY_UPSERT, hourly)
        self._many(
            _LATEST_UPSERT,
            [
                (
                    asset,
                    f.node_id,
                    f.ts,
                    f.recv_time,
                    f.flags or 0,
                    *(v / 100.0 for v in f.vel_rms_mm_s_x100 or (0, 0, 0)),
                    *(v / 1000.0 for v in f.acc_rms_mg or (0, 0, 0)),
                    (f.peak_mg or 0) / 1000.0,
                    (f.kurtosis_x100 or 0) / 100.0,
                    None if f.temp_c_x10 is None else f.temp_c_x10 / 10.0,
                    f.runtime_s or 0,
                    f.starts or 0,
                )
                for asset, f in latest.items()
            ],
        )

    def _write_rest(self, batch: WriteBatch, isolate: bool) -> int:
        """Births, node status, events and sequence states of `batch`; rows refused."""
        refused = 0
        self._many(_NODE_ENSURE, [(n,) for n in sorted({b.node_id for b in batch.births})])
        for b in batch.births:
            rows = self._q("SELECT resets FROM nodes WHERE node_id = ?", (b.node_id,))
            resets = json.loads(rows[0][0]) if rows else []
            resets.insert(0, [b.ts, b.boot_id, str(b.info.get("reset", "unknown"))])
            row = (
                b.boot_id,
                str(b.info.get("fw", "")),
                str(b.info.get("board", "")),
                str(b.info.get("sensor", "")),
                json.dumps(b.info, sort_keys=True),
                b.ts,
                json.dumps(resets[:RESET_HISTORY]),
                b.node_id,
            )
            if isolate:
                refused += self._isolated("births", _BIRTH_UPDATE, [row])
            else:
                self._q(_BIRTH_UPDATE, row)
        self._many(
            _NODE_STATUS_UPSERT,
            [
                (
                    s.node_id,
                    s.last_seen,
                    1 if s.online else 0,
                    s.dropped,
                    s.frames_received,
                    s.frames_lost,
                    s.gaps,
                    s.clock_offset_s,
                )
                for s in batch.node_status
            ],
        )
        events = [
            (
                e.ts,
                e.node_id,
                e.source,
                e.code,
                json.dumps(e.detail, sort_keys=True, default=str),
                e.boot_id,
                e.seq,
            )
            for e in batch.events
        ]
        if isolate:
            refused += self._isolated("events", _EVENT_INSERT, events)
        else:
            self._many(_EVENT_INSERT, events)
        self._many(
            _SEQ_UPSERT,
            [
                (
                    s.node_id,
                    s.boot_id,
                    s.contig,
                    s.max_seq,
                    _ranges_json(s.above),
                    _ranges_json(s.lost),
                    s.dropped,
                    s.updated,
                )
                for s in batch.seq_states
            ],
        )
        return refused

    def load_seq_states(self) -> list[SeqState]:
        with self._lock:
            rows = self._q(
                "SELECT node_id, boot_id, contig, max_seq, above, lost, dropped, updated"
                " FROM seq_state ORDER BY node_id, boot_id"
            )
        return [
            SeqState(
                str(r[0]),
                int(r[1]),
                int(r[2]),
                int(r[3]),
                _ranges(r[4]),
                _ranges(r[5]),
                int(r[6]),
                float(r[7]),
            )
            for r in rows
        ]

    def prune_frames(self, older_than: float) -> int:
        with self._lock, self._transaction():
            rows = self._q("DELETE FROM frames WHERE recv_time < ? RETURNING seq", (older_than,))
        return len(rows)

    def prune_events(self, older_than: float) -> int:
        with self._lock, self._transaction():
            rows = self._q("DELETE FROM events WHERE ts < ? RETURNING event_id", (older_than,))
        return len(rows)

    # ---- reads
    def latest_states(
        self,
        site: str | None = None,
        machine_group: str | None = None,
        asset_ids: Sequence[str] | None = None,
        received_after: float | None = None,
    ) -> list[LatestState]:
        if asset_ids is not None and not asset_ids:
            return []
        where, params = _where(
            [
                ("COALESCE(a.site, '') = ?", site),
                ("a.machine_group = ?", machine_group),
                ("l.recv_time > ?", received_after),
            ]
        )
        if asset_ids is not None:
            marks = ", ".join("?" for _ in asset_ids)
            where += (" AND " if where else " WHERE ") + f"l.asset_id IN ({marks})"
            params.extend(asset_ids)
        sql = _LATEST_SELECT + where
        with self._lock:
            rows = self._q(sql + " ORDER BY l.asset_id", params)
        return [
            LatestState(
                asset_id=r[0],
                node_id=r[1],
                site=r[2],
                machine=r[3],
                machine_group=r[4],
                ts=float(r[5]),
                recv_time=float(r[6]),
                flags=int(r[7]),
                vel_rms_mm_s=(float(r[8]), float(r[9]), float(r[10])),
                acc_rms_g=(float(r[11]), float(r[12]), float(r[13])),
                peak_g=float(r[14]),
                kurtosis=float(r[15]),
                temp_c=None if r[16] is None else float(r[16]),
                runtime_s=int(r[17]),
                starts=int(r[18]),
            )
            for r in rows
        ]

    def hourly_history(self, asset_id: str, start: float, end: float) -> list[HourlyPoint]:
        with self._lock:
            rows = self._q(
                "SELECT asset_id, hour, n, s_vel_x, s_vel_y, s_vel_z, max_vel, s_acc_x, s_acc_y,"
                " s_acc_z, max_peak, s_kurt, s_temp, n_temp, runtime_s, starts, n_running"
                " FROM hourly WHERE asset_id = ? AND hour >= ? AND hour < ? ORDER BY hour",
                (asset_id, int(start // 3600) * 3600, end),
            )
        out = []
        for r in rows:
            n = int(r[2])
            out.append(
                HourlyPoint(
                    asset_id=r[0],
                    hour=int(r[1]),
                    n=n,
                    vel_rms_mm_s=(r[3] / n, r[4] / n, r[5] / n),
                    vel_rms_max_mm_s=float(r[6]),
                    acc_rms_g=(r[7] / n, r[8] / n, r[9] / n),
                    peak_g_max=float(r[10]),
                    kurtosis=r[11] / n,
                    temp_c=(r[12] / r[13]) if r[13] else None,
                    runtime_s=int(r[14]),
                    starts=int(r[15]),
                    running_fraction=r[16] / n,
                )
            )
        return out

    def recent_frames(
        self, node_id: str | None = None, limit: int = 100, since: float | None = None
    ) -> list[StoredFrame]:
        where, params = _where([("node_id = ?", node_id), ("recv_time >= ?", since)])
        sql = (
            "SELECT node_id, boot_id, seq, kind, node_time, recv_time, ts, flags, payload,"
            " backfilled FROM frames" + where + " ORDER BY frame_id DESC LIMIT ?"
        )
        params.append(int(limit))
        with self._lock:
            rows = self._q(sql, params)
        return [
            StoredFrame(
                r[0],
                int(r[1]),
                int(r[2]),
                r[3],
                int(r[4]),
                float(r[5]),
                float(r[6]),
                None if r[7] is None else int(r[7]),
                bytes(r[8]),
                bool(r[9]),
            )
            for r in rows
        ]

    def events(
        self, node_id: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[StoredEvent]:
        where, params = _where([("node_id = ?", node_id), ("ts >= ?", since)])
        sql = (
            "SELECT event_id, ts, node_id, source, code, detail, boot_id, seq FROM events"
            + where
            + " ORDER BY ts DESC, event_id DESC LIMIT ?"
        )
        params.append(int(limit))
        with self._lock:
            rows = self._q(sql, params)
        return self._stored_events(rows)

    def event_times(
        self,
        node_ids: Sequence[str],
        kinds: Collection[tuple[str, str]],
        since: float | None,
        until: float,
    ) -> dict[str, list[float]]:
        wanted = set(kinds)
        codes = sorted({code for _, code in wanted})
        ids = sorted(set(node_ids))
        out: dict[str, list[float]] = {}
        if not codes:
            return out
        with self._lock:
            for i in range(0, len(ids), _IDS_PER_READ):
                part = ids[i : i + _IDS_PER_READ]
                where, params = _where([("ts >= ?", since), ("ts < ?", until)])
                rows = self._q(
                    "SELECT node_id, ts, source, code FROM events" + where
                    + f" AND node_id IN ({', '.join('?' * len(part))})"
                    + f" AND code IN ({', '.join('?' * len(codes))}) ORDER BY ts, event_id",
                    [*params, *part, *codes],
                )  # fmt: skip
                for node, ts, source, code in rows:
                    if (source, code) in wanted:
                        out.setdefault(node, []).append(float(ts))
        return out

    def events_after(
        self, event_id: int, limit: int = 100, code: str | None = None
    ) -> list[StoredEvent]:
        where = "event_id > ?"
        params: list[Any] = [int(event_id), int(limit)]
        if code is not None:  # served by the index events_code (code, event_id)
            where, params = "code = ? AND " + where, [code, *params]
        sql = (
            "SELECT event_id, ts, node_id, source, code, detail, boot_id, seq FROM events"
            f" WHERE {where} ORDER BY event_id LIMIT ?"
        )
        with self._lock:
            rows = self._q(sql, params)
        return self._stored_events(rows)

    @staticmethod
    def _stored_events(rows: Sequence[Sequence[Any]]) -> list[StoredEvent]:
        return [
            StoredEvent(
                int(r[0]),
                float(r[1]),
                r[2],
                r[3],
                r[4],
                _json(r[5]),
                None if r[6] is None else int(r[6]),
                None if r[7] is None else int(r[7]),
            )
            for r in rows
        ]

    @staticmethod
    def _node(r: Row) -> NodeInfo:
        received, lost, dropped = int(r[10]), int(r[11]), int(r[9])
        total = received + lost + dropped
        return NodeInfo(
            node_id=r[0],
            boot_id=None if r[1] is None else int(r[1]),
            fw=r[2],
            board=r[3],
            sensor=r[4],
            birth_info=_json(r[5]),
            last_birth=None if r[6] is None else float(r[6]),
            last_seen=None if r[7] is None else float(r[7]),
            online=bool(r[8]),
            dropped=dropped,
            frames_received=received,
            frames_lost=lost,
            gaps=int(r[12]),
            clock_offset_s=None if r[13] is None else float(r[13]),
            resets=tuple((float(t), int(b), str(c)) for t, b, c in json.loads(r[14])),
            link_quality=received / total if total else 1.0,
        )

    def nodes(self) -> list[NodeInfo]:
        with self._lock:
            rows = self._q(_NODE_SELECT + " ORDER BY node_id")
        return [self._node(r) for r in rows]

    def node(self, node_id: str) -> NodeInfo | None:
        with self._lock:
            rows = self._q(_NODE_SELECT + " WHERE node_id = ?", (node_id,))
        return self._node(rows[0]) if rows else None

    # ---- registry
    def upsert_asset(self, asset: Asset) -> None:
        check_asset(asset)
        z = asset.zone_limits or (None, None, None)
        with self._lock, self._transaction():
            if asset.node_id is not None:
                # A node belongs to one asset: moving it releases the old one.
                self._q(
                    "UPDATE assets SET node_id = NULL WHERE node_id = ? AND asset_id <> ?",
                    (asset.node_id, asset.asset_id),
                )
            self._q(
                "INSERT INTO assets (asset_id, site, machine, node_id, machine_group, description,"
                " zone_ab, zone_bc, zone_cd, temp_source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (asset_id) DO UPDATE SET"
                " site = excluded.site, machine = excluded.machine, node_id = excluded.node_id,"
                " machine_group = excluded.machine_group, description = excluded.description,"
                " zone_ab = excluded.zone_ab, zone_bc = excluded.zone_bc,"
                " zone_cd = excluded.zone_cd, temp_source = excluded.temp_source",
                (
                    asset.asset_id,
                    asset.site,
                    asset.machine,
                    asset.node_id,
                    asset.machine_group,
                    asset.description,
                    *z,
                    asset.temp_source,
                ),
            )
            self._q("DELETE FROM parts WHERE asset_id = ?", (asset.asset_id,))
            self._many(
                "INSERT INTO parts (asset_id, part_id, name, part_number, rated_l10_h,"
                " lead_time_days) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        asset.asset_id,
                        p.part_id,
                        p.name,
                        p.part_number,
                        p.rated_l10_h,
                        p.lead_time_days,
                    )
                    for p in asset.parts
                ],
            )
            self._registry_changed(time.time())

    def _assets(self, where: str, params: Sequence[Any]) -> list[Asset]:
        with self._lock:
            rows = self._q(
                "SELECT asset_id, site, machine, node_id, machine_group, description,"
                " zone_ab, zone_bc, zone_cd, temp_source FROM assets"
                + where
                + " ORDER BY asset_id",
                params,
            )
            parts: dict[str, list[Part]] = {}
            ids = [r[0] for r in rows]
            if ids:
                prow = self._q(
                    "SELECT asset_id, part_id, name, part_number, rated_l10_h, lead_time_days"
                    " FROM parts WHERE asset_id IN ("
                    + ", ".join("?" for _ in ids)
                    + ") ORDER BY asset_id, part_id",
                    ids,
                )
                for p in prow:
                    parts.setdefault(p[0], []).append(
                        Part(
                            p[1],
                            p[2],
                            p[3],
                            None if p[4] is None else float(p[4]),
                            None if p[5] is None else float(p[5]),
                        )
                    )
        return [
            Asset(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                tuple(parts.get(r[0], ())),
                _zones(r[6:9]),
                str(r[9]),
            )
            for r in rows
        ]

    def asset(self, asset_id: str) -> Asset | None:
        found = self._assets(" WHERE asset_id = ?", (asset_id,))
        return found[0] if found else None

    def assets(self, site: str | None = None) -> list[Asset]:
        if site is None:
            return self._assets("", ())
        return self._assets(" WHERE site = ?", (site,))

    def asset_for_node(self, node_id: str) -> Asset | None:
        found = self._assets(" WHERE node_id = ?", (node_id,))
        return found[0] if found else None

    def delete_asset(self, asset_id: str) -> bool:
        with self._lock, self._transaction():
            self._q("DELETE FROM parts WHERE asset_id = ?", (asset_id,))
            rows = self._q("DELETE FROM assets WHERE asset_id = ? RETURNING asset_id", (asset_id,))
            self._registry_changed(time.time())
        return bool(rows)

    # ---- service log, windows, users
    def add_service_entry(self, entry: ServiceEntry) -> int:
        if entry.kind not in SERVICE_KINDS:
            raise ValueError("service kind must be one of " + ", ".join(SERVICE_KINDS))
        avoided = float(entry.downtime_avoided_h)
        if not math.isfinite(avoided) or avoided < 0:
            raise ValueError("downtime_avoided_h must be a finite number >= 0")
        for name in ("stop_h", "repair_cost"):
            v = getattr(entry, name)
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0 or None")
        with self._lock, self._transaction():
            rows = self._q(
                "INSERT INTO service_log (asset_id, part_id, date, kind, finding, by_user,"
                " acted_on_warning, downtime_avoided_h, stop_h, repair_cost)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING entry_id",
                (
                    entry.asset_id,
                    entry.part_id,
                    entry.date,
                    entry.kind,
                    entry.finding,
                    entry.by,
                    1 if entry.acted_on_warning else 0,
                    avoided,
                    entry.stop_h,
                    entry.repair_cost,
                ),
            )
        return int(rows[0][0])

    def service_log(self, asset_id: str | None = None) -> list[ServiceEntry]:
        sql = (
            "SELECT asset_id, date, kind, part_id, finding, by_user, entry_id, acted_on_warning,"
            " downtime_avoided_h, stop_h, repair_cost FROM service_log"
        )
        params: tuple[Any, ...] = ()
        if asset_id is not None:
            sql += " WHERE asset_id = ?"
            params = (asset_id,)
        with self._lock:
            rows = self._q(sql + " ORDER BY date, entry_id", params)
        return [
            ServiceEntry(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                int(r[6]),
                bool(r[7]),
                float(r[8]),
                None if r[9] is None else float(r[9]),
                None if r[10] is None else float(r[10]),
            )
            for r in rows
        ]

    def add_warning_outcome(self, outcome: OutcomeRecord) -> bool:
        with self._lock, self._transaction():
            rows = self._q(
                "INSERT INTO warning_outcomes (entry_id, machine_group, channel, peak_value,"
                " confirmed) VALUES (?, ?, ?, ?, ?) ON CONFLICT (entry_id) DO NOTHING"
                " RETURNING entry_id",
                (int(outcome.entry_id), outcome.machine_group, outcome.channel,
                 float(outcome.peak_value), 1 if outcome.confirmed else 0),
            )  # fmt: skip
        return bool(rows)

    def warning_outcomes(self) -> list[OutcomeRecord]:
        with self._lock:
            rows = self._q(
                "SELECT entry_id, machine_group, channel, peak_value, confirmed"
                " FROM warning_outcomes ORDER BY entry_id"
            )
        return [
            OutcomeRecord(int(r[0]), str(r[1]), str(r[2]), float(r[3]), bool(r[4])) for r in rows
        ]

    def set_ledger(self, entry_id: int, acted_on_warning: bool, downtime_avoided_h: float) -> bool:
        if not (math.isfinite(downtime_avoided_h) and downtime_avoided_h >= 0):
            raise ValueError("downtime avoided must be a finite number of hours >= 0")
        with self._lock, self._transaction():
            rows = self._q(
                "UPDATE service_log SET acted_on_warning = ?, downtime_avoided_h = ?"
                " WHERE entry_id = ? RETURNING entry_id",
                (1 if acted_on_warning else 0, downtime_avoided_h, entry_id),
            )
        return bool(rows)

    def add_window(self, window: MaintenanceWindow) -> int:
        if window.end <= window.start:
            raise ValueError("window end must be after its start")
        with self._lock, self._transaction():
            rows = self._q(
                "INSERT INTO windows (site, start_ts, end_ts, note) VALUES (?, ?, ?, ?)"
                " RETURNING window_id",
                (window.site, window.start, window.end, window.note),
            )
            self._registry_changed(time.time())
        return int(rows[0][0])

    def windows(self, site: str | None = None) -> list[MaintenanceWindow]:
        sql = "SELECT site, start_ts, end_ts, note, window_id FROM windows"
        params: tuple[Any, ...] = ()
        if site is not None:
            sql += " WHERE site = ?"
            params = (site,)
        with self._lock:
            rows = self._q(sql + " ORDER BY start_ts, window_id", params)
        return [MaintenanceWindow(r[0], float(r[1]), float(r[2]), r[3], int(r[4])) for r in rows]

    def set_site(self, site: Site) -> None:
        check_site(site)
        with self._lock, self._transaction():
            self._q(
                "INSERT INTO sites (site, tz, shifts) VALUES (?, ?, ?)"
                " ON CONFLICT (site) DO UPDATE SET tz = excluded.tz",
                (site.name, site.tz, site.shifts),
            )
            self._registry_changed(time.time())  # dates and hours are read in the new zone

    def set_site_shifts(self, name: str, shifts: str) -> None:
        check_site(Site(name, "UTC", shifts))
        with self._lock, self._transaction():
            self._q(
                "INSERT INTO sites (site, tz, shifts) VALUES (?, 'UTC', ?)"
                " ON CONFLICT (site) DO UPDATE SET shifts = excluded.shifts",
                (name, shifts.strip()),
            )
            self._registry_changed(time.time())

    def sites(self) -> list[Site]:
        with self._lock:
            rows = self._q(
                "SELECT site, tz, shifts FROM sites UNION SELECT DISTINCT site, 'UTC', ''"
                " FROM assets WHERE site NOT IN (SELECT site FROM sites) AND site <> ''"
            )
        return sorted((Site(str(r[0]), str(r[1]), str(r[2])) for r in rows), key=lambda s: s.name)

    def set_node_config(self, state: NodeConfigState) -> None:
        if state.state not in CONFIG_STATES:
            raise ValueError("config state must be one of " + ", ".join(CONFIG_STATES))
        with self._lock, self._transaction():
            self._q(
                "INSERT INTO node_config (node_id, state, desired_hash, node_hash, reason,"
                " desired, updated, pushed_at, pushes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (node_id) DO UPDATE SET state = excluded.state,"
                " desired_hash = excluded.desired_hash, node_hash = excluded.node_hash,"
                " reason = excluded.reason, desired = excluded.desired,"
                " updated = excluded.updated, pushed_at = excluded.pushed_at,"
                " pushes = excluded.pushes",
                (
                    state.node_id,
                    state.state,
                    state.desired_hash,
                    state.node_hash,
                    state.reason,
                    json.dumps(state.desired, sort_keys=True),
                    state.updated,
                    state.pushed_at,
                    state.pushes,
                ),
            )

    def node_configs(self) -> list[NodeConfigState]:
        with self._lock:
            rows = self._q(
                "SELECT node_id, state, desired_hash, node_hash, desired, updated, reason,"
                " pushed_at, pushes FROM node_config ORDER BY node_id"
            )
        return [
            NodeConfigState(
                str(r[0]),
                str(r[1]),
                int(r[2]),
                None if r[3] is None else int(r[3]),
                json.loads(r[4]),
                float(r[5]),
                str(r[6]),
                None if r[7] is None else float(r[7]),
                int(r[8]),
            )
            for r in rows
        ]

    def delete_window(self, window_id: int) -> bool:
        with self._lock, self._transaction():
            rows = self._q("SELECT 1 FROM windows WHERE window_id = ?", (window_id,))
            if rows:
                self._q("DELETE FROM windows WHERE window_id = ?", (window_id,))
        return bool(rows)

    def upsert_user(self, user: User) -> None:
        """Insert or replace; a new hash or a change of `disabled` raises session_version
        (here, not in every caller, so no path can forget to end the old sessions)."""
        if user.role not in ROLES:
            raise ValueError("role must be one of " + ", ".join(ROLES))
        if user.customer and user.role != "viewer":
            raise ValueError("a customer's user can only be a viewer")
        with self._lock, self._transaction():
            self._q(
                "INSERT INTO users (name, password_hash, role, disabled, customer)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash,"
                " role = excluded.role, disabled = excluded.disabled,"
                " customer = excluded.customer,"
                " session_version = users.session_version + CASE WHEN"
                " users.password_hash <> excluded.password_hash"
                " OR users.disabled <> excluded.disabled THEN 1 ELSE 0 END",
                (
                    user.name,
                    user.password_hash,
                    user.role,
                    1 if user.disabled else 0,
                    user.customer,
                ),
            )

    def end_sessions(self, name: str) -> None:
        with self._lock, self._transaction():
            self._q(
                "UPDATE users SET session_version = session_version + 1 WHERE name = ?", (name,)
            )

    def user(self, name: str) -> User | None:
        with self._lock:
            rows = self._q(
                "SELECT name, password_hash, role, disabled, session_version, customer FROM users"
                " WHERE name = ?",
                (name,),
            )
        return _user(rows[0]) if rows else None

    def users(self) -> list[User]:
        with self._lock:
            rows = self._q(
                "SELECT name, password_hash, role, disabled, session_version, customer FROM users"
                " ORDER BY name"
            )
        return [_user(r) for r in rows]


def _user(r: Sequence[Any]) -> User:
    return User(r[0], r[1], r[2], bool(r[3]), int(r[4]), str(r[5]))


def _zones(row: Sequence[Any]) -> tuple[float, float, float] | None:
    """An asset's own zone limits from its three columns; None when not set."""
    if any(v is None for v in row):
        return None
    return (float(row[0]), float(row[1]), float(row[2]))
