"""The demo's admin bootstrap: KIZASHI_ADMIN_PASSWORD sets the password, never undoes a decision."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fleet_web.auth import verify_password
from gateway.store import open_store
from kizashi.demo import _ensure_admin


def test_admin_bootstrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(str(tmp_path / "k.db"))
    monkeypatch.delenv("KIZASHI_ADMIN_PASSWORD", raising=False)
    generated = _ensure_admin(store)  # first start: a generated password, shown once
    admin = store.user("admin")
    assert generated and admin and admin.role == "admin"
    assert verify_password(admin.password_hash, generated)
    assert _ensure_admin(store) is None and store.user("admin") == admin  # restart: untouched
    # An admin disables `admin` and demotes it; the env password changes only the password.
    store.upsert_user(dataclasses.replace(admin, disabled=True, role="viewer"))
    monkeypatch.setenv("KIZASHI_ADMIN_PASSWORD", "a-long-demo-password")
    assert _ensure_admin(store) is None
    after = store.user("admin")
    assert after and after.disabled and after.role == "viewer"
    assert verify_password(after.password_hash, "a-long-demo-password")
    store.close()
