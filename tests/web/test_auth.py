"""Sessions, roles, CSRF, throttling, cookie flags."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from fleet_web import create_app

from .conftest import PASSWORDS, csrf_of, login


def test_pages_and_api_need_a_session(client: FlaskClient) -> None:
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    assert client.get("/assets/AS-00001").status_code == 302
    r = client.get("/api/assets")
    body = r.json
    assert r.status_code == 401 and body is not None and body["error"] == "Unauthorized"
    assert client.get("/export/assets.csv").status_code == 302


def test_health_and_metrics_are_public(client: FlaskClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json is not None and r.json["status"] == "ok"
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    assert "kizashi_frames_in_total" in r.get_data(as_text=True)  # the gateway's registry
    assert "kizashi_web_requests_total" in r.get_data(as_text=True)


def test_metrics_token(store: Any) -> None:
    c = create_app({"SECRET_KEY": "k", "METRICS_TOKEN": "s3cret"}, store=store).test_client()
    assert c.get("/metrics").status_code == 401
    assert c.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_login_logout_and_wrong_password(client: FlaskClient) -> None:
    tok = csrf_of(client.get("/login").get_data(as_text=True))
    r = client.post("/login", data={"username": "tech", "password": "nope", "csrf_token": tok})
    assert r.status_code == 401 and "wrong password" in r.get_data(as_text=True)
    tok = login(client, "tech")
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf_token": tok}).status_code == 302
    assert client.get("/").status_code == 302


def test_login_requires_csrf(client: FlaskClient) -> None:
    client.get("/login")
    r = client.post("/login", data={"username": "tech", "password": PASSWORDS["tech"]})
    assert r.status_code == 400


def test_next_is_local_only(client: FlaskClient) -> None:
    tok = csrf_of(client.get("/login").get_data(as_text=True))
    data = {"username": "tech", "password": PASSWORDS["tech"], "csrf_token": tok}
    r = client.post("/login?next=//evil.example/x", data=data)
    assert r.headers["Location"] == "/"


def test_lockout_after_five_failures(client: FlaskClient) -> None:
    tok = csrf_of(client.get("/login").get_data(as_text=True))
    for _ in range(5):
        r = client.post("/login", data={"username": "tech", "password": "x", "csrf_token": tok})
        assert r.status_code == 401
    good = {"username": "tech", "password": PASSWORDS["tech"], "csrf_token": tok}
    assert client.post("/login", data=good).status_code == 429
    # another user from the same address is not locked out
    other = {"username": "viewer", "password": PASSWORDS["viewer"], "csrf_token": tok}
    assert client.post("/login", data=other).status_code == 302


def test_cookie_flags(store: Any) -> None:
    for secure in (False, True):
        app = create_app({"SECRET_KEY": "k", "SESSION_COOKIE_SECURE": secure}, store=store)
        r = app.test_client().get("/login")
        cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]


def test_csrf_on_form_and_json_posts(as_role: Any) -> None:
    c, tok = as_role("tech")
    url = "/api/assets/AS-00002/service"
    assert c.post(url, json={"kind": "inspection"}).status_code == 400
    assert (
        c.post(url, json={"kind": "inspection"}, headers={"X-CSRF-Token": "bad"}).status_code == 400
    )
    assert (
        c.post(url, json={"kind": "inspection"}, headers={"X-CSRF-Token": tok}).status_code == 201
    )
    assert c.post("/assets/AS-00002/service", data={"kind": "inspection"}).status_code == 400
    r = c.post("/assets/AS-00002/service", data={"kind": "inspection", "csrf_token": tok})
    assert r.status_code == 302


def test_roles(as_role: Any) -> None:
    v, vt = as_role("viewer")
    body = {"kind": "inspection"}
    assert (
        v.post("/api/assets/AS-00002/service", json=body, headers={"X-CSRF-Token": vt}).status_code
        == 403
    )
    assert "Record service" not in v.get("/assets/AS-00002").get_data(as_text=True)
    assert v.get("/admin").status_code == 403
    assert v.get("/api/users").status_code == 403
    assert v.get("/export/users.csv").status_code == 403
    t, _ = as_role("tech")
    assert "Record service" in t.get("/assets/AS-00002").get_data(as_text=True)
    assert t.get("/admin").status_code == 403
    a, at = as_role("admin")
    assert a.get("/admin").status_code == 200
    r = a.post(
        "/api/users",
        json={"name": "new.user", "role": "viewer", "password": "long-password-1"},
        headers={"X-CSRF-Token": at},
    )
    assert r.status_code == 201
    names = [u["name"] for u in a.get("/api/users").json]
    assert "new.user" in names and all("password_hash" not in u for u in a.get("/api/users").json)


def test_disabled_user_is_logged_out(app: Flask, fleet: Any) -> None:
    c = app.test_client()
    login(c, "viewer")
    fleet.set_user("viewer", disabled=True)
    assert c.get("/").status_code == 302
    tok = csrf_of(c.get("/login").get_data(as_text=True))
    data = {"username": "viewer", "password": PASSWORDS["viewer"], "csrf_token": tok}
    assert c.post("/login", data=data).status_code == 401


def test_password_hashes_are_scrypt(fleet: Any) -> None:
    assert fleet.get_user("tech")["password_hash"].startswith("scrypt:")


# ---- issue 15: sessions end on logout, throttle bounds and races, timing, redirects, params


def _cookie(c: FlaskClient) -> str:
    ck = c.get_cookie("kizashi_session")
    assert ck is not None
    return ck.value


def _with_cookie(app: Flask, value: str) -> FlaskClient:
    c = app.test_client()
    c.set_cookie("kizashi_session", value)
    return c


def test_logout_ends_the_session_for_a_copied_cookie(app: Flask) -> None:
    c = app.test_client()
    tok = login(c, "tech")
    stolen = _cookie(c)
    assert _with_cookie(app, stolen).get("/").status_code == 200
    assert c.post("/logout", data={"csrf_token": tok}).status_code == 302
    assert _with_cookie(app, stolen).get("/").status_code == 302


def test_reenabled_user_old_cookie_stays_dead(app: Flask, fleet: Any) -> None:
    c = app.test_client()
    login(c, "viewer")
    old = _cookie(c)
    fleet.set_user("viewer", disabled=True)
    fleet.set_user("viewer", disabled=False)
    assert _with_cookie(app, old).get("/").status_code == 302
    login(c, "viewer")  # a fresh login works again
    assert c.get("/").status_code == 200


def test_cookie_holds_user_and_session_version_only(app: Flask, fleet: Any) -> None:
    c = app.test_client()
    login(c, "tech")
    data = app.session_interface.get_signing_serializer(app).loads(_cookie(c))  # type: ignore[attr-defined]
    assert set(data) <= {"user", "sv", "csrf", "_permanent", "_flashes"}
    assert data["user"] == "tech" and isinstance(data["sv"], int)
    h = fleet.get_user("tech")["password_hash"]
    assert not any(h[i : i + 8] in _cookie(c) for i in range(0, len(h) - 8))


def test_password_change_and_logout_in_the_real_store(sqlite_store: Any) -> None:
    import dataclasses

    from fleet_web.auth import hash_password

    app = create_app({"SECRET_KEY": "k"}, store=sqlite_store)
    c = app.test_client()
    login(c, "tech")
    old = _cookie(c)
    u = sqlite_store.user("tech")
    sqlite_store.upsert_user(dataclasses.replace(u, role="admin"))  # a role change keeps it
    assert _with_cookie(app, old).get("/").status_code == 200
    sqlite_store.upsert_user(dataclasses.replace(u, password_hash=hash_password("new-pass-12345")))
    assert _with_cookie(app, old).get("/").status_code == 302
    assert sqlite_store.user("tech").session_version == u.session_version + 1


def test_login_throttle_memory_is_bounded() -> None:
    """10,000 failed logins with 10 kB names from 10,000 addresses (the worst case): the
    throttle keeps at most max_keys entries per table and no name text."""
    import gc
    import tracemalloc

    from fleet_web.auth import Throttle

    th = Throttle(max_keys=2000)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for i in range(10000):
        name = f"{i:05d}" + "x" * 10000
        assert th.begin(name, f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", now=1000.0) is None
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert th.size() <= 3 * 2000
    assert grown < 4_000_000, grown  # the old dict kept every (name, ip): > 100 MB


def test_throttle_keys_expire_with_the_window() -> None:
    from fleet_web.auth import Throttle

    th = Throttle(limit=2, window=60)
    assert th.begin("a", "1.1.1.1", now=0) is None
    assert th.begin("a", "1.1.1.1", now=1) is None
    assert th.begin("a", "1.1.1.1", now=2) is not None
    assert th.begin("a", "1.1.1.1", now=61) is None  # the window passed


def test_user_lockout_is_a_slowdown_not_a_lock() -> None:
    """An attacker on many addresses cannot lock a real user out: after 20 failures the user
    gets one try per interval, from any address, never none."""
    from fleet_web.auth import Throttle

    th = Throttle(limit=5, user_slow_after=20, user_interval=10)
    for i in range(20):
        assert th.begin("tech", f"10.0.0.{i}", now=100.0) is None
    wait = th.begin("tech", "192.168.1.7", now=101.0)
    assert wait is not None and wait <= 10
    assert th.begin("tech", "192.168.1.7", now=111.0) is None  # the real user, after 10 s
    th.succeeded("tech", "192.168.1.7")


def _login_post(c: FlaskClient, name: str, pw: str) -> int:
    tok = csrf_of(c.get("/login").get_data(as_text=True))
    return c.post("/login", data={"username": name, "password": pw, "csrf_token": tok}).status_code


def test_parallel_guesses_cannot_pass_the_limit(app: Flask) -> None:
    import threading

    clients = [app.test_client() for _ in range(40)]
    toks = [csrf_of(c.get("/login").get_data(as_text=True)) for c in clients]
    gate = threading.Barrier(40)
    codes: list[int] = []

    def guess(c: FlaskClient, tok: str) -> None:
        gate.wait()
        r = c.post("/login", data={"username": "tech", "password": "guess", "csrf_token": tok})
        codes.append(r.status_code)

    threads = [threading.Thread(target=guess, args=x) for x in zip(clients, toks, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes.count(401) == 5 and codes.count(429) == 35, sorted(codes)


def test_one_password_against_many_users_is_throttled(client: FlaskClient) -> None:
    codes = [_login_post(client, f"user{i}", "Summer2026!") for i in range(32)]
    assert codes[:30] == [401] * 30 and codes[30:] == [429, 429]


def test_forwarded_for_is_believed_only_from_a_configured_proxy(store: Any) -> None:
    # No proxy configured: X-Forwarded-For is ignored, so a client cannot dodge its limit.
    c = create_app({"SECRET_KEY": "k"}, store=store).test_client()
    for i in range(5):
        c.environ_base["HTTP_X_FORWARDED_FOR"] = f"10.0.0.{i}"
        assert _login_post(c, "tech", "wrong") == 401
    c.environ_base["HTTP_X_FORWARDED_FOR"] = "10.0.0.99"
    assert _login_post(c, "tech", PASSWORDS["tech"]) == 429
    # Behind one trusted proxy: the attacker's address is locked, the real user's is not.
    app = create_app({"SECRET_KEY": "k", "TRUSTED_PROXIES": 1}, store=store)
    bad, good = app.test_client(), app.test_client()
    bad.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.9"
    good.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.4"
    assert [_login_post(bad, "tech", "wrong") for _ in range(6)][-1] == 429
    assert _login_post(good, "tech", PASSWORDS["tech"]) == 302


def test_login_time_does_not_tell_which_names_exist(store: Any, fleet: Any) -> None:
    """Unknown, disabled and existing users with a wrong password take the same time: all
    verify one scrypt hash. Medians of 7 interleaved rounds (load drifts between rounds, not
    within one), the fastest at least 0.4 of the slowest (it was 12 ms vs 169 ms: 0.07)."""
    import statistics

    fleet.add_user("gone", "viewer", fleet.get_user("tech")["password_hash"])
    fleet.set_user("gone", disabled=True)
    cfg = {"SECRET_KEY": "k", "LOGIN_MAX_FAILURES": 100, "LOGIN_IP_MAX_FAILURES": 1000}
    c = create_app(cfg, store=store).test_client()
    tok = csrf_of(c.get("/login").get_data(as_text=True))

    def once(name: str) -> float:
        t0 = time.perf_counter()
        r = c.post("/login", data={"username": name, "password": "wrong", "csrf_token": tok})
        assert r.status_code == 401
        return time.perf_counter() - t0

    once("nobody")  # warm up (the dummy hash is made on first use)
    names = ("tech", "nobody", "gone")
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(7):
        for n in names:
            times[n].append(once(n))
    med = {n: statistics.median(t) for n, t in times.items()}
    assert min(med.values()) > 0.4 * max(med.values()), med


@pytest.mark.parametrize(
    "nxt",
    [
        "/%09/evil.example",
        "/%5Cevil.example",
        "//evil.example/x",
        "https://evil.example/",
        "/%0d%0aSet-Cookie:%20x=1",
        "/\u2028/evil",
        "javascript:alert(1)",
        "evil.example",
        "/" + "a" * 3000,
    ],
)
def test_next_refuses_other_sites_and_odd_characters(client: FlaskClient, nxt: str) -> None:
    tok = csrf_of(client.get("/login").get_data(as_text=True))
    data = {"username": "tech", "password": PASSWORDS["tech"], "csrf_token": tok}
    r = client.post("/login?next=" + nxt, data=data)
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_next_keeps_a_local_path_and_query(client: FlaskClient) -> None:
    tok = csrf_of(client.get("/login").get_data(as_text=True))
    data = {"username": "tech", "password": PASSWORDS["tech"], "csrf_token": tok}
    r = client.post("/login?next=/assets/AS-00001%3Fdays%3D30", data=data)
    assert r.headers["Location"] == "/assets/AS-00001?days=30"


def test_metrics_is_loopback_only_without_a_token(store: Any) -> None:
    app = create_app({"SECRET_KEY": "k"}, store=store)
    lan = {"REMOTE_ADDR": "192.168.1.50"}
    assert app.test_client().get("/metrics", environ_base=lan).status_code == 403
    assert app.test_client().get("/metrics").status_code == 200  # 127.0.0.1
    tok = create_app({"SECRET_KEY": "k", "METRICS_TOKEN": "t0ken"}, store=store).test_client()
    assert tok.get("/metrics", environ_base=lan).status_code == 401
    auth = {"Authorization": "Bearer t0ken"}
    assert tok.get("/metrics", environ_base=lan, headers=auth).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"name": "bob\n", "role": "viewer", "password": "long-password-1"},
        {"name": "b\u043eb", "role": "viewer", "password": "long-password-1"},  # Cyrillic o
        {"name": "\uff42ob", "role": "viewer", "password": "long-password-1"},  # fullwidth b
        {"name": "Bob", "role": "viewer", "password": "long-password-1"},
        {"name": ["bob"], "role": "viewer", "password": "long-password-1"},
        {"name": "bob", "role": "viewer", "password": 12345678901},
        {"name": "bob", "role": ["viewer"], "password": "long-password-1"},
    ],
)
def test_admin_user_checks_are_strict(as_role: Any, body: dict[str, Any]) -> None:
    a, at = as_role("admin")
    r = a.post("/api/users", json=body, headers={"X-CSRF-Token": at})
    assert r.status_code == 400, r.json


def test_cli_refuses_a_loose_user_name(tmp_path: Any) -> None:
    from fleet_web.users import main

    db = str(tmp_path / "k.db")
    assert main(["--db", db, "add", "bob\n", "--password", "long-password-1"]) == 2
    assert main(["--db", db, "add", "b\u043eb", "--password", "long-password-1"]) == 2
    assert main(["--db", db, "add", "bob", "--password", "long-password-1"]) == 0


DEEP_JSON = "[" * 100000 + "]" * 100000
FUZZ = ["\u00b2", "\u0663", "1" * 5000, "-1", "1e309", "nan", "\x00", "[" * 3000 + "]" * 3000]
PARAMS = (
    "days",
    "limit",
    "offset",
    "due_weeks",
    "sort",
    "order",
    "q",
    "site",
    "health",
    "node_health",
    "format",
    "at_risk",
    "weeks",
    "start",
    "end",
    "from",
    "to",
    "asset",
    "node",
    "kind",
    "part",
    "date",
    "note",
    "downtime_avoided_h",
    "acted_on_warning",
    "role",
    "disabled",
    "name",
    "password",
    "machine",
    "machine_group",
    "zones",
    "asset_id",
    "page",
    "n",
)


def _fuzz_all_routes(app: Flask) -> list[str]:
    c = app.test_client()
    tok = login(c, "admin")
    bad: list[str] = []
    hdr = {"X-CSRF-Token": tok}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "auth.logout", "auth.login"):
            continue
        for v in FUZZ:
            seg = quote(v[:200], safe="")

            def arg(m: re.Match[str], seg: str = seg) -> str:
                return "AS-00001" if m.group(1) == "asset_id" else seg

            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", arg, rule.rule)
            q = {p: v for p in PARAMS}
            methods = rule.methods or set()
            calls = []
            if "GET" in methods:
                calls.append(lambda p=path, q=q: c.get(p, query_string=q))
            if "POST" in methods:
                calls.append(lambda p=path, q=q: c.post(p, data={**q, "csrf_token": tok}))
                calls.append(lambda p=path, q=q: c.post(p, json=q, headers=hdr))
                calls.append(
                    lambda p=path: c.post(
                        p, data=DEEP_JSON, content_type="application/json", headers=hdr
                    )
                )
            for call in calls:
                r = call()
                if r.status_code >= 500:
                    bad.append(f"{rule.rule} {v[:10]!r}: {r.status_code}")
    return bad


def test_no_parameter_gives_a_500_on_any_route(app: Flask) -> None:
    assert _fuzz_all_routes(app) == []


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_store_session_version_and_window_delete(tmp_path: Any, backend: str) -> None:
    """Both stores: a new hash or a change of `disabled` raises session_version, a role
    change does not; end_sessions raises it; delete_window removes one window."""
    import dataclasses
    import uuid

    from gateway.store.api import MaintenanceWindow, User
    from gateway.store.postgres import PostgresStore
    from gateway.store.sqlite import SqliteStore
    from tests.gateway.conftest import PG_URL

    st: Any = (
        SqliteStore(tmp_path / "s.db")
        if backend == "sqlite"
        else PostgresStore(PG_URL, "kz_test_" + uuid.uuid4().hex[:12])
    )
    try:
        st.upsert_user(User("ann", "h1", "viewer"))
        assert st.user("ann").session_version == 0
        st.upsert_user(User("ann", "h1", "admin"))
        assert st.user("ann").session_version == 0
        st.upsert_user(User("ann", "h2", "admin"))
        st.upsert_user(dataclasses.replace(st.user("ann"), disabled=True))
        st.end_sessions("ann")
        assert st.user("ann").session_version == 3 and st.users()[0].session_version == 3
        wid = st.add_window(MaintenanceWindow("s1", 10.0, 20.0))
        assert st.delete_window(wid) and not st.delete_window(wid) and st.windows() == []
    finally:
        if backend == "postgres":
            st.drop_schema()
        st.close()
