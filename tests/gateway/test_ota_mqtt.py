"""Over-the-air update over a real (private) Mosquitto: the gateway's UpdateSender through the
IngestPipeline and MqttLink, the firmware's own MqttTransport and umqtt client over a real
socket. The broker is SIGKILLed in the middle of the transfer and started again: the node
reconnects, the sender resends what went unanswered and goes on from the node's offset, the
build is committed, the node reboots into it and confirms it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bench.faults.common import MpSocketModule
from firmware import ota
from firmware.fsio import VfsFS
from firmware.host import make_node
from firmware.host.clock import RealClock
from firmware.transports.mqtt import MqttTransport
from firmware.transports.umqtt import MQTTClient
from gateway.ingest import IngestPipeline, PipelineConfig
from gateway.metrics import Metrics
from gateway.mqtt_link import MqttConfig, MqttLink
from gateway.store.sqlite import SqliteStore
from gateway.updates import UpdateSender, fleet_key, fleet_public_key, make_build
from tests.gateway.broker import Broker, free_port

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(120)]
NODE = "ota-mqtt-1"
CONFIG = {"window": 256, "window_s": 1, "report_s": 2, "alarm_report_s": 1}


class MqttBoard:
    """The unchanged firmware Node on a real-time clock, polled by a thread; machine.reset()
    reboots it: main.py's slot choice, then a new Node and a new MQTT connection."""

    def __init__(self, port: int, flash: Path) -> None:
        self.port = port
        self.flash = flash
        self.clock = RealClock(4.0)
        self.node: Any = None
        self.reset_requested = False
        self.boots = 0
        self._stop = threading.Event()
        self.errors: list[str] = []
        self.boot()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _client(self) -> MQTTClient:
        return MQTTClient(
            NODE, "127.0.0.1", self.port, None, None, keepalive=60, socket_timeout=3,
            socket_mod=MpSocketModule,
        )  # fmt: skip

    def boot(self) -> None:
        if self.node is not None and self.node.transport.client is not None:
            self.node.transport.client.close()
        ota.boot_select(VfsFS(str(self.flash)))
        transport = MqttTransport(NODE, self._client, None, 1)
        transport.name = "mqtt"
        self.node = make_node(
            NODE, "healthy", transport, self.clock, str(self.flash),
            config=CONFIG if self.boots == 0 else None, reset=self._reset,
            reset_cause="power_on" if self.boots == 0 else "soft",
        )  # fmt: skip
        self.boots += 1

    def _reset(self) -> None:
        self.reset_requested = True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.reset_requested:
                    self.reset_requested = False
                    self.boot()
                d = self.node.poll(self.clock.ticks_ms())
            except Exception as e:  # the node must not raise; recorded for the assertion
                self.errors.append(repr(e))
                d = 50
            time.sleep(max(0.002, min(d, 50) / 1000.0))

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)
        if self.node.transport.client is not None:
            self.node.transport.client.close()


def test_update_over_mosquitto_resumes_after_broker_restart(tmp_path: Path) -> None:
    port = free_port()
    broker = Broker(tmp_path, port).start()
    sdir = tmp_path / "secrets"
    flash = tmp_path / "flash"
    flash.mkdir()
    key = fleet_public_key(sdir).hex()
    (flash / "node.json").write_text(
        json.dumps({"node_id": NODE, "transport": "mqtt", "mqtt_host": "127.0.0.1",
                    "fleet_key": key})
    )  # fmt: skip
    src = tmp_path / "build"
    for name, size in (("firmware/node.mpy", 4000), ("protocol/frames.mpy", 2500)):
        p = src / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes((name.encode() * size)[:size])
    build = make_build(src, "0.2.0", fleet_key(sdir))
    store = SqliteStore(tmp_path / "gw.db")
    metrics = Metrics()
    pipe = IngestPipeline(store, metrics, PipelineConfig(batch_interval_s=0.05,
                                                         housekeeping_s=0.05))  # fmt: skip
    link = MqttLink(
        MqttConfig(port=port, client_id="gw-ota", backoff_min_s=0.1, backoff_max_s=0.5), metrics
    )
    pipe.add_link(link)
    board = MqttBoard(port, flash)
    births: list[Any] = []
    pipe.observers.append(
        lambda f, live: births.append(f["info"].get("slot")) if f["kind"] == "birth" else None
    )

    async def body() -> tuple[str, UpdateSender, int]:
        ptask = asyncio.create_task(pipe.run())
        ltask = asyncio.create_task(link.run(pipe))
        try:
            end = time.monotonic() + 20
            while not births and time.monotonic() < end:
                await asyncio.sleep(0.05)
            assert births, "no birth over MQTT"
            sender = UpdateSender(
                pipe, NODE, build, chunk=96, answer_timeout_s=1.0, attempts=60,
                confirm_timeout_s=60,
            )  # fmt: skip
            run = asyncio.create_task(sender.run())
            while sender.commands < 25 and not run.done():
                await asyncio.sleep(0.01)
            assert not run.done(), "the transfer ended before the broker was killed"
            at_kill = sender.commands
            broker.kill()  # mid-transfer
            await asyncio.sleep(1.5)
            broker.start()
            state = await asyncio.wait_for(run, 90)
            return state, sender, at_kill
        finally:
            pipe.stop()
            await asyncio.gather(ptask, return_exceptions=True)
            ltask.cancel()
            await asyncio.gather(ltask, return_exceptions=True)

    try:
        state, sender, at_kill = asyncio.run(body())
    finally:
        board.stop()
        broker.stop()
        store.close()
    assert state == "confirmed", (sender.reason, sender.commands)
    assert sender.resends > 0 and sender.commands > at_kill  # answers lost with the broker
    assert sender.target_slot == 1 and births[-1] == 1
    t = ota.Table(VfsFS(str(flash)))
    assert (t.active, t.state, t.updates, t.rollbacks) == (1, ota.CONFIRMED, 1, 0)
    for name, data in build.files:
        assert (flash / "ota1" / name).read_bytes() == data
    assert board.errors == []
