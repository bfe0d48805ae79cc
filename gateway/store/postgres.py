"""PostgreSQL backend (psycopg 3), selected by a postgresql:// URL.

All tables live in one schema (default `kizashi`), created on open; tests use a unique schema
per run and drop it with `drop_schema()`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from gateway.store import schema
from gateway.store.sql import Row, SqlStore

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PostgresStore(SqlStore):
    greatest = "GREATEST"
    placeholder = "%s"
    add_column_if_missing = "IF NOT EXISTS "  # two processes may open an old schema at once

    def __init__(self, url: str, schema_name: str = "kizashi") -> None:
        super().__init__()
        if not _IDENT.match(schema_name):
            raise ValueError("bad schema name " + schema_name)
        self.schema_name = schema_name
        self._conn = psycopg.connect(url, autocommit=True)
        self._depth = 0
        with self._lock, self._transaction():
            self._conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema_name}"')
            self._conn.execute(f'SET search_path TO "{schema_name}"')
            for stmt in schema.statements(schema.POSTGRES):
                self._conn.execute(stmt.encode())
            self._conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', %s)"
                " ON CONFLICT DO NOTHING",
                (str(schema.SCHEMA_VERSION),),
            )
            self._migrate(schema.POSTGRES)

    def _columns(self, table: str) -> set[str]:
        rows = self._execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s",
            (self.schema_name, table),
        )
        return {str(r[0]) for r in rows}

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._conn.cursor() as cur:
            cur.execute(sql.encode(), params)
            if cur.description is None:
                return []
            return cur.fetchall()

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(sql.encode(), rows)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._conn.transaction():
            yield

    def drop_schema(self) -> None:
        """Drop this store's schema and everything in it (tests)."""
        with self._lock:
            self._conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema_name}" CASCADE')

    def close(self) -> None:
        with self._lock:
            self._conn.close()
