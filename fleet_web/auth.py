"""Login, sessions, roles, CSRF and login throttling.

Sessions: the signed cookie holds the user name and the user's `session_version` only (no
part of the password hash). Every request reloads the user and compares the version; logout,
a new password and disabling or enabling the user raise it in the store, which ends every
older cookie of that user.

Throttling (`Throttle`): failed logins are counted per (user, address), per address across
all users and per user across all addresses, in bounded LRU tables; the check and the count
are one atomic step, so parallel guesses cannot slip past the limit.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

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

from gateway.domain import ROLES

from .data import FleetData

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])
PUBLIC = {"auth.login", "ops.healthz", "ops.metrics", "static"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
MAX_NAME = 64  # longer login names are never looked up (no user can have one)


def hash_password(pw: str) -> str:
    return generate_password_hash(pw, method="scrypt")


_dummy: list[str] = []


def dummy_hash() -> str:
    """A hash made exactly like a real user's, to verify against when the user is unknown or
    disabled: the answer then takes the same time, so timing does not tell which names exist."""
    if not _dummy:
        _dummy.append(hash_password(secrets.token_urlsafe(16)))
    return _dummy[0]


@dataclass(slots=True)
class _Count:
    n: int
    start: float
    last: float


class _Table:
    """At most `size` counters, least recently used dropped first; each resets `window` s
    after its first failure."""

    def __init__(self, size: int, window: float) -> None:
        self.size, self.window = size, window
        self._d: OrderedDict[Any, _Count] = OrderedDict()

    def get(self, key: Any, now: float) -> _Count | None:
        c = self._d.get(key)
        if c is not None and now - c.start >= self.window:
            del self._d[key]
            return None
        return c

    def add(self, key: Any, now: float) -> None:
        c = self.get(key, now)
        if c is None:
            self._d[key] = _Count(1, now, now)
        else:
            c.n += 1
            c.last = now
            self._d.move_to_end(key)
        while len(self._d) > self.size:
            self._d.popitem(last=False)

    def undo(self, key: Any) -> None:
        c = self._d.get(key)
        if c is not None:
            c.n -= 1

    def drop(self, key: Any) -> None:
        self._d.pop(key, None)

    def __len__(self) -> int:
        return len(self._d)


def user_key(name: str) -> bytes:
    """A fixed-size key for a login name (case-insensitive): a long name costs 16 bytes."""
    return hashlib.blake2b(name.strip().lower().encode("utf-8", "replace"), digest_size=16).digest()


class Throttle:
    """Failed-login limits, checked and counted in one atomic step (`begin`).

    - (user, address): at most `limit` failures per `window` seconds, then refused;
    - one address across all users: at most `ip_limit` failures per window (one password
      tried against many users);
    - one user across all addresses: after `user_slow_after` failures, one attempt per
      `user_interval` seconds. A slowdown, not a lock: an attacker elsewhere cannot lock a
      real user out for good.
    Every table keeps at most `max_keys` entries (least recently used dropped first).
    """

    def __init__(
        self,
        limit: int = 5,
        window: float = 900.0,
        ip_limit: int = 30,
        user_slow_after: int = 20,
        user_interval: float = 10.0,
        max_keys: int = 10000,
    ) -> None:
        self.limit, self.ip_limit = limit, ip_limit
        self.user_slow_after, self.user_interval = user_slow_after, user_interval
        self.pair = _Table(max_keys, window)
        self.ip = _Table(max_keys, window)
        self.user = _Table(max_keys, window)
        self._lock = threading.Lock()

    def begin(self, name: str, ip: str, now: float | None = None) -> float | None:
        """None: go ahead (the attempt is already counted as a failure; call `succeeded` if it
        was not one). Otherwise the seconds to wait before trying again."""
        now = time.time() if now is None else now
        uk = user_key(name)
        with self._lock:
            pair, by_ip = self.pair.get((uk, ip), now), self.ip.get(ip, now)
            by_user = self.user.get(uk, now)
            if pair is not None and pair.n >= self.limit:
                return max(1.0, pair.start + self.pair.window - now)
            if by_ip is not None and by_ip.n >= self.ip_limit:
                return max(1.0, by_ip.start + self.ip.window - now)
            if (
                by_user is not None
                and by_user.n >= self.user_slow_after
                and now - by_user.last < self.user_interval
            ):
                return max(1.0, by_user.last + self.user_interval - now)
            self.pair.add((uk, ip), now)
            self.ip.add(ip, now)
            self.user.add(uk, now)
            return None

    def succeeded(self, name: str, ip: str) -> None:
        uk = user_key(name)
        with self._lock:
            self.pair.drop((uk, ip))
            self.ip.undo(ip)
            self.user.undo(uk)

    def size(self) -> int:
        with self._lock:
            return len(self.pair) + len(self.ip) + len(self.user)


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
    """The page's data; for a customer's user only that customer's sites (fleet_web/tenancy)."""
    base = cast(FleetData, current_app.extensions["fleet"])
    user = g.get("user")
    if user and user.get("customer"):
        view = g.get("tenant_fleet")
        if view is None:  # one per request: the allowed sites are read once
            from .tenancy import TenantFleet

            view = g.tenant_fleet = TenantFleet(base, str(user["customer"]))
        return cast(FleetData, view)
    return base


def csrf_token() -> str:
    tok = session.get("csrf")
    if not isinstance(tok, str):
        tok = secrets.token_urlsafe(32)
        session["csrf"] = tok
    return tok


def role_at_least(role: str) -> bool:
    user = g.get("user")
    if user and user.get("customer") and role != "viewer":
        return False  # a customer's user views, whatever role it was given
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
    name, version = session.get("user"), session.get("sv")
    if isinstance(name, str) and isinstance(version, int):
        u = fleet().get_user(name)
        if u and not u.get("disabled") and int(u.get("session_version", 0)) == version:
            g.user = u
        else:
            session.clear()
    elif "user" in session:  # a cookie of an older format: sign in again
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
    c = app.config
    app.extensions["throttle"] = Throttle(
        int(c["LOGIN_MAX_FAILURES"]),
        float(c["LOGIN_WINDOW_S"]),
        ip_limit=int(c["LOGIN_IP_MAX_FAILURES"]),
        user_slow_after=int(c["LOGIN_USER_SLOW_AFTER"]),
        user_interval=float(c["LOGIN_USER_INTERVAL_S"]),
        max_keys=int(c["LOGIN_THROTTLE_KEYS"]),
    )
    app.before_request(_before)
    app.jinja_env.globals.update(csrf_token=csrf_token, role_at_least=role_at_least)
    app.register_blueprint(bp)


def safe_next(raw: str | None) -> str:
    """Where to go after login: a path on this site only, else the overview. Refuses anything
    but printable ASCII and backslashes (browsers drop control characters and read a backslash
    as `/`: `/<TAB>/evil` is `//evil`), scheme- or host-relative URLs; keeps path and query."""
    fallback = url_for("overview.index")
    if not raw or len(raw) > 2000 or any(not "!" <= c <= "~" or c == "\\" for c in raw):
        return fallback
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return fallback
    if parts.path.startswith("//"):
        return fallback
    return parts.path + ("?" + parts.query if parts.query else "")


def _refused(wait: float) -> Any:
    html = render_template(
        "login.html", error=f"Too many failed logins; try again in {int(wait) + 1} s."
    )
    return html, 429, {"Retry-After": str(int(wait) + 1)}


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method != "POST":
        return render_template("login.html", error=None)
    name = request.form.get("username", "").strip()
    pw = request.form.get("password", "")
    ip = request.remote_addr or "?"
    throttle: Throttle = current_app.extensions["throttle"]
    wait = throttle.begin(name, ip)
    if wait is not None:
        return _refused(wait)
    u = fleet().get_user(name) if 0 < len(name) <= MAX_NAME else None
    if u is not None and u.get("disabled"):
        u = None  # same answer, time and failure count as an unknown user
    ok = verify_password(u["password_hash"] if u else dummy_hash(), pw)
    if u is None or not ok:
        return render_template("login.html", error="Unknown user or wrong password."), 401
    throttle.succeeded(name, ip)
    session.clear()
    session.permanent = True
    session["user"] = u["name"]
    session["sv"] = int(u.get("session_version", 0))
    csrf_token()
    return redirect(safe_next(request.args.get("next")))


@bp.post("/logout")
def logout() -> Response:
    user = g.get("user")
    if user:
        fleet().end_sessions(user["name"])  # this cookie, and any copy of it, is now dead
    session.clear()
    return redirect(url_for("auth.login"))
