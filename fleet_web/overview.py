"""Fleet overview page and its JSON: every asset, tiles, filters, live refresh."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request

from .auth import fleet
from .data import ASSET_COLUMNS, ZONES, Row
from .ledger import totals
from .util import (
    cache,
    csv_response,
    filter_assets,
    json_response,
    page_args,
    row_json,
)

bp = Blueprint("overview", __name__)
PAGE = 100


def _now() -> float:
    f = fleet()
    clock = getattr(f, "clock", None)
    return float(clock() if callable(clock) else getattr(f, "now", None) or time.time())


def summary() -> Row:
    f = fleet()

    def make() -> Row:
        rows = f.overview()
        lim = [(str(w), _now() + w * 7 * 86400) for w in (2, 4, 8)]
        due = dict.fromkeys((k for k, _ in lim), 0)
        zones: dict[str | None, int] = dict.fromkeys(ZONES, 0)
        at_risk = offline = 0
        for r in rows:  # one pass: this runs over 10,000 rows
            d = r.get("due_ts")
            if d is not None:
                for k, t in lim:
                    if d <= t:
                        due[k] += 1
            z = r["health"]
            zones[z] = zones.get(z, 0) + 1
            p10 = r.get("rul_p10_h")
            if z in ("C", "D") or (p10 is not None and p10 < 14 * 24):
                at_risk += 1
            if r["node_health"] in ("offline", "stale"):
                offline += 1
        kpi = totals(f.ledger())
        return {
            "assets": len(rows),
            "at_risk": at_risk,
            "due": due,
            "zones": {z: zones[z] for z in ZONES},
            "nodes_offline": offline,
            **kpi,  # downtime_avoided_h, warnings_acted_on, to_review
        }

    out: Row = cache().get((f.version(), "summary"), make)
    return out


def _site_customers() -> dict[str, str]:
    """site -> customer on the fleet server (a customer's user: only its own); {} on a site."""
    out: dict[str, str] = getattr(fleet(), "site_customers", dict)()
    return out


def _select(args: dict[str, str]) -> tuple[list[Row], int]:
    f = fleet()
    key = (f.version(), "assets", tuple(sorted((k, v) for k, v in args.items() if k != "_")))

    def make() -> tuple[list[Row], int]:
        rows = filter_assets(f.overview(), args, _now(), _site_customers())
        return rows, len(rows)

    result: tuple[list[Row], int] = cache().get(key, make)
    return result


# The page's own query keys: anything else (`format`, url_for's `_external`, ...) would reach the
# template's links as keyword arguments.
PAGE_ARGS = ("q", "site", "customer", "health", "node_health", "due_weeks", "at_risk", "sort",
             "order", "offset", "limit")  # fmt: skip


@bp.get("/")
def index() -> str:
    args = {k: v for k, v in request.args.items() if k in PAGE_ARGS}
    rows, total = _select({k: v for k, v in args.items() if k not in ("offset", "limit")})
    off, lim = page_args(args, PAGE)
    return render_template(
        "overview.html",
        rows=rows[off : off + (lim or PAGE)],
        total=total,
        offset=off,
        limit=lim or PAGE,
        summary=summary(),
        sites=fleet().sites(),
        customers=sorted(set(_site_customers().values())),
        args=args,
        refresh_s=current_app.config["REFRESH_S"],
    )


@bp.get("/api/assets")
def api_assets() -> Response:
    args = request.args.to_dict()
    fmt = args.pop("format", "json")
    f = fleet()
    off, lim = page_args(args, None)
    base = {k: v for k, v in args.items() if k not in ("offset", "limit")}
    rows, total = _select(base)
    if fmt == "csv":
        return csv_response(rows, ASSET_COLUMNS, "assets")

    def make() -> bytes:
        sel = rows[off : None if lim is None else off + lim]
        return ("[" + ",".join(row_json(r) for r in sel) + "]").encode()

    key = (f.version(), "assets-json", tuple(sorted(base.items())), off, lim)
    body: bytes = cache().get(key, make)
    resp = Response(body, mimetype="application/json")
    resp.headers["X-Total-Count"] = str(total)
    return resp


@bp.get("/api/summary")
def api_summary() -> Response:
    return json_response(summary())


@bp.get("/api/sites")
def api_sites() -> Any:
    return json_response(fleet().sites())
