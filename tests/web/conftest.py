"""Fixtures for the fleet page tests: an in-memory fleet app, a SQLite-store app, logins."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from fleet_web import create_app
from fleet_web.auth import hash_password
from fleet_web.memfleet import MemoryFleet

PASSWORDS = {"viewer": "viewer-pass-123", "tech": "technician-pass-1", "admin": "admin-pass-1234"}
ROLE_OF = {"viewer": "viewer", "tech": "technician", "admin": "admin"}


_HASHES: dict[str, str] = {}


def add_users(fleet: Any) -> None:
    for name, pw in PASSWORDS.items():
        if name not in _HASHES:  # scrypt is slow on purpose: hash once per test run
            _HASHES[name] = hash_password(pw)
        fleet.add_user(name, ROLE_OF[name], _HASHES[name])


@pytest.fixture
def fleet() -> MemoryFleet:
    f = MemoryFleet(60, now=time.time())
    add_users(f)
    return f


@pytest.fixture
def app(fleet: MemoryFleet) -> Flask:
    return create_app({"SECRET_KEY": "test-secret", "TESTING": True}, store=fleet)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'name="csrf-token" content="([^"]+)"', html
    )
    assert m, "no CSRF token in page"
    return m.group(1)


def login(client: FlaskClient, name: str, password: str | None = None) -> str:
    """Log in; returns the session's CSRF token."""
    tok = csrf_of(client.get("/login").get_data(as_text=True))
    r = client.post(
        "/login",
        data={"username": name, "password": password or PASSWORDS[name], "csrf_token": tok},
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    return csrf_of(client.get("/").get_data(as_text=True))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def as_role(app: Flask) -> Any:
    def make(name: str) -> tuple[FlaskClient, str]:
        c = app.test_client()
        return c, login(c, name)

    return make


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Any]:
    from fleet_web.synth import populate
    from gateway.store import open_store

    st = open_store(str(tmp_path / "kizashi.db"))
    populate(st, 12, 24 * 40, time.time())
    add_users(_UserSink(st))
    yield st
    st.close()


class _UserSink:
    def __init__(self, store: Any) -> None:
        self.store = store

    def add_user(self, name: str, role: str, password_hash: str) -> None:
        from gateway.store.api import User

        self.store.upsert_user(User(name, password_hash, role))
