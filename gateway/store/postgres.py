"""PostgreSQL backend (psycopg 3), selected by a postgresql:// URL.

All tables live in one schema (default `kizashi`), created on open; tests use a unique schema
per run and drop it with `drop_schema()`.

Connections come from a psycopg_pool pool of one (the store's lock serialises its use): the pool
checks a connection before lending it and replaces a broken one, so after a database restart
the next operation reconnects by itself. An operation that fails because the database is away
raises (psycopg.OperationalError, or psycopg_pool.PoolTimeout while it cannot connect); the
ingest pipeline keeps the batch unacked and retries it, the web page answers 500 until the
database is back.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from gateway.store import schema
from gateway.store.api import FrameRecord
from gateway.store.sql import Row, SqlStore, _frame_columns

# The fleet applier's frame insert (gateway/store/uplink_sql.py): every frame of a message as
# one array per column, the stored ones skipped by the (node, boot, seq) key, the inserted keys
# returned: one round trip instead of a check per node and an executemany.
_FRAME_TYPES = ("text", "bigint", "bigint", "text", "bigint", "float8", "float8", "int", "bigint",
                "bigint", "bigint", "int", "int", "int", "int", "int", "int", "int", "int", "int",
                "int", "bytea")  # fmt: skip
_FRAME_INSERT_NEW = (
    "INSERT INTO frames (node_id, boot_id, seq, kind, node_time, recv_time, ts, flags, dropped,"
    " runtime_s, starts, acc_x, acc_y, acc_z, vel_x, vel_y, vel_z, peak_mg, kurt_x100,"
    " temp_c_x10, backfilled, payload) SELECT * FROM unnest("
    + ", ".join(f"%s::{t}[]" for t in _FRAME_TYPES)
    + ") ON CONFLICT DO NOTHING RETURNING node_id, boot_id, seq"
)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PostgresStore(SqlStore):
    greatest = "GREATEST"
    placeholder = "%s"
    _for_update = " FOR UPDATE"  # the fleet applier locks its origin's mark row
    add_column_if_missing = "IF NOT EXISTS "  # two processes may open an old schema at once
    # psycopg refuses a NUL in text itself (DataError), PostgreSQL a value out of range.
    data_errors = (psycopg.DataError, psycopg.IntegrityError, *SqlStore.data_errors)

    def __init__(self, url: str, schema_name: str = "kizashi", timeout_s: float = 10.0) -> None:
        super().__init__()
        if not _IDENT.match(schema_name):
            raise ValueError("bad schema name " + schema_name)
        self.schema_name = schema_name
        self.timeout_s = timeout_s
        self._held: psycopg.Connection[Any] | None = None
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=1,
            max_size=1,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(timeout_s))},
            configure=self._configure,
            check=ConnectionPool.check_connection,
            timeout=timeout_s,
            name="kizashi-" + schema_name,
            open=False,
        )
        self._pool.open(wait=True, timeout=timeout_s)
        with self._lock, self._transaction():
            for stmt in schema.statements(schema.POSTGRES):
                self._execute(stmt)
            self._execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', %s)"
                " ON CONFLICT DO NOTHING",
                (str(schema.SCHEMA_VERSION),),
            )
            self._migrate(schema.POSTGRES)

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        """Every new connection (first or after a reconnect) works in this store's schema."""
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema_name}"')
        conn.execute(f'SET search_path TO "{self.schema_name}"')

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """The connection of the running transaction, or one lent by the pool."""
        if self._held is not None:
            yield self._held
            return
        with self._pool.connection(timeout=self.timeout_s) as conn:
            self._held = conn
            try:
                yield conn
            finally:
                self._held = None

    def _columns(self, table: str) -> set[str]:
        rows = self._execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s",
            (self.schema_name, table),
        )
        return {str(r[0]) for r in rows}

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._connection() as conn, conn.cursor() as cur:
            cur.execute(sql.encode(), params)
            if cur.description is None:
                return []
            return cur.fetchall()

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._connection() as conn, conn.cursor() as cur:
            cur.executemany(sql.encode(), rows)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._connection() as conn, conn.transaction():
            yield

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        with self._connection() as conn, conn.transaction():  # nested: a SAVEPOINT
            yield

    def _insert_new_frames(self, frames: Sequence[FrameRecord]) -> set[tuple[str, int, int]]:
        columns = [list(c) for c in _frame_columns(frames)]
        rows = self._execute(_FRAME_INSERT_NEW, columns)
        return {(str(r[0]), int(r[1]), int(r[2])) for r in rows}

    def drop_schema(self) -> None:
        """Drop this store's schema and everything in it (tests)."""
        with self._lock:
            self._execute(f'DROP SCHEMA IF EXISTS "{self.schema_name}" CASCADE')

    def close(self) -> None:
        with self._lock:
            self._pool.close()
