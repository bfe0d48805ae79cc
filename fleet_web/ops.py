"""Health check, Prometheus metrics, CSV export of any table, ledger and fleet-wide logs."""

from __future__ import annotations

import hmac
import importlib
import ipaddress
import threading
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, request

from .auth import fleet, role_at_least
from .data import ASSET_COLUMNS, Row
from .exports import (
    EVENT_COLUMNS,
    JOB_COLUMNS,
    LEDGER_COLUMNS,
    SERVICE_COLUMNS,
    UNPLANNED_COLUMNS,
    USER_COLUMNS,
    WINDOW_COLUMNS,
)
from .util import csv_response, int_arg, iso, json_response, table

bp = Blueprint("ops", __name__)
_lock = threading.Lock()
_requests: dict[tuple[str, int], int] = {}
_seconds: dict[str, float] = {}


def observe(endpoint: str, status: int, seconds: float) -> None:
    with _lock:
        _requests[(endpoint, status)] = _requests.get((endpoint, status), 0) + 1
        _seconds[endpoint] = _seconds.get(endpoint, 0.0) + seconds


def init_metrics(app: Flask) -> None:
    if app.config.get("METRICS_RENDER") is None:
        try:
            mod = importlib.import_module("gateway.metrics")
            app.config["METRICS_RENDER"] = getattr(mod, "render", None)
        except ImportError:
            pass


def _web_metrics() -> str:
    lines = [
        "# HELP kizashi_web_requests_total HTTP requests served by the fleet page.",
        "# TYPE kizashi_web_requests_total counter",
    ]
    with _lock:
        for (ep, st), n in sorted(_requests.items()):
            lines.append(f'kizashi_web_requests_total{{endpoint="{ep}",status="{st}"}} {n}')
        lines += [
            "# HELP kizashi_web_request_seconds_total Time spent serving requests.",
            "# TYPE kizashi_web_request_seconds_total counter",
        ]
        for ep, s in sorted(_seconds.items()):
            lines.append(f'kizashi_web_request_seconds_total{{endpoint="{ep}"}} {s:.6f}')
    return "\n".join(lines) + "\n"


@bp.get("/healthz")
def healthz() -> Response:
    """200 when every part of the gateway works, else 503 naming what is down. Under the
    gateway, HEALTH_CHECK (gateway/healthcheck.py) reports the store's ability to commit,
    each link and the outlook's age; the page's own store read is checked either way."""
    body: dict[str, Any] = {"status": "ok", "down": [], "components": {}}
    check: Callable[[], tuple[bool, dict[str, Any]]] | None = current_app.config.get("HEALTH_CHECK")
    if check is not None:
        try:
            _, body = check()
        except Exception as exc:  # report, do not crash the health check
            body = {"status": "down", "down": ["gateway"], "components": {}}
            body["components"]["gateway"] = {"ok": False, "error": type(exc).__name__}
    try:
        fleet().version()
        web: dict[str, Any] = {"ok": True}
    except Exception as exc:
        web = {"ok": False, "error": type(exc).__name__}
    body["components"]["web_store"] = web
    if not web["ok"]:
        body["down"] = sorted([*body["down"], "web_store"])
    body["status"] = "down" if body["down"] else "ok"
    return json_response(body, 503 if body["down"] else 200)


def _loopback(addr: str | None) -> bool:
    try:
        return addr is not None and ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return False


@bp.get("/metrics")
def metrics() -> Response:
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), str(token).encode()):
            abort(401)
    elif not current_app.config.get("METRICS_PUBLIC") and not _loopback(request.remote_addr):
        abort(403, "/metrics answers this machine only; set METRICS_TOKEN to scrape it remotely")
    render: Callable[[], str] | None = current_app.config.get("METRICS_RENDER")
    body = (render() if render else "") + _web_metrics()
    return Response(body, mimetype="text/plain; version=0.0.4")


def _stamp(rows: list[Row], *keys: str) -> list[Row]:
    return [
        {**r, **{k: iso(r[k]) for k in keys if isinstance(r.get(k), float | int)}} for r in rows
    ]


def _tables() -> dict[str, tuple[Callable[[], list[Row]], list[str], str]]:
    f = fleet()
    from . import kpis
    from .nodes import NODE_COLUMNS
    from .parts_data import CATALOG_COLUMNS, DEMAND_COLUMNS, RESERVATION_COLUMNS, STOCK_COLUMNS
    from .planner import HORIZONS, demand, unplanned
    from .proposal_data import PROPOSAL_COLUMNS

    def jobs() -> list[Row]:
        return [
            {"window_id": w["id"], "site": w["site"], "start": w["start"], "end": w["end"], **j}
            for w in f.windows()
            for j in w["jobs"]
        ]

    return {
        "assets": (f.overview, list(ASSET_COLUMNS), "viewer"),
        "nodes": (f.nodes, list(NODE_COLUMNS), "viewer"),
        "events": (lambda: _stamp(f.events(None, 100000), "ts"), list(EVENT_COLUMNS), "viewer"),
        "service": (lambda: _stamp(f.service_log(None), "ts"), list(SERVICE_COLUMNS), "viewer"),
        "ledger": (lambda: _stamp(f.ledger(), "ts"), list(LEDGER_COLUMNS), "viewer"),
        "windows": (f.windows, list(WINDOW_COLUMNS), "viewer"),
        "jobs": (jobs, list(JOB_COLUMNS), "viewer"),
        "parts-demand": (demand, ["part", *(f"weeks_{h}" for h in HORIZONS)], "viewer"),
        "unplanned": (lambda: unplanned(None), list(UNPLANNED_COLUMNS), "viewer"),
        # parts books (a customer's user gets its machines' reservations, none of the rest)
        "parts-plan": (f.parts_plan, list(DEMAND_COLUMNS), "viewer"),
        "parts-stock": (f.parts_stock, list(STOCK_COLUMNS), "viewer"),
        "parts-catalog": (f.parts_catalog, list(CATALOG_COLUMNS), "viewer"),
        "parts-reservations": (
            lambda: f.parts_reservations(open_only=False),
            list(RESERVATION_COLUMNS),
            "viewer",
        ),
        # proposals: a customer's user gets its own, from sent on (tenancy.TenantFleet)
        "proposals": (f.proposals, list(PROPOSAL_COLUMNS), "viewer"),
        "kpis": (kpis.export_rows, list(kpis.KPI_COLUMNS), "viewer"),
        "users": (f.list_users, list(USER_COLUMNS), "admin"),
    }


@bp.get("/export/<name>.csv")
def export(name: str) -> Response:
    t = _tables().get(name)
    if t is None:
        abort(404)
    make, cols, role = t
    if not role_at_least(role):
        abort(403)
    rows = make()
    return csv_response(rows, cols, name)


def _limit() -> int:
    return int_arg("limit", 500, 0, 100000)


@bp.get("/api/events")
def api_events() -> Response:
    return table(_stamp(fleet().events(None, _limit()), "ts"), "events", EVENT_COLUMNS)


@bp.get("/api/service")
def api_service() -> Response:
    return table(_stamp(fleet().service_log(None), "ts"), "service", SERVICE_COLUMNS)


@bp.get("/api/ledger")
def api_ledger() -> Response:
    return table(_stamp(fleet().ledger(), "ts"), "ledger", LEDGER_COLUMNS)
