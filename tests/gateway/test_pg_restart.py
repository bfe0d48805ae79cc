"""Issue 15 item 2: the PostgreSQL store reconnects by itself after a database restart.

A PRIVATE PostgreSQL server (tests/gateway/private_pg.py) is stopped and started under a
running ingest pipeline and a second store (the web page's): frames that arrive while the
database is down stay unacked and are stored and acked once it is back; the web store answers
again without a gateway restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from gateway.ingest import IngestPipeline, PipelineConfig
from gateway.links import LoopbackLink
from gateway.metrics import Metrics
from gateway.store.postgres import PostgresStore
from tests.gateway.private_pg import PrivatePostgres
from tests.gateway.simnode import SimNode, birth, report

pytestmark = [pytest.mark.timeout(180), pytest.mark.postgres]

CFG = PipelineConfig(batch_interval_s=0.05, housekeeping_s=0.05, commit_retry_s=0.2)


@pytest.fixture
def pg() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.start()
    try:
        yield server
    finally:
        server.close()


async def _until(cond: object, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


def test_ingest_and_web_store_survive_a_database_restart(pg: PrivatePostgres) -> None:
    store = PostgresStore(pg.url, timeout_s=2.0)
    web = PostgresStore(pg.url, timeout_s=2.0)

    async def body() -> None:
        metrics = Metrics()
        pipe = IngestPipeline(store, metrics, CFG)
        link = LoopbackLink("loop", metrics)
        pipe.add_link(link)
        tasks = [asyncio.create_task(pipe.run()), asyncio.create_task(link.run(pipe))]
        node = SimNode(link.port("n1"))
        t = int(time.time())

        def acked() -> int:
            acks = node.poll()
            return max((s for _, s in acks), default=-1)

        node.send(birth("n1", 1, t))
        for s in range(1, 6):
            node.send(report("n1", 1, s, t + s))
        await _until(lambda: acked() == 5, 10)

        await asyncio.to_thread(pg.stop)
        for s in range(6, 11):
            node.send(report("n1", 1, s, t + s))
        await asyncio.sleep(3.0)
        assert acked() == 5, "frames acked while the database was down"
        with pytest.raises(Exception):  # noqa: B017  # the web store fails while it is down
            await asyncio.to_thread(web.nodes)
        assert metrics.get("kizashi_store_errors_total") >= 1

        await asyncio.to_thread(pg.start)
        await _until(lambda: acked() == 10, 60)
        pipe.stop()
        await tasks[0]
        tasks[1].cancel()
        await asyncio.gather(tasks[1], return_exceptions=True)

    try:
        asyncio.run(body())
        # Every frame is stored once, and the web store reads again by itself.
        assert sorted(f.seq for f in web.recent_frames("n1", limit=100)) == list(range(11))
        node = web.node("n1")
        assert node is not None and node.frames_received == 11
    finally:
        store.close()
        web.close()
