"""The real firmware Node talking to a real IngestPipeline over the loopback serial link.

    async with pipeline(store) as (pipe, link, metrics):
        board = Board(link, "pump-1", flash_dir)
        await board.run(seconds=30)          # polls the node on its fake clock, lets the loop run
        board.reboot()                        # a new Node on the same flash: the next boot

The node runs short windows (256 samples every 5 s) so a test costs little CPU.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from firmware.host import FakeClock, make_node
from firmware.transports.serial import SerialTransport
from gateway.ingest import IngestPipeline, PipelineConfig
from gateway.links import LoopbackLink
from gateway.metrics import Metrics
from gateway.store.api import Store

FAST = PipelineConfig(
    batch_interval_s=0.05,
    reorder_grace_s=0.3,
    resend_timeout_s=0.4,
    resend_max_attempts=2,
    housekeeping_s=0.05,
    clock_tolerance_s=1e9,
)
SMALL = {"window": 256, "window_s": 5, "report_s": 5, "alarm_report_s": 5}


@asynccontextmanager
async def pipeline(
    store: Store, config: PipelineConfig = FAST, **kwargs: Any
) -> AsyncIterator[tuple[IngestPipeline, LoopbackLink, Metrics]]:
    metrics = Metrics()
    pipe = IngestPipeline(store, metrics, config, **kwargs)
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


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


class Board:
    """One simulated board: a flash directory, a fake clock, the unchanged firmware Node."""

    def __init__(
        self,
        link: LoopbackLink,
        node_id: str,
        flash_dir: Path,
        config: dict[str, Any] | None = None,
        profile: str = "healthy",
    ) -> None:
        self.link = link
        self.node_id = node_id
        self.flash_dir = flash_dir
        self.profile = profile
        self.clock = FakeClock(start_ms=0, epoch_s=int(time.time()))
        self.port = link.port(node_id)
        self.node: Any = None
        self.reset_requested = False
        self.online = True  # False: the node is not polled (a broken link, a power cut)
        self._config = dict(SMALL if config is None else config)
        self.boot()

    def boot(self, reset_cause: str = "power_on") -> None:
        self.node = make_node(
            self.node_id,
            self.profile,
            SerialTransport(self.port),
            self.clock,
            str(self.flash_dir),
            config=self._config,
            reset_cause=reset_cause,
            reset=self._reset,
        )
        self._config = {}  # config.json is on the flash now: a reboot keeps what it holds

    def _reset(self) -> None:  # machine.reset(): the board restarts at the next poll
        self.reset_requested = True

    def reboot(self) -> None:
        """A restart: main.py's slot choice (firmware/ota.py), then a new Node on the flash."""
        from firmware import ota
        from firmware.fsio import VfsFS

        self.reset_requested = False
        ota.boot_select(VfsFS(str(self.flash_dir)))
        self.boot("soft")

    async def run(self, seconds: float, step_ms: int = 500) -> None:
        """Poll the node for `seconds` of its clock, yielding to the gateway between polls."""
        end = self.clock.ms + int(seconds * 1000)
        while self.clock.ms < end:
            if self.reset_requested:
                self.reboot()
            self.node.poll(self.clock.ticks_ms())
            self.clock.advance(step_ms)
            await asyncio.sleep(0.002)
        self.node.poll(self.clock.ticks_ms())

    async def settle(self, timeout: float = 10.0) -> None:
        """Poll until every frame of the node is acked (its ring is empty)."""
        end = time.monotonic() + timeout
        while True:
            self.node.poll(self.clock.ticks_ms())
            if self.node.ring.pending() == 0:
                return
            if time.monotonic() > end:
                raise AssertionError(f"{self.node_id}: {self.node.ring.pending()} frames unacked")
            self.clock.advance(50)
            await asyncio.sleep(0.01)
