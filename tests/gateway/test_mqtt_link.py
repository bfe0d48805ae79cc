"""The MQTT link against a real (private) mosquitto: acks, state, persistent session, reconnect."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiomqtt
import pytest

from gateway import mqtt_native
from gateway.decode import decode_frame
from gateway.ingest import IngestPipeline, PipelineConfig
from gateway.metrics import Metrics
from gateway.mqtt_link import MqttConfig, MqttLink
from gateway.mqtt_native import NativeMqttLink
from gateway.store.sqlite import SqliteStore
from tests.gateway.broker import Broker, free_port
from tests.gateway.simnode import birth, report
from tests.gateway.test_ingest import until

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(60)]
CFG = PipelineConfig(batch_interval_s=0.05, housekeeping_s=0.05)


async def watch_state(port: int, topic: str, seen: list[bytes], ready: asyncio.Event) -> None:
    """Collect the gateway's state messages (not retained: the site broker refuses retained
    messages, so the watcher subscribes before the gateway connects)."""
    async with aiomqtt.Client("127.0.0.1", port, identifier="probe", timeout=5) as c:
        await c.subscribe(topic, qos=1)
        ready.set()
        async for msg in c.messages:
            assert isinstance(msg.payload, bytes) and not msg.retain
            seen.append(msg.payload)


@pytest.mark.parametrize("impl", ["aiomqtt", "native", "native-shared"])
def test_mqtt_ingest_ack_state_session_and_reconnect(tmp_path: Path, impl: str) -> None:
    port = free_port()
    broker = Broker(tmp_path, port).start()
    store = SqliteStore(tmp_path / "gw.db")
    metrics = Metrics()
    pipe = IngestPipeline(store, metrics, CFG)
    cfg = MqttConfig(port=port, client_id="gw-test", backoff_min_s=0.1, backoff_max_s=0.5)
    link: MqttLink | NativeMqttLink
    if impl == "aiomqtt":
        link = MqttLink(cfg, metrics)
    else:  # the lean client, with one connection or two sharing the subscription
        link = NativeMqttLink(cfg, metrics, connections=1 if impl == "native" else 2)
    pipe.add_link(link)
    now = int(time.time())

    async def body() -> None:
        nonlocal broker
        states: list[bytes] = []
        ready = asyncio.Event()
        watcher = asyncio.create_task(watch_state(port, link.state_topic, states, ready))
        await asyncio.wait_for(ready.wait(), 5)
        ptask = asyncio.create_task(pipe.run())
        ltask = asyncio.create_task(link.run(pipe))
        await asyncio.wait_for(link.connected.wait(), 5)
        acks: list[tuple[int, int]] = []
        async with aiomqtt.Client("127.0.0.1", port, identifier="n1", timeout=5) as node:
            await node.subscribe("kizashi/v1/node/n1/ack", qos=1)

            async def read_acks() -> None:
                async for msg in node.messages:
                    assert isinstance(msg.payload, bytes)
                    f = decode_frame(msg.payload)
                    acks.append((f["boot"], f["seq"]))

            reader = asyncio.create_task(read_acks())
            await node.publish("kizashi/v1/node/n1/birth", birth("n1", 1, now), qos=1)
            for s in range(1, 11):
                await node.publish("kizashi/v1/node/n1/data", report("n1", 1, s, now + s), qos=1)
            # A frame of n2 on n1's topic is refused.
            await node.publish("kizashi/v1/node/n1/data", report("n2", 1, 1, now), qos=1)
            await until(lambda: acks[-1:] == [(1, 10)])
            assert pipe.decoder.rejected.get("topic_mismatch") == 1
            await until(lambda: states[-1:] == [b"online"])

            # Persistent session: frames published while the gateway is away arrive later.
            ltask.cancel()
            await asyncio.gather(ltask, return_exceptions=True)
            await until(lambda: states[-1:] == [b"offline"])
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            for s in range(11, 16):
                await node.publish("kizashi/v1/node/n1/data", report("n1", 1, s, now + s), qos=1)
            ltask = asyncio.create_task(link.run(pipe))
            await until(lambda: acks[-1:] == [(1, 15)])
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

        # Broker restart: the link reconnects by itself (backoff with jitter).
        broker.stop()
        await until(lambda: not link.connected.is_set())
        broker = Broker(tmp_path, port).start()
        await asyncio.wait_for(link.connected.wait(), 10)
        async with aiomqtt.Client("127.0.0.1", port, identifier="n1b", timeout=5) as node:
            await node.publish("kizashi/v1/node/n1/data", report("n1", 1, 16, now + 16), qos=1)
        await until(lambda: len(store.recent_frames("n1", limit=100)) == 16)
        assert metrics.total("kizashi_link_reconnects_total") >= 3
        pipe.stop()
        await ptask
        ltask.cancel()
        await asyncio.gather(ltask, return_exceptions=True)

    try:
        asyncio.run(body())
    finally:
        broker.stop()
        store.close()


@pytest.mark.parametrize("impl", ["aiomqtt", "native"])
def test_retained_node_messages_are_ignored(tmp_path: Path, impl: str) -> None:
    """Issue 15 item 14: a node's retained message is replayed at every subscribe; the gateway
    counts it as rejected `retained` and never ingests it (fresh frames still flow)."""
    port = free_port()
    broker = Broker(tmp_path, port).start()
    store = SqliteStore(tmp_path / "gw.db")
    metrics = Metrics()
    pipe = IngestPipeline(store, metrics, CFG)
    cfg = MqttConfig(port=port, client_id="gw-ret", backoff_min_s=0.1, backoff_max_s=0.5)
    link = MqttLink(cfg, metrics) if impl == "aiomqtt" else NativeMqttLink(cfg, metrics)
    pipe.add_link(link)
    now = int(time.time())

    async def body() -> None:
        async with aiomqtt.Client("127.0.0.1", port, identifier="n1", timeout=5) as node:
            await node.publish(
                "kizashi/v1/node/n1/data", report("n1", 1, 1, now), qos=1, retain=True
            )
        ptask = asyncio.create_task(pipe.run())
        ltask = asyncio.create_task(link.run(pipe))
        await asyncio.wait_for(link.connected.wait(), 5)
        await until(lambda: metrics.get("kizashi_frames_rejected_total", reason="retained") == 1)
        async with aiomqtt.Client("127.0.0.1", port, identifier="n1", timeout=5) as node:
            await node.publish("kizashi/v1/node/n1/data", report("n1", 1, 2, now + 2), qos=1)
        await until(lambda: len(store.recent_frames("n1")) == 1)
        assert store.recent_frames("n1")[0].seq == 2
        pipe.stop()
        await ptask
        ltask.cancel()
        await asyncio.gather(ltask, return_exceptions=True)

    try:
        asyncio.run(body())
    finally:
        broker.stop()
        store.close()


@pytest.mark.parametrize("packet", ["connack", "suback"])
def test_native_link_stops_when_cancelled_as_the_broker_answers(
    tmp_path: Path, packet: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop that lands in the same loop step as the broker's CONNACK or SUBACK ends the
    link. (Python 3.11's `asyncio.wait_for` returned the answer and dropped the cancel: the
    link went on to keep the session alive and `gather` on it never returned.)"""
    port = free_port()
    broker = Broker(tmp_path, port).start()
    cfg = MqttConfig(port=port, client_id="gw-cancel", backoff_min_s=0.1, backoff_max_s=0.5)
    link = NativeMqttLink(cfg, Metrics())
    ptype = {"connack": 2, "suback": 9}[packet]
    task: asyncio.Task[None] | None = None
    fired: list[int] = []
    received = mqtt_native._Connection.data_received

    def data_received(self: mqtt_native._Connection, data: bytes) -> None:
        received(self, data)  # resolves the waiting future ...
        if data and data[0] >> 4 == ptype and not fired and task is not None:
            fired.append(1)
            task.cancel()  # ... and the stop arrives before the waiter runs

    monkeypatch.setattr(mqtt_native._Connection, "data_received", data_received)

    class Sink:
        def submit(self, payload: bytes, source: str, node_id: str | None) -> None:
            pass

    async def body() -> None:
        nonlocal task
        task = asyncio.create_task(link.run(Sink()))  # type: ignore[arg-type]
        done, _ = await asyncio.wait({task}, timeout=5)
        assert fired, f"the broker never sent a {packet}"
        assert done, "the link kept running after it was cancelled"
        assert task.cancelled()
        assert not link.connected.is_set()

    try:
        asyncio.run(body())
    finally:
        broker.stop()
