"""The store's outlook side: the `outlook` table and the reads the outlook engine and the page
need (report columns by watermark, many assets' hourly history at once, a change stamp).

A mixin of `SqlStore` (gateway/store/sql.py), kept in its own module so the ingest write path
and the outlook evolve apart. It only persists: the judgement itself is gateway/outlook.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.store.api import HourlyPoint, Outlook, ReportRow

_COLUMNS = (
    "asset_id, computed_at, zone, level_mm_s, level_n, level_ts, trend, trend_pct_week, status,"
    " method, status_text, health_index, rul_p10_h, rul_p50_h, rul_p90_h, p10_ts, p50_ts,"
    " p90_ts, beyond_horizon, life_text, hours_per_week, action, reason, fault, part_id,"
    " part_number, lead_time_days, need_by_ts, order_by_ts, window_id, window_start,"
    " window_end, action_text, parts_needed, detail"
)
_N = _COLUMNS.count(",") + 1
_UPSERT = (
    f"INSERT INTO outlook ({_COLUMNS}) VALUES ({', '.join('?' * _N)})"
    " ON CONFLICT (asset_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.replace(" ", "").split(",")[1:])
)
_HOURLY_COLUMNS = (
    "asset_id, hour, n, s_vel_x, s_vel_y, s_vel_z, max_vel, s_acc_x, s_acc_y, s_acc_z, max_peak,"
    " s_kurt, s_temp, n_temp, runtime_s, starts, n_running"
)
_CHUNK = 500  # ids per IN (...) list: well under both backends' parameter limits
# The running span of each (asset, first hour) of a CTE `b`, to the hour before `?`: its first
# running hour's runtime, and the runtime of the last running hour whose counter moved on from
# the running hour before it (a stuck or reset counter adds no running time): what
# gateway/outlook/columns.py running_rows keeps, first and last. Each is a few reads of the
# key (asset_id, hour) from either end, however long the history (tests/outlook/
# test_running_spans.py holds the two to one definition).
_RUNNING = "h.asset_id = b.asset_id AND h.hour >= b.lo AND h.hour < ? AND h.n_running > 0"
_SPANS = (
    f"SELECT b.asset_id, (SELECT h.runtime_s FROM hourly h WHERE {_RUNNING}"
    " ORDER BY h.hour LIMIT 1),"
    f" (SELECT h.runtime_s FROM hourly h WHERE {_RUNNING} AND h.runtime_s > ("
    "  SELECT p.runtime_s FROM hourly p WHERE p.asset_id = b.asset_id AND p.hour >= b.lo"
    "  AND p.hour < h.hour AND p.n_running > 0 ORDER BY p.hour DESC LIMIT 1)"
    " ORDER BY h.hour DESC LIMIT 1) FROM b"
)
REGISTRY_KEY = "registry_changed_at"
CHECKED_KEY = "outlook_checked_at"


def _row(o: Outlook) -> tuple[Any, ...]:
    return (
        o.asset_id, o.computed_at, o.zone, o.level_mm_s, o.level_n, o.level_ts, o.trend,
        o.trend_pct_week, o.status, o.method, o.status_text, o.health_index, o.rul_p10_h,
        o.rul_p50_h, o.rul_p90_h, o.p10_ts, o.p50_ts, o.p90_ts, 1 if o.beyond_horizon else 0,
        o.life_text, o.hours_per_week, o.action, o.reason, o.fault, o.part_id, o.part_number,
        o.lead_time_days, o.need_by_ts, o.order_by_ts, o.window_id, o.window_start,
        o.window_end, o.action_text, json.dumps([list(p) for p in o.parts_needed]),
        json.dumps(o.detail, sort_keys=True, default=str),
    )  # fmt: skip


def _f(v: Any) -> float | None:
    return None if v is None else float(v)


def _outlook(r: Sequence[Any]) -> Outlook:
    return Outlook(
        asset_id=r[0], computed_at=float(r[1]), zone=r[2], level_mm_s=_f(r[3]),
        level_n=int(r[4]), level_ts=_f(r[5]), trend=r[6], trend_pct_week=_f(r[7]), status=r[8],
        method=r[9], status_text=r[10], health_index=float(r[11]), rul_p10_h=_f(r[12]),
        rul_p50_h=_f(r[13]), rul_p90_h=_f(r[14]), p10_ts=_f(r[15]), p50_ts=_f(r[16]),
        p90_ts=_f(r[17]), beyond_horizon=bool(r[18]), life_text=r[19], hours_per_week=_f(r[20]),
        action=r[21], reason=r[22], fault=r[23], part_id=r[24], part_number=r[25],
        lead_time_days=_f(r[26]), need_by_ts=_f(r[27]), order_by_ts=_f(r[28]),
        window_id=None if r[29] is None else int(r[29]), window_start=_f(r[30]),
        window_end=_f(r[31]), action_text=r[32],
        parts_needed=tuple((str(p), int(q)) for p, q in json.loads(r[33])),
        detail=json.loads(r[34]),
    )  # fmt: skip


def _report(r: Sequence[Any]) -> ReportRow:
    has = r[7] is not None and r[8] is not None and r[9] is not None
    acc = r[12] is not None and r[13] is not None and r[14] is not None
    return ReportRow(
        int(r[0]), r[1], int(r[2]), int(r[3]), float(r[4]), float(r[5]), int(r[6] or 0),
        (r[7] / 100.0, r[8] / 100.0, r[9] / 100.0) if has else None,
        None if r[10] is None else r[10] / 100.0, bool(r[11]),
        (r[12] / 1000.0, r[13] / 1000.0, r[14] / 1000.0) if acc else None,
        None if r[15] is None else r[15] / 1000.0, None if r[16] is None else r[16] / 10.0,
        None if r[17] is None else int(r[17]),
    )  # fmt: skip


def _hourly_point(r: Sequence[Any]) -> HourlyPoint:
    n = int(r[2])
    return HourlyPoint(
        asset_id=r[0], hour=int(r[1]), n=n, vel_rms_mm_s=(r[3] / n, r[4] / n, r[5] / n),
        vel_rms_max_mm_s=float(r[6]), acc_rms_g=(r[7] / n, r[8] / n, r[9] / n),
        peak_g_max=float(r[10]), kurtosis=r[11] / n, temp_c=(r[12] / r[13]) if r[13] else None,
        runtime_s=int(r[14]), starts=int(r[15]), running_fraction=r[16] / n,
    )  # fmt: skip


class OutlookSql:
    """Outlook reads and writes over the backend hooks of SqlStore."""

    _lock: Any

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _set_meta(self, key: str, value: str) -> None:
        self._q(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _meta_float(self, key: str) -> float | None:
        rows = self._q("SELECT value FROM meta WHERE key = ?", (key,))
        return float(rows[0][0]) if rows else None

    def _registry_changed(self, ts: float) -> None:
        """Called inside the registry's and windows' write transactions."""
        self._set_meta(REGISTRY_KEY, repr(ts))

    def write_outlooks(self, rows: Sequence[Outlook]) -> None:
        with self._lock, self._transaction():
            self._many(_UPSERT, [_row(o) for o in rows])

    def outlooks(
        self, asset_ids: Sequence[str] | None = None, computed_after: float | None = None
    ) -> list[Outlook]:
        base = f"SELECT {_COLUMNS} FROM outlook"
        after = [] if computed_after is None else [computed_after]
        cond = " computed_at > ?" if computed_after is not None else ""
        out: list[Outlook] = []
        with self._lock:
            if asset_ids is None:
                where = " WHERE" + cond if cond else ""
                rows = self._q(base + where + " ORDER BY asset_id", after)
                return [_outlook(r) for r in rows]
            ids = list(asset_ids)
            for i in range(0, len(ids), _CHUNK):
                part = ids[i : i + _CHUNK]
                marks = ", ".join("?" for _ in part)
                where = f" WHERE asset_id IN ({marks})" + (" AND" + cond if cond else "")
                out.extend(_outlook(r) for r in self._q(base + where, [*part, *after]))
        return sorted(out, key=lambda o: o.asset_id)

    def delete_outlooks(self, asset_ids: Sequence[str]) -> None:
        with self._lock, self._transaction():
            self._many("DELETE FROM outlook WHERE asset_id = ?", [(a,) for a in asset_ids])

    def mark_outlook_checked(self, ts: float) -> None:
        with self._lock, self._transaction():
            self._set_meta(CHECKED_KEY, repr(float(ts)))

    def outlook_checked_at(self) -> float | None:
        with self._lock:
            return self._meta_float(CHECKED_KEY)

    def reports_after(self, frame_id: int, limit: int = 10000) -> list[ReportRow]:
        with self._lock:
            rows = self._q(
                "SELECT frame_id, node_id, boot_id, seq, ts, recv_time, flags, vel_x, vel_y,"
                " vel_z, kurt_x100, backfilled, acc_x, acc_y, acc_z, peak_mg, temp_c_x10,"
                " runtime_s FROM frames WHERE frame_id > ? AND kind = 'report'"
                " ORDER BY frame_id LIMIT ?",
                (int(frame_id), int(limit)),
            )
        return [_report(r) for r in rows]

    def last_frame_id(self) -> int:
        with self._lock:
            rows = self._q("SELECT max(frame_id) FROM frames")
        return int(rows[0][0] or 0)

    def hourly_histories(
        self, asset_ids: Sequence[str], start: float, end: float
    ) -> dict[str, list[HourlyPoint]]:
        out: dict[str, list[HourlyPoint]] = {}
        ids = list(asset_ids)
        lo = int(start // 3600) * 3600
        with self._lock:
            for i in range(0, len(ids), _CHUNK):
                part = ids[i : i + _CHUNK]
                marks = ", ".join("?" for _ in part)
                rows = self._q(
                    f"SELECT {_HOURLY_COLUMNS} FROM hourly WHERE asset_id IN ({marks})"
                    " AND hour >= ? AND hour < ? ORDER BY asset_id, hour",
                    [*part, lo, end],
                )
                for r in rows:
                    out.setdefault(r[0], []).append(_hourly_point(r))
        return out

    def hourly_columns(
        self, asset_ids: Sequence[str], start: float, end: float
    ) -> dict[str, NDArray[np.float64]]:
        """The hourly rows of many assets as one float array each (rows by hour; columns as
        HOURLY_COLUMNS without asset_id: sums, maxima, counts): what the outlook engine
        computes from without a record per hour. Assets without rows are left out."""
        out: dict[str, NDArray[np.float64]] = {}
        ids = list(asset_ids)
        lo = int(start // 3600) * 3600
        select = f"SELECT {_HOURLY_COLUMNS} FROM hourly WHERE"
        order = " AND hour >= ? AND hour < ? ORDER BY asset_id, hour"
        chunks: list[tuple[str, list[Any]]]
        if len(ids) > _CHUNK * 2:  # a large batch: one range of the key, not many IN lists
            chunks = [(select + " asset_id BETWEEN ? AND ?" + order, [min(ids), max(ids), lo, end])]
        else:
            chunks = [
                (select + f" asset_id IN ({', '.join('?' * len(p))})" + order, [*p, lo, end])
                for p in (ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK))
            ]
        wanted = set(ids)
        with self._lock:
            for sql, params in chunks:
                rows = self._q(sql, params)
                if not rows:
                    continue
                names = [r[0] for r in rows]
                m = np.array([r[1:] for r in rows], dtype=np.float64)
                start_i = 0
                for k in range(1, len(names) + 1):
                    if k == len(names) or names[k] != names[start_i]:
                        if names[start_i] in wanted:
                            out[names[start_i]] = m[start_i:k]
                        start_i = k
        return out

    def running_spans(self, since: Mapping[str, float], end: float) -> dict[str, float]:
        """asset -> running span (s) of its hourly rows from the hour of `since[asset]` to
        `end` (Store.running_spans): the database reads a few rows per asset, not its
        history."""
        out: dict[str, float] = {}
        items = list(since.items())
        hi = math.ceil(end)  # an hour (an integer) is < end iff it is < ceil(end)
        with self._lock:
            for i in range(0, len(items), _CHUNK):
                part = items[i : i + _CHUNK]
                # Typed: PostgreSQL compares the key's BIGINT hour with a BIGINT on the index.
                values = ", ".join(["(CAST(? AS TEXT), CAST(? AS BIGINT))"] * len(part))
                params: list[Any] = [x for aid, t in part for x in (aid, int(t // 3600) * 3600)]
                rows = self._q(
                    f"WITH b (asset_id, lo) AS (VALUES {values}) {_SPANS}", [*params, hi, hi]
                )
                for aid, first, last in rows:
                    ok = first is not None and last is not None
                    out[aid] = float(last) - float(first) if ok else 0.0
        return out

    def hourly_series(
        self, asset_id: str, start: float, end: float
    ) -> tuple[list[float], list[float], list[float], list[float]]:
        """(hour, worst-axis velocity max, runtime s, starts) columns of one asset's hourly
        rows: what a chart needs, without building a record per hour."""
        with self._lock:
            rows = self._q(
                "SELECT hour, max_vel, runtime_s, starts FROM hourly WHERE asset_id = ?"
                " AND hour >= ? AND hour < ? ORDER BY hour",
                (asset_id, int(start // 3600) * 3600, end),
            )
        if not rows:
            return [], [], [], []
        cols = list(zip(*rows, strict=True))
        return (
            [float(x) for x in cols[0]],
            [float(x) for x in cols[1]],
            [float(x) for x in cols[2]],
            [float(x) for x in cols[3]],
        )

    def first_hour(self, asset_id: str) -> float | None:
        """The start of the asset's first hour of data (None without data)."""
        with self._lock:
            rows = self._q("SELECT min(hour) FROM hourly WHERE asset_id = ?", (asset_id,))
        return None if rows[0][0] is None else float(rows[0][0])

    def change_stamp(self) -> tuple[float, ...]:
        with self._lock:
            rows = self._q(
                "SELECT (SELECT max(frame_id) FROM frames), (SELECT max(recv_time) FROM latest),"
                " (SELECT max(computed_at) FROM outlook), (SELECT max(entry_id) FROM service_log),"
                " (SELECT count(*) FROM windows), (SELECT max(window_id) FROM windows),"
                " (SELECT max(last_seen) FROM nodes), (SELECT sum(online) FROM nodes),"
                " (SELECT count(*) FROM nodes),"
                " (SELECT value FROM meta WHERE key = ?)",
                (REGISTRY_KEY,),
            )
        return tuple(float(v or 0) for v in rows[0])
