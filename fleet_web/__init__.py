"""Kizashi fleet status page: Flask app factory.

    create_app(config: dict | None = None, store=None, outlook=None) -> Flask

`store` is the gateway storage (gateway.store.api), required: the page shows what the gateway
stored and judged, and nothing else. `outlook` is a gateway outlook engine
(gateway.outlook.OutlookEngine) the page asks to recompute an asset after a write of its own;
by default one over `store` on the CLOCK (the gateway's engine task runs apart from it, so a
page write never waits for the task's sweep of the fleet). Both are wrapped by
`fleet_web.adapter.StoreFleet`. Serve with waitress:
`waitress.serve(create_app(cfg, store, outlook), host=..., port=...)`.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from datetime import timedelta
from typing import Any

from flask import Flask, g, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from .data import FleetData

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # Secure cookies: True when served over HTTPS (config, or KIZASHI_WEB_SECURE=1).
    "SESSION_COOKIE_SECURE": False,
    "SESSION_COOKIE_NAME": "kizashi_session",
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
    # Login throttle (fleet_web.auth.Throttle): failures per (user, address) and window,
    # per address across users, and per user across addresses before one try per interval.
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_WINDOW_S": 900,
    "LOGIN_IP_MAX_FAILURES": 30,
    "LOGIN_USER_SLOW_AFTER": 20,
    "LOGIN_USER_INTERVAL_S": 10,
    "LOGIN_THROTTLE_KEYS": 10000,  # entries per throttle table (LRU): bounds its memory
    # Reverse proxies in front of the page that set X-Forwarded-For / -Proto (0 = none: the
    # headers are ignored, so nobody can claim another address).
    "TRUSTED_PROXIES": 0,
    "REFRESH_S": 5,
    # /metrics: with a token, "Authorization: Bearer <token>" from anywhere; without one,
    # from this machine (loopback) only, unless METRICS_PUBLIC is true.
    "METRICS_TOKEN": None,
    "METRICS_PUBLIC": False,
    # Callable returning Prometheus text; default gateway.metrics.render if importable.
    "METRICS_RENDER": None,
    "CLOCK": None,  # callable -> unix s used as "now" (a simulated clock); default time.time
    "MAX_CONTENT_LENGTH": 1 << 20,
}


def create_app(
    config: dict[str, Any] | None = None, store: Any = None, outlook: Any = None
) -> Flask:
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    if os.environ.get("KIZASHI_WEB_SECURE") == "1":
        app.config["SESSION_COOKIE_SECURE"] = True
    app.config["SECRET_KEY"] = os.environ.get("KIZASHI_WEB_SECRET")
    app.config.update(config or {})
    if not app.config.get("SECRET_KEY"):
        log.warning("no SECRET_KEY configured: sessions end when the process restarts")
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    if store is None:
        raise TypeError("create_app needs the gateway store (gateway.store.open_store(url))")
    from .adapter import StoreFleet
    from .centre import CentreFleet

    # At the fleet server, writes go to the site gateways as commands (fleet_web/centre.py).
    kind = CentreFleet if app.config.get("FLEET_ROLE") else StoreFleet
    fleet: FleetData = kind(store, outlook, clock=app.config.get("CLOCK") or time.time)
    app.extensions["fleet"] = fleet
    proxies = int(app.config["TRUSTED_PROXIES"])
    if proxies > 0:  # only then is X-Forwarded-For believed (the last `proxies` hops)
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    from .util import LimitedJSONProvider

    app.json = LimitedJSONProvider(app)

    from . import (
        admin,
        asset,
        auth,
        commands,
        consulting,
        kpis,
        ledger,
        nodes,
        ops,
        overview,
        parts_page,
        planner,
        proposals,
        report,
        sitefmt,
    )
    from .util import Cache

    app.extensions["kz_cache"] = Cache()
    auth.init_app(app)
    sitefmt.init_app(app)
    for mod in (
        overview,
        asset,
        planner,
        proposals,
        parts_page,
        nodes,
        report,
        consulting,
        kpis,
        ledger,
        admin,
        commands,
        ops,
    ):
        app.register_blueprint(mod.bp)
    ops.init_metrics(app)

    @app.errorhandler(HTTPException)
    def _error(e: HTTPException) -> Any:
        if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
            from .util import json_response

            return json_response({"error": e.name, "detail": e.description}, e.code or 500)
        html = render_template("error.html", code=e.code, name=e.name, description=e.description)
        return html, e.code or 500

    @app.before_request
    def _t0() -> None:
        g.t0 = time.perf_counter()

    @app.after_request
    def _headers(resp: Response) -> Response:
        h = resp.headers
        h.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none';"
            " base-uri 'self'; form-action 'self'",
        )
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "same-origin")
        if request.endpoint != "static":
            h.setdefault("Cache-Control", "no-store")
        t0 = g.get("t0")
        if t0 is not None:
            ms = (time.perf_counter() - t0) * 1000
            h["Server-Timing"] = f"app;dur={ms:.1f}"
            ops.observe(request.endpoint or "none", resp.status_code, ms / 1000)
        return resp

    return app
