"""MQTT transport (aiomqtt 2.x): QoS 1, persistent session, online/offline state.

The gateway connects with a fixed client id and clean_session=False, so the broker queues QoS 1
frames for it while it is away (up to the broker's max_queued_messages: the end-to-end
guarantee is the application ack after the commit, not the broker). It reconnects with
exponential backoff and jitter. Its state topic carries "online", and the will sets "offline" if
the gateway vanishes; a clean stop publishes "offline" itself. Not retained: the site broker
refuses every retained message (`retain_available false`, gateway/provision.py) and would drop
a client that sent one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass

import aiomqtt

from gateway.links import FrameSink
from gateway.logs import RateLimitedLog
from gateway.metrics import REGISTRY, Metrics
from gateway.wire import gateway_state_topic, node_topic, node_wildcard, parse_node_topic

log = logging.getLogger(__name__)

__all__ = ["MqttConfig", "MqttLink"]


@dataclass(frozen=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    client_id: str = "kizashi-gateway"
    gateway_id: str = "gw1"
    keepalive: int = 30
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0


class LinkDown(ConnectionError):
    pass


_retained_log = RateLimitedLog(log)


def ignore_retained(metrics: Metrics, topic: str) -> None:
    """A retained message on a node topic is stale by definition (the broker replays it at
    every subscribe; a node never needs one): counted as rejected `retained`, not ingested.
    The broker config refuses retained publishes too (retain_available false)."""
    metrics.inc("kizashi_frames_rejected_total", reason="retained")
    _retained_log.warning("retained", "retained node message ignored", topic=topic)


class MqttLink:
    def __init__(self, config: MqttConfig, metrics: Metrics | None = None) -> None:
        self.config = config
        self.name = "mqtt"
        self.metrics = metrics or REGISTRY
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.received = 0

    @property
    def state_topic(self) -> str:
        return gateway_state_topic(self.config.gateway_id)

    def _new_client(self) -> aiomqtt.Client:
        c = self.config
        return aiomqtt.Client(
            c.host,
            c.port,
            username=c.username,
            password=c.password,
            identifier=c.client_id,
            clean_session=False,
            keepalive=c.keepalive,
            will=aiomqtt.Will(self.state_topic, b"offline", qos=1, retain=False),
            max_inflight_messages=1000,
            timeout=10,
        )

    async def run(self, sink: FrameSink) -> None:
        delay = self.config.backoff_min_s
        while True:
            self.metrics.inc("kizashi_link_reconnects_total", link=self.name)
            try:
                async with self._new_client() as client:
                    await self._session(client, sink)
                    delay = self.config.backoff_min_s
            except aiomqtt.MqttError as e:
                log.warning(
                    "mqtt link down",
                    extra={"error": str(e), "retry_s": round(delay, 2), "host": self.config.host},
                )
            finally:
                self._client = None
                self.connected.clear()
                self.metrics.set("kizashi_link_up", 0, link=self.name)
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(self.config.backoff_max_s, delay * 2)

    async def _session(self, client: aiomqtt.Client, sink: FrameSink) -> None:
        await client.subscribe([(node_wildcard(leaf), 1) for leaf in ("data", "birth", "death")])
        await client.publish(self.state_topic, b"online", qos=1)
        self._client = client
        self.connected.set()
        self.metrics.set("kizashi_link_up", 1, link=self.name)
        log.info("mqtt link up", extra={"host": self.config.host, "port": self.config.port})
        try:
            async for msg in client.messages:
                self.received += 1
                if msg.retain:
                    ignore_retained(self.metrics, msg.topic.value)
                    continue
                parsed = parse_node_topic(msg.topic.value)
                payload = msg.payload
                if parsed is None or not isinstance(payload, bytes | bytearray):
                    sink.submit(b"", self.name, None)  # counted as "empty"
                    continue
                sink.submit(bytes(payload), self.name, parsed[0])
        except asyncio.CancelledError:
            # A clean stop: say so before the broker would send the will.
            self._client = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.publish(self.state_topic, b"offline", qos=1), 2.0)
            raise

    async def send(self, node_id: str, leaf: str, payload: bytes) -> None:
        client = self._client
        if client is None:
            raise LinkDown("mqtt not connected")
        await client.publish(node_topic(node_id, leaf), payload, qos=1)
