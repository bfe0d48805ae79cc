"""Login, sessions, roles, CSRF and login throttling."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from .data import ROLES, FleetData

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])
PUBLIC = {"auth.login", "ops.healthz", "ops.metrics", "static"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# A real hash to compare against when the user does not exist (same time either way).
_DUMMY_HASH = generate_password_hash("not-a-password", method="pbkdf2:sha256:1000")


def hash_password(pw: str) -> str:
    return generate_password_hash(pw, method="scrypt")


class Throttle:
    """At most `limit` failed logins per (user, ip) within `window` seconds."""

    def __init__(self, limit: int = 5, window: float = 900.0) -> None:
        self.limit, self.window = limit, window
        self._fail: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self._fail.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def locked(self, key: tuple[str, str], now: float | None = None) -> bool:
        with self._lock:
            return len(self._recent(key, now or time.time())) >= self.limit

    def fail(self, key: tuple[str, str], now: float | None = None) -> None:
        with self._lock:
            self._recent(key, now or time.time()).append(now or time.time())

    def reset(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._fail.pop(key, None)


def verify_password(stored: str, password: str) -> bool:
    """werkzeug hashes (what this app writes) and gateway.passwords `scrypt$...` hashes."""
    if stored.startswith("scrypt$"):
        from gateway.passwords import verify_password as gw_verify

        return gw_verify(password, stored)
    try:
        return check_password_hash(stored, password)
    except ValueError:  # unknown hash format
        return False


def fleet() -> FleetData:
    return cast(FleetData, current_app.extensions["fleet"])


def csrf_token() -> str:
    tok = session.get("csrf")
    if not isinstance(tok, str):
        tok = secrets.token_urlsafe(32)
        session["csrf"] = tok
    return tok


def role_at_least(role: str) -> bool:
    user = g.get("user")
    return bool(user) and ROLES.index(user["role"]) >= ROLES.index(role)


def requires(role: str) -> Callable[[F], F]:
    def deco(fn: F) -> F:
        @wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if not role_at_least(role):
                abort(403)
            return fn(*args, **kwargs)

        return cast(F, inner)

    return deco


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.args.get("format") == "json"


def _before() -> Response | None:
    g.user = None
    name = session.get("user")
    if isinstance(name, str):
        u = fleet().get_user(name)
        if u and not u.get("disabled") and session.get("pw") == u["password_hash"][-16:]:
            g.user = u
        else:
            session.clear()
    if request.method in UNSAFE:
        sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
        good = session.get("csrf")
        if not isinstance(good, str) or not hmac.compare_digest(sent, good):
            abort(400, "CSRF token missing or invalid")
    if request.endpoint in PUBLIC or g.user is not None:
        return None
    if wants_json():
        abort(401)
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def init_app(app: Flask) -> None:
    app.extensions["throttle"] = Throttle(
        int(app.config["LOGIN_MAX_FAILURES"]), float(app.config["LOGIN_WINDOW_S"])
    )
    app.before_request(_before)
    app.jinja_env.globals.update(csrf_token=csrf_token, role_at_least=role_at_least)
    app.register_blueprint(bp)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        name = request.form.get("username", "").strip()
        key = (name.lower(), request.remote_addr or "?")
        throttle: Throttle = current_app.extensions["throttle"]
        if throttle.locked(key):
            return render_template("login.html", error="Too many failed logins; try later."), 429
        u = fleet().get_user(name)
        if u is not None and u.get("disabled"):
            u = None  # same answer, time and failure count as an unknown user
        pw = request.form.get("password", "")
        ok = verify_password(u["password_hash"] if u else _DUMMY_HASH, pw)
        if u and ok:
            throttle.reset(key)
            session.clear()
            session.permanent = True
            session["user"] = u["name"]
            session["pw"] = u["password_hash"][-16:]  # password change ends old sessions
            csrf_token()
            nxt = request.args.get("next", "")
            return redirect(nxt if nxt.startswith("/") and not nxt.startswith("//") else "/")
        throttle.fail(key)
        error = "Unknown user or wrong password."
        return render_template("login.html", error=error), 401
    return render_template("login.html", error=error)


@bp.post("/logout")
def logout() -> Response:
    session.clear()
    return redirect(url_for("auth.login"))
