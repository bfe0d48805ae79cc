"""SQLite backend (the default): one file, WAL journal.

synchronous=FULL by default: the gateway acks a frame to its node only after the commit, and the
node then forgets it, so a commit must survive power loss. WAL with NORMAL can lose the last
commits on power loss (facts.md); with batches of up to 1000 rows the one fsync per commit that
FULL adds is cheap. NORMAL may be chosen (`synchronous="NORMAL"`) where the nodes keep frames
long enough to resend them anyway.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gateway.store import schema
from gateway.store.sql import Row, SqlStore


class SqliteStore(SqlStore):
    greatest = "max"
    placeholder = "?"

    def __init__(self, path: str | Path, synchronous: str = "FULL") -> None:
        super().__init__()
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError("synchronous must be FULL, NORMAL or EXTRA")
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=" + synchronous.upper())
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=10000")
        with self._lock, self._transaction():
            for stmt in schema.statements(schema.SQLITE):
                self._conn.execute(stmt)
            self._conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
                (str(schema.SCHEMA_VERSION),),
            )

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self._conn.in_transaction:  # nested: the outer transaction decides
            yield
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
