"""The ingest pipeline end to end over the loopback link, with a real SQLite file."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from gateway.ingest import IngestPipeline, PipelineConfig
from gateway.links import LoopbackLink
from gateway.metrics import Metrics
from gateway.store.sqlite import SqliteStore
from gateway.wire import encode_serial
from protocol import frames
from tests.gateway.simnode import SimNode, birth, report

pytestmark = pytest.mark.timeout(30)

FAST = PipelineConfig(
    batch_interval_s=0.05,
    reorder_grace_s=0.3,
    resend_timeout_s=0.4,
    resend_max_attempts=2,
    housekeeping_s=0.05,
    clock_tolerance_s=120.0,
)


@asynccontextmanager
async def running(
    tmp_path: Path, config: PipelineConfig = FAST, db: str = "gw.db"
) -> AsyncIterator[tuple[IngestPipeline, LoopbackLink, Metrics]]:
    store = SqliteStore(tmp_path / db)
    metrics = Metrics()
    pipe = IngestPipeline(store, metrics, config)
    link = LoopbackLink("loop", metrics)
    pipe.add_link(link)
    tasks = [asyncio.create_task(pipe.run()), asyncio.create_task(link.run(pipe))]
    try:
        yield pipe, link, metrics
    finally:
        pipe.stop()
        await tasks[0]
        tasks[1].cancel()
        await asyncio.gather(tasks[1], return_exceptions=True)
        store.close()


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coro())  # type: ignore[arg-type]  # Awaitable from an async def is a coroutine


T = int(time.time())


@pytest.fixture(autouse=True)
def _node_clock_now() -> None:
    """Each test's node clock starts at the real time of that test: the pipeline compares node
    time with its receive time, and a module-level T goes stale when other suites run first."""
    global T
    T = int(time.time())


def test_frames_stored_then_acked(tmp_path: Path) -> None:
    async def body() -> None:
        async with running(tmp_path) as (pipe, link, m):
            node = SimNode(link.port("n1"))
            stored_at_ack: list[int] = []
            node.port.on_data = lambda _d: stored_at_ack.append(
                len(pipe.store.recent_frames("n1", limit=1000))
            )
            node.send(birth("n1", 1, T))
            for s in range(1, 21):
                node.send(report("n1", 1, s, T + s))
            await until(lambda: (node.poll(), node.acks)[1] != [] and node.acks[-1] == (1, 20))
            assert stored_at_ack and stored_at_ack[-1] == 21  # the ack followed the commit
            assert m.total("kizashi_frames_stored_total") == 21
            info = pipe.store.node("n1")
            assert info is not None and info.fw == "1.0.0" and info.frames_received == 21
            st = pipe.store.latest_states()[0]
            assert st.runtime_s == 1020 and st.ts == T + 20

    run(body)


def test_duplicates_replays_and_reack(tmp_path: Path) -> None:
    async def body() -> None:
        async with running(tmp_path) as (pipe, link, m):
            node = SimNode(link.port("n1"))
            for s in range(0, 5):
                node.send(report("n1", 1, s, T + s))
            await until(lambda: (node.poll(), node.acks)[1][-1:] == [(1, 4)])
            n_acks = len(node.acks)
            node.send(report("n1", 1, 3, T + 3))  # the node missed our ack and resends
            await until(lambda: (node.poll(), len(node.acks))[1] > n_acks)
            assert node.acks[-1] == (1, 4)
            assert m.total("kizashi_frames_duplicate_total") == 1
            assert len(pipe.store.recent_frames("n1")) == 5

    run(body)


def test_reorder_and_reboot_raise_no_gap(tmp_path: Path) -> None:
    async def body() -> None:
        async with running(tmp_path) as (pipe, link, m):
            node = SimNode(link.port("n1"))
            for s in (0, 2, 1, 4, 3):
                node.send(report("n1", 1, s, T + s))
            node.send(birth("n1", 2, T + 10, reset="watchdog"))  # reboot: seq starts again
            node.send(report("n1", 2, 1, T + 11))
            await until(lambda: (node.poll(), (1, 4) in node.acks and (2, 1) in node.acks)[1])
            await asyncio.sleep(0.6)  # beyond the reorder grace
            node.poll()
            assert m.total("kizashi_seq_gaps_total") == 0
            assert not [c for c in node.cmds if c["name"] == "resend"]
            info = pipe.store.node("n1")
            assert info is not None and info.boot_id == 2 and info.resets[0][2] == "watchdog"

    run(body)


def test_gap_resend_backfill_keeps_node_time(tmp_path: Path) -> None:
    async def body() -> None:
        async with running(tmp_path) as (pipe, link, m):
            node = SimNode(link.port("n1"))
            for s in (0, 1, 2, 3, 6, 7, 8):
                node.send(report("n1", 1, s, T + s))
            await until(
                lambda: (node.poll(), [c for c in node.cmds if c["name"] == "resend"])[1] != []
            )
            cmd = next(c for c in node.cmds if c["name"] == "resend")
            assert cmd["args"] == {"boot": 1, "from": 4, "to": 5}
            assert node.acks[-1] == (1, 3)  # nothing past the hole is acked
            for s in (4, 5):
                node.send(report("n1", 1, s, T + s))
            await until(lambda: (node.poll(), node.acks)[1][-1] == (1, 8))
            frames_ = {f.seq: f for f in pipe.store.recent_frames("n1")}
            assert frames_[4].backfilled and not frames_[8].backfilled
            assert frames_[4].node_time == T + 4 and frames_[4].ts == T + 4
            assert m.total("kizashi_seq_gaps_total") == 1
            assert m.total("kizashi_frames_lost_total") == 0
            assert [e.code for e in pipe.store.events("n1")] == ["gap"]

    run(body)


def test_overflow_explained_by_dropped_is_lost_not_rerequested(tmp_path: Path) -> None:
    async def body() -> None:
        async with running(tmp_path) as (pipe, link, m):
            node = SimNode(link.port("n1"))
            for s in range(0, 4):
                node.send(report("n1", 1, s, T + s))
            node.send(report("n1", 1, 10, T + 10, dropped=6))  # 4..9 overflowed on the node
            await until(lambda: (node.poll(), node.acks)[1][-1:] == [(1, 10)], timeout=5)
            resends = [c for c in node.cmds if c["name"] == "resend"]
            assert len(resends) == 1  # asked once, then the dropped count explained it
            assert m.total("kizashi_frames_lost_total") == 6
            await asyncio.sleep(0.3)
            info = pipe.store.node("n1")
            assert info is not None and info.frames_lost == 6 and info.dropped == 6
            assert info.link_quality == pytest.approx(5 / 17)

    run(body)


def test_resend_answered_without_frames_marks_them_lost(tmp_path: Path) -> None:
    async def body() -> None:
        async with running(tmp_path) as (pipe, link, m):
            node = SimNode(link.port("n1"))
            for s in (0, 1, 2, 3, 8, 9):
                node.send(report("n1", 1, s, T + s))
            await until(
                lambda: (node.poll(), [c for c in node.cmds if c["name"] == "resend"])[1] != []
            )
            node.send(report("n1", 1, 6, T + 6))
            node.send(report("n1", 1, 7, T + 7))  # 4 and 5 are gone on the node
            await until(lambda: (node.poll(), node.acks)[1][-1:] == [(1, 9)])
            assert m.total("kizashi_frames_lost_total") == 2
            assert [f.seq for f in pipe.store.recent_frames("n1", limit=100)].count(4) == 0
            # The lost frame turns up after all: it is stored, and no longer counted lost.
            node.send(report("n1", 1, 4, T + 4))
            await until(lambda: len(pipe.store.recent_frames("n1")) == 9)

    run(body)


def test_unsynced_and_skewed_clocks_are_corrected(tmp_path: Path) -> None:
    async def body() -> None:
        async with running(tmp_path) as (pipe, link, m):
            a = SimNode(link.port("a"))
            b = SimNode(link.port("b"))
            now = int(time.time())
            for s in range(0, 5):
                a.send(report("a", 1, s, 100 + s, flags=1 | frames.FLAG_CLOCK_UNSYNCED))
                b.send(report("b", 1, s, now - 3600 + s))  # synced but an hour behind
            await until(lambda: m.total("kizashi_frames_stored_total") == 10)
            for f in pipe.store.recent_frames("a"):
                assert abs(f.ts - f.recv_time) < 5 and f.node_time < 200
            for f in pipe.store.recent_frames("b"):
                assert abs(f.ts - f.recv_time) < 5
            info = pipe.store.node("b")
            assert info is not None and info.clock_offset_s is not None
            assert abs(info.clock_offset_s - 3600) < 5
            await until(
                lambda: (
                    (a.poll(), b.poll(), [c for c in a.cmds + b.cmds if c["name"] == "time"])[2]
                    != []
                )
            )
            names = sorted(c["node"] for c in a.cmds + b.cmds if c["name"] == "time")
            assert names == ["a", "b"]  # once each, rate-limited
            assert m.total("kizashi_time_commands_total") == 2

    run(body)


def test_bad_input_counted_by_reason_and_gateway_keeps_going(tmp_path: Path) -> None:
    async def body() -> None:
        async with running(tmp_path) as (pipe, link, m):
            port = link.port("n1")
            port.write(b"\x01\x02\x03\x00")  # not a valid serial frame
            port.write(encode_serial(b"\xc1"))  # never-used msgpack byte
            port.write(encode_serial(b"\x92\x01\x02"))  # array too short
            port.write(encode_serial(bytes([0x95, 0x31, 0xA2, 0x6E, 0x31, 1, 1, 1])))  # version 3
            port.write(encode_serial(report("n1", 1, 0, T) + b"\x00"))  # trailing bytes
            assert not pipe.submit(b"\x00" * 600, "test")  # oversize
            assert not pipe.submit(report("n2", 1, 0, T), "test", node_hint="n1")
            node = SimNode(port)
            node.send(report("n1", 1, 0, T))
            await until(lambda: (node.poll(), node.acks)[1] == [(1, 0)])
            rej = pipe.decoder.rejected
            for reason in (
                "malformed",
                "unknown_version",
                "trailing_bytes",
                "oversize",
                "topic_mismatch",
            ):
                assert rej.get(reason, 0) >= 1, (reason, rej)
            assert m.total("kizashi_serial_rejected_total") >= 1
            text = m.render()
            assert 'kizashi_frames_rejected_total{reason="unknown_version"} 1' in text

    run(body)


def test_restart_keeps_dedup_and_counters(tmp_path: Path) -> None:
    async def first() -> None:
        async with running(tmp_path) as (_pipe, link, m):
            node = SimNode(link.port("n1"))
            for s in range(0, 5):
                node.send(report("n1", 1, s, T + s))
            await until(lambda: m.total("kizashi_frames_accepted_total") == 5)
        # leaving the block stops the pipeline, which flushes the last batch

    async def second() -> None:
        async with running(tmp_path) as (pipe, link, m):
            node = SimNode(link.port("n1"))
            node.send(report("n1", 1, 4, T + 4))  # replay of a stored frame
            node.send(report("n1", 1, 5, T + 5))
            await until(lambda: (node.poll(), node.acks)[1][-1:] == [(1, 5)])
            assert m.total("kizashi_frames_duplicate_total") == 1
            info = pipe.store.node("n1")
            assert info is not None and info.frames_received == 6

    run(first)
    run(second)


def test_clock_step_after_time_command_never_dates_frames_wrong(tmp_path: Path) -> None:
    """A node on its uptime clock gets `time`, steps to wall time, and the frames around the
    step keep correct timestamps (found in the demo: events stamped 2055)."""

    async def body() -> None:
        async with running(tmp_path) as (pipe, link, m):
            n = SimNode(link.port("u"))
            now = int(time.time())
            unsynced = 1 | frames.FLAG_CLOCK_UNSYNCED
            for s in range(0, 12):  # uptime clock: node time ~ 100 s
                n.send(report("u", 1, s, 100 + s, flags=unsynced))
            await until(lambda: m.total("kizashi_frames_stored_total") == 12)
            # The node applied the time command: the same boot now sends wall-clock time.
            for s in range(12, 30):
                n.send(report("u", 1, s, now + s, flags=1))
            await until(lambda: m.total("kizashi_frames_stored_total") == 30)
            stored = pipe.store.recent_frames("u", limit=100)
            assert len(stored) == 30
            for f in stored:
                assert abs(f.ts - f.recv_time) < 60, (f.seq, f.node_time, f.ts - f.recv_time)
            # The frames before the step was confirmed fell back to their receive time.
            assert 1 <= m.total("kizashi_clock_step_frames_total") <= 3

    run(body)


def test_clock_tracker_steps_only_on_agreeing_frames() -> None:
    from gateway.seqtrack import ClockTracker

    c = ClockTracker(step_s=300, step_confirm=3)
    for i in range(20):
        c.add(1000.0 + i, 10 + i)  # offset 990
    assert c.offset == 990 and c.agrees(2000.0, 1010)
    c.add(5000.0, 10)  # one wild frame (delayed in a queue): no step
    c.add(1021.0, 31)
    assert c.offset == 990 and c.steps == 0
    for i in range(3):  # the clock really stepped by ~+1e9
        assert not c.agrees(1030.0 + i, 1_000_000_000 + i)
        c.add(1030.0 + i, 1_000_000_000 + i)
    assert c.steps == 1 and abs(c.offset + (1_000_000_000 - 1030)) < 1  # type: ignore[operator]


def test_simulated_sensor_outside_a_bench_is_flagged(tmp_path: Path) -> None:
    """A birth naming the simulated sensor raises the gateway event `simulated_sensor`,
    unless the gateway is a bench (`[pipeline] bench`, as the demo sets it)."""
    from dataclasses import replace

    from tests.gateway.simnode import BIRTH_INFO

    sim = {**BIRTH_INFO, "sensor": "sim", "bench": True}

    def codes(pipe: IngestPipeline) -> list[str]:
        return [e.code for e in pipe.store.events(limit=100) if e.source == "gateway"]

    async def body(config: PipelineConfig, want: list[str]) -> None:
        async with running(tmp_path, config, db=f"gw{len(want)}.db") as (pipe, link, _m):
            node = SimNode(link.port("s1"))
            node.send(frames.encode_birth("s1", 1, T, sim))
            node.send(report("s1", 1, 1, T + 1))
            await until(lambda: (node.poll(), node.acks)[1] != [] and node.acks[-1] == (1, 1))
            assert [c for c in codes(pipe) if c == "simulated_sensor"] == want

    asyncio.run(body(FAST, ["simulated_sensor"]))
    asyncio.run(body(replace(FAST, bench=True), []))


def test_wifi_rssi_metric_from_the_birth_then_the_hourly_event(tmp_path: Path) -> None:
    from tests.gateway.simnode import BIRTH_INFO

    async def body() -> None:
        async with running(tmp_path) as (pipe, link, m):
            node = SimNode(link.port("n1"))
            info = {**BIRTH_INFO, "reset": "power_on", "rssi_dbm": -67}
            node.send(frames.encode_birth("n1", 1, T, info))
            await until(lambda: m.get("kizashi_node_rssi_dbm", node="n1") == -67)
            node.send(frames.encode_event("n1", 1, 1, T + 1, "wifi_rssi", {"rssi_dbm": -80}))
            await until(lambda: m.get("kizashi_node_rssi_dbm", node="n1") == -80)
            node.send(birth("n2", 1, T))  # a serial node: no RSSI, no metric
            await until(lambda: pipe.store.node("n2") is not None)
            lines = [x for x in m.render().splitlines() if x.startswith("kizashi_node_rssi")]
            assert lines == ['kizashi_node_rssi_dbm{node="n1"} -80'], lines

    run(body)
