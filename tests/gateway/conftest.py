"""Fixtures: real SQLite files and a real PostgreSQL schema per test (dropped afterwards)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gateway.store.api import Store
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SqliteStore

PG_URL = os.environ.get("KIZASHI_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def pg_available() -> bool:
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s: Store = SqliteStore(tmp_path / "gw.db")
        yield s
        s.close()
        return
    if not pg_available():
        pytest.fail("PostgreSQL not reachable at " + PG_URL)
    pg = PostgresStore(PG_URL, "kz_test_" + uuid.uuid4().hex[:12])
    try:
        yield pg
    finally:
        pg.drop_schema()
        pg.close()
