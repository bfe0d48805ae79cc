"""The serial link over real pseudo-terminals: frames in, acks out, unplug and re-plug."""

from __future__ import annotations

import asyncio
import os
import select
import time
from pathlib import Path

import pytest

from gateway.ingest import IngestPipeline, PipelineConfig
from gateway.metrics import Metrics
from gateway.serial_link import SerialLink
from gateway.store.sqlite import SqliteStore
from gateway.wire import Deframer, encode_serial
from protocol import frames
from tests.gateway.simnode import report
from tests.gateway.test_ingest import until

pytestmark = pytest.mark.timeout(60)


class FakeBoard:
    """A node on the far end of a pty; `path` is a stable symlink like /dev/ttyACM0."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.master, slave = os.openpty()
        self.slave_name = os.ttyname(slave)
        os.close(slave)
        if path.is_symlink():
            path.unlink()
        path.symlink_to(self.slave_name)
        self.deframer = Deframer()

    def write(self, payload: bytes) -> None:
        os.write(self.master, encode_serial(payload))

    def acks(self) -> list[tuple[int, int]]:
        out = []
        while select.select([self.master], [], [], 0)[0]:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                break
            for p in self.deframer.feed(data):
                f = frames.decode(p)
                if f["kind"] == "ack":
                    out.append((f["boot"], f["seq"]))
        return out

    def unplug(self) -> None:
        os.close(self.master)
        self.path.unlink()


def test_serial_frames_acks_and_replug(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "gw.db")
    metrics = Metrics()
    pipe = IngestPipeline(store, metrics, PipelineConfig(batch_interval_s=0.05))
    dev = tmp_path / "ttyKZ0"
    board = FakeBoard(dev)
    link = SerialLink(str(dev), 115200, metrics, reopen_s=0.1)
    pipe.add_link(link)
    now = int(time.time())

    async def body() -> None:
        nonlocal board
        ptask = asyncio.create_task(pipe.run())
        ltask = asyncio.create_task(link.run(pipe))
        await until(link.connected.is_set)
        for s in range(0, 5):
            board.write(report("s1", 1, s, now + s))
        got: list[tuple[int, int]] = []

        def acked(upto: tuple[int, int]) -> bool:
            got.extend(board.acks())
            return upto in got

        await until(lambda: acked((1, 4)))
        board.unplug()
        await until(lambda: not link.connected.is_set())
        board = FakeBoard(dev)  # plugged back in (a new pty behind the same path)
        await until(link.connected.is_set)
        for s in range(5, 8):
            board.write(report("s1", 1, s, now + s))
        got.clear()
        await until(lambda: acked((1, 7)))
        assert link.opens == 2
        assert len(store.recent_frames("s1")) == 8
        pipe.stop()
        await ptask
        ltask.cancel()
        await asyncio.gather(ltask, return_exceptions=True)

    try:
        asyncio.run(body())
    finally:
        store.close()
