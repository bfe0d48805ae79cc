"""Issue 15: store faults an outside test found, over real SQLite and PostgreSQL.

Poison rows (a NUL the database refuses), stored NaN, a latest state frozen by a far-future
node time, event retention, the commit probe, and a full SQLite disk whose real error must not
hide behind "cannot rollback".
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest

from gateway.store.api import BirthRecord, EventRecord, NodeStatus, Store, WriteBatch
from gateway.store.sqlite import SqliteStore

from .test_store import T0, report


def _bad_text(store: Store) -> str:
    """A code each database refuses: PostgreSQL any NUL, SQLite (which stores NULs) a lone
    surrogate, which no UTF-8 encoder accepts."""
    return "fault\udc80x" if isinstance(store, SqliteStore) else "fault\x00x"


def test_poison_event_row_does_not_block_the_batch(store: Store) -> None:
    bad = _bad_text(store)
    batch = WriteBatch(
        frames=[report("n1", 1, T0), report("n2", 1, T0)],
        events=[
            EventRecord(T0, "n1", "fine", {"a": 1}, 1, 2),
            EventRecord(T0, "n1", bad, {}, 1, 3),
            EventRecord(T0, "n2", "also_fine", {}, 1, 2),
        ],
        births=[BirthRecord("n3", 1, T0, {"fw": "x\x00y" if bad.endswith("\x00x") else bad})],
        node_status=[NodeStatus("n1", T0, True, 0, 2, 0, 0, None)],
    )
    refused = store.write_batch(batch)
    assert refused == 2  # the bad event and the bad birth, nothing else
    assert sorted(e.code for e in store.events(limit=10)) == ["also_fine", "fine"]
    assert {f.node_id for f in store.recent_frames()} == {"n1", "n2"}
    node = store.node("n1")
    assert node is not None and node.frames_received == 2
    # The next batch goes through the fast path again.
    assert store.write_batch(WriteBatch(frames=[report("n1", 2, T0 + 10)])) == 0


def test_stored_nan_reads_as_none(store: Store) -> None:
    """Rows stored before the protocol refused non-finite floats still read as valid JSON."""
    store.write_batch(
        WriteBatch(
            events=[EventRecord(T0, "n1", "fault", {"v": math.nan, "w": math.inf})],
            births=[BirthRecord("n1", 1, T0, {"fw": "1", "x": -math.inf})],
        )
    )
    ev = store.events("n1")[0]
    assert ev.detail == {"v": None, "w": None}
    node = store.node("n1")
    assert node is not None and node.birth_info["x"] is None
    json.dumps([ev.detail, node.birth_info], allow_nan=False)  # raises on NaN


def test_far_future_latest_yields_to_the_next_report(store: Store) -> None:
    """A report stamped in 2106 (stored before ingest bounded node time) must not freeze the
    asset's latest state."""
    future = 4_294_967_295.0
    store.write_batch(WriteBatch(frames=[report("n1", 1, future, recv_time=T0)]))
    assert store.latest_states()[0].ts == future
    store.write_batch(WriteBatch(frames=[report("n1", 2, T0 + 60, vel=555)]))
    latest = store.latest_states()[0]
    assert latest.ts == T0 + 60 and latest.vel_rms_mm_s[0] == pytest.approx(5.55)


def test_reopen_thaws_frozen_latest(tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    st = SqliteStore(path)
    st.write_batch(WriteBatch(frames=[report("n1", 1, 4_294_967_295.0, recv_time=T0)]))
    st._conn.execute("DELETE FROM meta WHERE key = 'future_times_repaired'")  # an older file
    st.close()
    st = SqliteStore(path)
    try:
        assert st.latest_states()[0].ts == T0  # its receive time
        assert st.recent_frames("n1")[0].ts == T0
    finally:
        st.close()


def test_prune_events(store: Store) -> None:
    store.write_batch(
        WriteBatch(events=[EventRecord(T0 - 1000, "n1", "old"), EventRecord(T0, "n1", "new")])
    )
    assert store.prune_events(T0 - 10) == 1
    assert [e.code for e in store.events()] == ["new"]


def test_probe_commits(store: Store) -> None:
    store.probe()
    store.probe()


def test_full_disk_reports_the_real_error_and_recovers(tmp_path: Path) -> None:
    """SQLite rolls a transaction back by itself on SQLITE_FULL; the error raised must be the
    full disk, not "cannot rollback - no transaction is active"."""
    st = SqliteStore(tmp_path / "gw.db")
    try:
        pages = st._conn.execute("PRAGMA page_count").fetchone()[0]
        st._conn.execute(f"PRAGMA max_page_count={pages + 2}")
        one = [report("n1", 1, T0, payload=b"x" * 30_000)]  # a single-row insert
        many = [report("n1", s, T0 + s, payload=b"x" * 3000) for s in range(2, 200)]
        for batch in (one, many, one):
            with pytest.raises(sqlite3.OperationalError, match="full"):
                st.write_batch(WriteBatch(frames=batch))
        st._conn.execute("PRAGMA max_page_count=1000000")  # space freed
        st.write_batch(WriteBatch(frames=one))
        st.write_batch(WriteBatch(frames=many))
        st.probe()
        assert len(st.recent_frames("n1", limit=500)) == 199
    finally:
        st.close()


def test_retention_loop_prunes_old_events(tmp_path: Path) -> None:
    """Issue 15 item 8: events do not grow the database for ever."""
    import asyncio
    import time

    from gateway.service import retention_loop

    st = SqliteStore(tmp_path / "gw.db")
    now = time.time()
    st.write_batch(
        WriteBatch(
            events=[EventRecord(now - 400 * 86400, "n1", "old"), EventRecord(now, "n1", "new")]
        )
    )

    async def body() -> None:
        task = asyncio.create_task(retention_loop(st, 30.0, every_s=3600, event_days=365.0))
        await asyncio.sleep(0.3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    try:
        asyncio.run(body())
        assert [e.code for e in st.events()] == ["new"]
    finally:
        st.close()
