"""Shared helpers: JSON/CSV table responses, overview filtering and sorting, a small cache."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from flask import Response, abort, current_app, g, request
from flask.json.provider import DefaultJSONProvider

from .data import ASSET_COLUMNS, Row

MAX_JSON_DEPTH = 16  # request bodies are flat objects; nesting beyond this is refused (400)
_DIGITS = re.compile(r"[0-9]{1,9}")


def int_arg(name: str, default: int, lo: int = 0, hi: int = 10**9) -> int:
    """A whole-number query parameter: ASCII digits only (not `²` or `٣`), at most 9 of them,
    clamped to [lo, hi]; absent or empty gives `default`, anything else a 400."""
    raw = request.args.get(name, "")
    if raw == "":
        return default
    if not _DIGITS.fullmatch(raw):
        abort(400, f"{name}: expected a whole number from {lo} to {hi}")
    return min(hi, max(lo, int(raw)))


def _depth_ok(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            if d > limit:
                return False
            items = v.values() if isinstance(v, dict) else v
            stack.extend((x, d + 1) for x in items)
    return True


class LimitedJSONProvider(DefaultJSONProvider):
    """Request JSON with a nesting limit: a deep document is a ValueError (so `get_json`
    answers 400 / returns None when silent) instead of a RecursionError (500)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        if not _depth_ok(value, MAX_JSON_DEPTH):
            raise ValueError("JSON nested too deeply")
        return value


INTERNAL = {"due_ts", "window_id", "replace_on"}  # and every key starting with "_"
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(v: Any) -> Any:
    if isinstance(v, dict | list):
        return json.dumps(v, separators=(",", ":"))
    if isinstance(v, str) and v.startswith(_FORMULA):
        return "'" + v  # no spreadsheet formula injection from stored names
    return "" if v is None else v


def csv_response(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], name: str) -> Response:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in columns])
    resp = Response(buf.getvalue(), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return resp


def json_response(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, separators=(",", ":"), default=str)
    return Response(body, status=status, mimetype="application/json")


def table(rows: list[Row], name: str, columns: Sequence[str] | None = None) -> Response:
    """Rows as JSON, or CSV with ?format=csv (columns default to the first row's keys)."""
    if request.args.get("format") == "csv":
        cols = list(columns or (rows[0].keys() if rows else []))
        return csv_response(rows, cols, name)
    return json_response(rows)


def iso(ts: float | None) -> str | None:
    """ISO 8601 UTC with a Z, whole seconds (time.strftime: 4x faster than datetime)."""
    if ts is None or not math.isfinite(ts):
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def public_row(r: Row) -> Row:
    return {k: v for k, v in r.items() if k not in INTERNAL and not k.startswith("_")}


def row_json(r: Row) -> str:
    """The row's public JSON, memoised in the row (rows are never mutated once built; the
    store adapter precomputes it while building a snapshot, off the request path)."""
    s = r.get("_json")
    if not isinstance(s, str):
        s = json.dumps(public_row(r), separators=(",", ":"), default=str)
        r["_json"] = s
    return s


SORTABLE = set(ASSET_COLUMNS) | {"trend_pct_week"}


def filter_assets(
    rows: list[Row], args: Mapping[str, str], now: float, customers: Mapping[str, str] = {}
) -> list[Row]:
    """`customers`: site -> customer (the fleet server's tags) for the `customer` filter."""
    q = args.get("q", "").strip().lower()
    site = args.get("site", "")
    customer = args.get("customer", "")
    zones = set(args.get("health", "").upper().replace(",", ""))
    node = args.get("node_health", "")
    due = args.get("due_weeks", "")
    out = rows
    if site:
        out = [r for r in out if r["site"] == site]
    if customer:
        out = [r for r in out if customers.get(r["site"]) == customer]
    if zones:
        out = [r for r in out if r["health"] in zones]
    if node:
        out = [r for r in out if r["node_health"] == node]
    if due:
        if not _DIGITS.fullmatch(due):
            abort(400, "due_weeks: expected a whole number of weeks")
        lim = now + int(due) * 7 * 86400
        out = [r for r in out if r.get("due_ts") is not None and r["due_ts"] <= lim]
    if args.get("at_risk"):
        out = [r for r in out if is_at_risk(r)]
    if q:
        out = [
            r
            for r in out
            if q in f"{r['id']} {r['name']} {r['site']} {r['machine']} {r['component']}".lower()
        ]
    key = args.get("sort", "rul_p10_h")
    if key not in SORTABLE:
        key = "rul_p10_h"
    rev = args.get("order", "asc") == "desc"
    present = [r for r in out if r.get(key) is not None]
    missing = [r for r in out if r.get(key) is None]
    return sorted(present, key=lambda r: r[key], reverse=rev) + missing


def is_at_risk(r: Row) -> bool:
    p10 = r.get("rul_p10_h")
    return r["health"] in ("C", "D") or (p10 is not None and p10 < 14 * 24)


def page_args(args: Mapping[str, str], default: int | None) -> tuple[int, int | None]:
    off, lim = args.get("offset", ""), args.get("limit", "")
    for name, raw in (("offset", off), ("limit", lim)):
        if raw and not _DIGITS.fullmatch(raw):
            abort(400, f"{name}: expected a whole number (at most 9 digits)")
    return (int(off) if off else 0), (int(lim) if lim else default)


class Cache:
    """LRU of computed responses keyed on (fleet version, request key)."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._d: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
        val = make()
        with self._lock:
            self._d[key] = val
            while len(self._d) > self.size:
                self._d.popitem(last=False)
        return val


def cache() -> Cache:
    user = g.get("user")
    customer = user.get("customer") if user else None
    if customer:  # a customer's answers never share a cache with anyone else's
        tenants: dict[str, Cache] = current_app.extensions.setdefault("kz_cache_tenants", {})
        return tenants.setdefault(str(customer), Cache())
    c: Cache = current_app.extensions["kz_cache"]
    return c


def downsample(t: list[float], y: list[float], max_points: int) -> tuple[list[float], list[float]]:
    """Min/max decimation: keeps spikes visible while bounding the points sent to the chart.

    The series is cut into max_points // 2 equal buckets; each keeps its lowest and highest
    point (the first of equals), in time order. Vectorised: a year of hours in about 1 ms."""
    n = len(t)
    if n <= max_points:
        return t, y
    import numpy as np

    buckets = max_points // 2
    edges = np.linspace(0, n, buckets + 1).astype(int)
    starts = edges[:-1][np.diff(edges) > 0]
    ya = np.asarray(y, dtype=np.float64)
    bucket = np.repeat(np.arange(starts.size), np.diff(np.append(starts, n)))
    keep = []
    for reduce in (np.minimum, np.maximum):
        best = reduce.reduceat(ya, starts)
        hit = np.flatnonzero(ya == best[bucket])
        _, first = np.unique(bucket[hit], return_index=True)
        keep.append(hit[first])
    idx = np.unique(np.concatenate(keep))
    ta = np.asarray(t, dtype=np.float64)
    return ta[idx].tolist(), ya[idx].tolist()
