"""Gateway storage: `open_store(url)` returns a `Store` (see gateway.store.api).

URLs: a file path or `sqlite:///abs/path.db` (SQLite, the default); `postgresql://...`
(PostgreSQL; an optional `schema=NAME` query parameter picks the schema, default kizashi).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gateway.store.api import Store

__all__ = ["Store", "open_store"]


def open_store(url: str, synchronous: str = "FULL") -> Store:
    if url.startswith(("postgresql://", "postgres://")):
        from gateway.store.postgres import PostgresStore

        parts = urlsplit(url)
        query = parse_qsl(parts.query)
        schema_name = "kizashi"
        rest = []
        for key, value in query:
            if key == "schema":
                schema_name = value
            else:
                rest.append((key, value))
        clean = urlunsplit(parts._replace(query=urlencode(rest)))
        return PostgresStore(clean, schema_name)
    from gateway.store.sqlite import SqliteStore

    path = url[len("sqlite://") :] if url.startswith("sqlite://") else url
    return SqliteStore(path, synchronous=synchronous)
