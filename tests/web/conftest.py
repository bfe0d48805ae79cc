"""Fixtures for the fleet page tests: the app over a real SQLite gateway store filled through the
store's API (fleet_web.synth), its outlook computed by the gateway's engine, and logins."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from fleet_web import create_app
from fleet_web.auth import hash_password

PASSWORDS = {"viewer": "viewer-pass-123", "tech": "technician-pass-1", "admin": "admin-pass-1234"}
ROLE_OF = {"viewer": "viewer", "tech": "technician", "admin": "admin"}
SITES = ("Osaka Works", "Nagoya Plant", "Kobe Yard")
FLEET = 60  # assets of the shared test fleet (AS-00001 ...), one in three degrading


_HASHES: dict[str, str] = {}


def add_users(store: Any) -> None:
    from gateway.store.api import User

    for name, pw in PASSWORDS.items():
        if name not in _HASHES:  # scrypt is slow on purpose: hash once per test run
            _HASHES[name] = hash_password(pw)
        store.upsert_user(User(name, _HASHES[name], ROLE_OF[name]))


def gateway_step(store: Any) -> int:
    """What the gateway's outlook task does every few seconds: recompute changed assets."""
    from gateway.outlook import OutlookEngine

    return OutlookEngine(store).step()


def make_store(path: Path, n: int, hours: int, sites: tuple[str, ...] = SITES[:2]) -> Any:
    from fleet_web.synth import populate
    from gateway.store import open_store

    st = open_store(str(path))
    populate(st, n, hours, time.time(), sites=sites)
    add_users(st)
    gateway_step(st)
    return st


@pytest.fixture(scope="session")
def fleet_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared test fleet, built once; every test gets a copy of the file."""
    path = tmp_path_factory.mktemp("fleet") / "kizashi.db"
    make_store(path, FLEET, 24 * 60, SITES).close()
    return path


@pytest.fixture
def store(fleet_db: Path, tmp_path: Path) -> Iterator[Any]:
    from gateway.store import open_store

    shutil.copy(fleet_db, tmp_path / "kizashi.db")
    st = open_store(str(tmp_path / "kizashi.db"))
    yield st
    st.close()


@pytest.fixture
def app(store: Any) -> Flask:
    return create_app({"SECRET_KEY": "test-secret", "TESTING": True}, store=store)


@pytest.fixture
def fleet(app: Flask) -> Any:
    """The app's own data layer (writes through it are seen at once)."""
    return app.extensions["fleet"]


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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless chromium for the module's browser tests (tests/web/browser.py)."""
    from .browser import chromium

    yield from chromium()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Any]:
    """A small fleet of its own (12 assets, 40 days, two sites)."""
    st = make_store(tmp_path / "kizashi.db", 12, 24 * 40)
    yield st
    st.close()
