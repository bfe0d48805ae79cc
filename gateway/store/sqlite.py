"""SQLite backend (the default): one file, WAL journal.

synchronous=FULL by default: the gateway acks a frame to its node only after the commit, and the
node then forgets it, so a commit must survive power loss. WAL with NORMAL can lose the last
commits on power loss (facts.md); with batches of up to 1000 rows the one fsync per commit that
FULL adds is cheap. NORMAL may be chosen (`synchronous="NORMAL"`) where the nodes keep frames
long enough to resend them anyway.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gateway.store import schema
from gateway.store.sql import Row, SqlStore

# "INSERT ... VALUES (?, ..., ?)" with nothing after it but "ON CONFLICT DO NOTHING".
_MULTI_ROW = re.compile(
    r"^(INSERT INTO .+? VALUES )(\((?:\?, )*\?\))( ON CONFLICT DO NOTHING)?$", re.S
)
_MAX_VARS = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
_ROWS_PER_STATEMENT = 64


class SqliteStore(SqlStore):
    greatest = "max"
    placeholder = "?"

    def __init__(self, path: str | Path, synchronous: str = "FULL") -> None:
        super().__init__()
        self._multi_sql: dict[tuple[str, int], str] = {}
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
        """Plain inserts go as multi-row INSERT statements, the rest through executemany.

        Python's sqlite3 releases the GIL around every sqlite3_step, i.e. once per row in
        executemany; while the event loop thread is busy, each row then waits to get the GIL
        back, which made the commit thread the pipeline's bottleneck. One statement per 64 rows
        steps 64 times less. Same rows, same order, same conflict handling.
        """
        m = _MULTI_ROW.match(sql) if len(rows) > 1 else None
        if m is None:
            self._conn.executemany(sql, rows)
            return
        ncols = m.group(2).count("?")
        per = max(1, min(_ROWS_PER_STATEMENT, _MAX_VARS // ncols))
        for i in range(0, len(rows), per):
            chunk = rows[i : i + per]
            key = (sql, len(chunk))
            stmt = self._multi_sql.get(key)
            if stmt is None:
                stmt = m.group(1) + ", ".join([m.group(2)] * len(chunk)) + (m.group(3) or "")
                self._multi_sql[key] = stmt
            self._conn.execute(stmt, list(itertools.chain.from_iterable(chunk)))

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
