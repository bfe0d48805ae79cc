"""Issue 15: what one misbehaving or hostile node could do to the ingest pipeline, each
through the real pipeline and a real store (SQLite file or the shared PostgreSQL server).

Item 1 (NUL in an event code), 4 (a frame stamped 2106), 8 (an event flood and one node's
share of the batch), 13 (a seq jump to 2^32-1), 16 (a serial device claiming another node's
id) and 21 (a full disk: the backlog held to one batch).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import msgpack
import pytest

from gateway.config import parse_config
from gateway.ingest import IngestPipeline, PipelineConfig
from gateway.links import LoopbackLink
from gateway.metrics import Metrics
from gateway.serial_link import SerialLink
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SqliteStore
from gateway.wire import encode_serial
from protocol import frames
from tests.gateway.conftest import PG_URL
from tests.gateway.simnode import SimNode, report
from tests.gateway.test_ingest import FAST, run, running, until

pytestmark = pytest.mark.timeout(60)
U32 = 0xFFFFFFFF


def event(node: str, seq: int, t: int, code: str, detail: dict[str, object] | None = None) -> bytes:
    """An event frame as a node could send it, bypassing the encoder's own checks."""
    out: bytes = msgpack.packb([0x13, node, 1, seq, t, code, detail or {}])
    return out


def acked_upto(node: SimNode) -> int:
    return max((s for _, s in node.poll()), default=-1)


@pytest.mark.postgres
def test_nul_event_code_is_refused_and_every_other_frame_flows_postgres() -> None:
    store = PostgresStore(PG_URL, "kz_test_" + uuid.uuid4().hex[:12])

    async def body() -> None:
        m = Metrics()
        pipe = IngestPipeline(store, m, FAST)
        link = LoopbackLink("loop", m)
        pipe.add_link(link)
        tasks = [asyncio.create_task(pipe.run()), asyncio.create_task(link.run(pipe))]
        t = int(time.time())
        bad, good = SimNode(link.port("n1")), SimNode(link.port("n2"))
        bad.send(report("n1", 1, 0, t))
        bad.send(event("n1", 1, t, "fault\x00x"))
        for s in range(3):
            good.send(report("n2", 1, s, t + s))
        await until(lambda: acked_upto(good) == 2)
        assert pipe.decoder.rejected.get("bad_text") == 1
        bad.send(event("n1", 1, t, "fault", {"why": "fine"}))  # the resend, now valid
        await until(lambda: acked_upto(bad) == 1)
        pipe.stop()
        await tasks[0]
        tasks[1].cancel()
        await asyncio.gather(tasks[1], return_exceptions=True)

    try:
        run(body)
        assert [e.code for e in store.events("n1")] == ["fault"]
        assert len(store.recent_frames("n2")) == 3
    finally:
        store.drop_schema()
        store.close()


def test_far_future_frame_neither_freezes_latest_nor_is_stored_in_2106(tmp_path: Path) -> None:
    async def body() -> None:
        async with running(tmp_path) as (pipe, link, m):
            node = SimNode(link.port("n1"))
            t = int(time.time())
            for s in (0, 1, 3):
                node.send(report("n1", 1, s, t + s))
            node.send(report("n1", 1, 2, U32, vel=9999))  # out of order, stamped 2106
            for s in (4, 5):
                node.send(report("n1", 1, s, t + s, vel=700 + s))
            await until(lambda: acked_upto(node) == 5)
            latest = pipe.store.latest_states()[0]
            assert latest.ts == t + 5 and latest.vel_rms_mm_s[0] == pytest.approx(7.05)
            f2 = next(f for f in pipe.store.recent_frames("n1") if f.seq == 2)
            assert f2.node_time == U32 and f2.ts <= time.time() + 1  # its receive time
            assert m.total("kizashi_frames_future_time_total") == 1

    run(body)


def test_event_flood_is_budgeted_summarised_and_acked(tmp_path: Path) -> None:
    cfg = PipelineConfig(
        **{**FAST.__dict__, "event_burst": 5, "event_rate_per_s": 0.001, "event_summary_s": 0.1}
    )

    async def body() -> None:
        async with running(tmp_path, cfg) as (pipe, link, m):
            flood, other = SimNode(link.port("fl")), SimNode(link.port("n2"))
            t = int(time.time())
            for s in range(200):
                flood.send(event("fl", s, t, "fault", {"i": s}))
            for s in range(5):
                other.send(report("n2", 1, s, t + s))
            await until(lambda: acked_upto(flood) == 199 and acked_upto(other) == 4)
            await until(lambda: any(e.code == "events_suppressed" for e in pipe.store.events()))
            evs = pipe.store.events("fl", limit=1000)
            assert sum(e.code == "fault" for e in evs) == 5
            summary = next(e for e in evs if e.code == "events_suppressed")
            assert summary.source == "gateway" and summary.detail == {"count": 195, "fault": 195}
            assert m.total("kizashi_events_suppressed_total") == 195

    run(body)


def test_one_node_cannot_fill_the_batch(tmp_path: Path) -> None:
    cfg = PipelineConfig(**{**FAST.__dict__, "batch_interval_s": 0.5, "max_pending_per_node": 20})

    async def body() -> None:
        async with running(tmp_path, cfg) as (pipe, link, _m):
            flood, other = SimNode(link.port("fl")), SimNode(link.port("n2"))
            t = int(time.time())
            for s in range(100):
                flood.send(report("fl", 1, s, t))
            for s in range(5):
                other.send(report("n2", 1, s, t + s))
            await until(lambda: acked_upto(other) == 4)
            assert pipe.decoder.rejected.get("node_overload") == 80
            assert acked_upto(flood) == 19  # the rest waits on the node for a resend

    run(body)


def test_seq_jump_is_a_discontinuity_not_four_billion_lost(tmp_path: Path) -> None:
    async def body() -> None:
        async with running(tmp_path) as (pipe, link, m):
            node = SimNode(link.port("n1"))
            t = int(time.time())
            for s in range(4):
                node.send(report("n1", 1, s, t + s))
            jump = frames.encode_report_raw(
                "n1", 1, U32, t + 5, 1, 0, 1000, 2, [100] * 6, 900, 250, 400
            )
            node.send(jump)
            await until(lambda: acked_upto(node) == U32, timeout=10)
            node.send(report("n1", 1, 4, t + 6))  # the real counter goes on: still stored
            await until(lambda: len(pipe.store.recent_frames("n1")) == 6)
            await asyncio.sleep(0.2)
            info = pipe.store.node("n1")
            assert info is not None and info.frames_lost == 0
            assert m.total("kizashi_frames_lost_total") == 0
            assert m.total("kizashi_seq_discontinuities_total") == 1
            assert [e.code for e in pipe.store.events("n1")].count("seq_jump") == 1

    run(body)


def test_serial_port_only_carries_its_bound_nodes(tmp_path: Path) -> None:
    cfg = parse_config({"serial": [{"port": "loop://", "nodes": ["n1"]}]})
    assert cfg.serial[0].nodes == ("n1",)
    store = SqliteStore(tmp_path / "gw.db")

    async def body() -> None:
        m = Metrics()
        pipe = IngestPipeline(store, m, FAST)
        link = SerialLink("loop://", metrics=m, allowed_nodes=cfg.serial[0].nodes)
        pipe.add_link(link)
        tasks = [asyncio.create_task(pipe.run()), asyncio.create_task(link.run(pipe))]
        await until(link.connected.is_set)
        t = int(time.time())
        link._write(encode_serial(report("n9", 1, 0, t)))  # a device claiming another node
        link._write(encode_serial(report("n1", 1, 0, t)))
        await until(lambda: len(store.recent_frames()) == 1)
        await until(lambda: pipe.decoder.rejected.get("unbound_node") == 1)
        pipe.stop()
        await tasks[0]
        tasks[1].cancel()
        await asyncio.gather(tasks[1], return_exceptions=True)

    try:
        run(body)
        assert [f.node_id for f in store.recent_frames()] == ["n1"]
    finally:
        store.close()


def test_full_disk_holds_one_batch_and_recovers(tmp_path: Path) -> None:
    cfg = PipelineConfig(**{**FAST.__dict__, "batch_max": 20, "commit_retry_s": 0.1})

    async def body() -> None:
        async with running(tmp_path, cfg) as (pipe, link, _m):
            store = pipe.store
            assert isinstance(store, SqliteStore)
            node = SimNode(link.port("n1"))
            t = int(time.time())
            node.send(report("n1", 1, 0, t))
            await until(lambda: acked_upto(node) == 0)
            pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
            store._conn.execute(f"PRAGMA max_page_count={pages}")  # the disk is full
            for s in range(1, 200):
                node.send(report("n1", 1, s, t + s))
                await asyncio.sleep(0.002)
            await until(lambda: pipe.failing_since is not None)
            ok, why = await asyncio.to_thread(pipe.store_status)
            assert not ok and "full" in why
            assert pipe.pending <= cfg.batch_max
            assert pipe.decoder.rejected.get("store_unavailable", 0) > 100
            stored = {f.seq for f in store.recent_frames("n1", limit=500)}
            assert set(range(acked_upto(node) + 1)) <= stored  # nothing acked unstored
            assert len(stored) < 100
            store._conn.execute("PRAGMA max_page_count=1000000")  # space freed
            await until(lambda: pipe.failing_since is None, timeout=10)
            assert (await asyncio.to_thread(pipe.store_status))[0]
            # The refused frames come back through the gap/resend path.
            for s in range(1, 200):
                node.send(report("n1", 1, s, t + s))
            await until(lambda: acked_upto(node) == 199, timeout=10)
            assert len(store.recent_frames("n1", limit=500)) == 200

    run(body)


def test_death_flapping_shares_the_event_budget(tmp_path: Path) -> None:
    """A node alternating death and report frames cannot raise unbounded `death` events."""
    cfg = PipelineConfig(
        **{**FAST.__dict__, "event_burst": 3, "event_rate_per_s": 0.001, "event_summary_s": 0.1}
    )

    async def body() -> None:
        async with running(tmp_path, cfg) as (pipe, link, _m):
            node = SimNode(link.port("n1"))
            t = int(time.time())
            for s in range(50):
                node.send(report("n1", 1, s, t + s))
                node.send(frames.encode_death("n1", 1))
            await until(lambda: acked_upto(node) == 49)
            await until(lambda: any(e.code == "events_suppressed" for e in pipe.store.events()))
            evs = pipe.store.events("n1", limit=1000)
            assert sum(e.code == "death" for e in evs) == 3
            summary = next(e for e in evs if e.code == "events_suppressed")
            assert summary.detail == {"count": 47, "death": 47}
            info = pipe.store.node("n1")
            assert info is not None and not info.online

    run(body)
