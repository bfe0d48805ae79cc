"""SQLite backend (the default): one file, WAL journal.

synchronous=FULL by default: the gateway acks a frame to its node only after the commit, and the
node then forgets it, so a commit must survive power loss. WAL with NORMAL can lose the last
commits on power loss (facts.md); with batches of up to 1000 rows the one fsync per commit that
FULL adds is cheap. NORMAL may be chosen (`synchronous="NORMAL"`) where the nodes keep frames
long enough to resend them anyway.
"""

from __future__ import annotations

import itertools
import logging
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gateway.store import schema
from gateway.store.sql import Row, SqlStore

# "INSERT ... VALUES (?, ..., ?)" with nothing after it but an optional ON CONFLICT clause
# (DO NOTHING or an upsert: SQLite applies the rows of a multi-row VALUES one after the other,
# each seeing the rows before it, exactly as separate statements would).
_MULTI_ROW = re.compile(r"^(INSERT INTO .+? VALUES )(\((?:\?, )*\?\))( ON CONFLICT .+)?$", re.S)
_MAX_VARS = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
_MAX_ROWS_PER_STATEMENT = 512
log = logging.getLogger(__name__)


class SqliteStore(SqlStore):
    greatest = "max"
    placeholder = "?"
    data_errors = (
        sqlite3.IntegrityError,
        sqlite3.DataError,
        sqlite3.InterfaceError,  # a value of a type SQLite cannot bind
        *SqlStore.data_errors,  # UnicodeEncodeError (a lone surrogate) is a ValueError
    )

    def __init__(self, path: str | Path, synchronous: str = "FULL") -> None:
        super().__init__()
        self._multi_sql: dict[tuple[str, int], str] = {}
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError("synchronous must be FULL, NORMAL or EXTRA")
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # Multi-row statements come in a few sizes per table (see _executemany): keep them all
        # prepared.
        self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, cached_statements=512
        )
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
            self._migrate(schema.SQLITE)

    def _columns(self, table: str) -> set[str]:
        return {str(r[1]) for r in self._conn.execute(f"PRAGMA table_info({table})")}

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """INSERTs (plain, DO NOTHING or upsert) go as multi-row statements, the rest through
        executemany.

        Python's sqlite3 releases and re-takes the GIL around every sqlite3_step and reset, i.e.
        per row in executemany; while the event loop thread is busy, each re-take waits up to a
        switch interval, which made the commit thread the pipeline's bottleneck. Rows go in
        chunks of a power of two (at most 512 rows and the variable limit): 1000 frames are 6
        statements, and a table has at most 10 statement sizes, all kept prepared. Same rows,
        same order, same conflict handling.
        """
        m = _MULTI_ROW.match(sql) if len(rows) > 1 else None
        if m is None:
            self._conn.executemany(sql, rows)
            return
        for i, size, stmt in self._chunks(sql, m, len(rows)):
            self._conn.execute(stmt, list(itertools.chain.from_iterable(rows[i : i + size])))

    def _many_columns(self, sql: str, columns: Sequence[Sequence[Any]]) -> None:
        """`_executemany` with the parameters given column by column: each statement's
        parameter list is filled by one slice assignment per column (no tuple per row)."""
        n = len(columns[0]) if columns else 0
        sql = self._sql(sql)
        m = _MULTI_ROW.match(sql) if n > 1 else None
        if m is None:
            if n:
                self._conn.executemany(sql, list(zip(*columns, strict=True)))
            return
        ncols = len(columns)
        for i, size, stmt in self._chunks(sql, m, n):
            params: list[Any] = [None] * (size * ncols)
            for k, col in enumerate(columns):
                params[k::ncols] = col[i : i + size]
            self._conn.execute(stmt, params)

    def _chunks(self, sql: str, m: re.Match[str], n: int) -> Iterator[tuple[int, int, str]]:
        """(start, size, statement) covering n rows in power-of-two chunks, largest first."""
        ncols = m.group(2).count("?")
        per = max(1, min(_MAX_ROWS_PER_STATEMENT, _MAX_VARS // ncols))
        per = 1 << (per.bit_length() - 1)
        i = 0
        while i < n:
            size = min(per, 1 << ((n - i).bit_length() - 1))
            key = (sql, size)
            stmt = self._multi_sql.get(key)
            if stmt is None:
                stmt = m.group(1) + ", ".join([m.group(2)] * size) + (m.group(3) or "")
                self._multi_sql[key] = stmt
            yield i, size, stmt
            i += size

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self._conn.in_transaction:  # nested: the outer transaction decides
            yield
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        """Roll back what is open. SQLite has already rolled back by itself after some errors
        (SQLITE_FULL, SQLITE_IOERR): then there is nothing to roll back, and the caller's
        original error, not "cannot rollback - no transaction is active", is what counts."""
        if not self._conn.in_transaction:
            return
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error as e:
            log.warning("rollback failed", extra={"error": repr(e)})

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        self._conn.execute("SAVEPOINT row")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK TO row")
            self._conn.execute("RELEASE row")
            raise
        self._conn.execute("RELEASE row")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
