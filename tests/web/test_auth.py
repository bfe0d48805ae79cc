"""Sessions, roles, CSRF, throttling, cookie flags."""

from __future__ import annotations

from typing import Any

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
