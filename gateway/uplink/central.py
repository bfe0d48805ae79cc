"""The fleet server's applier: every site's messages into the central store, once each.

It subscribes to kizashi/fleet/+/up with QoS 1 on a persistent session (the broker keeps what
arrives while the fleet server is down, up to its queue limits; beyond them the sites resend,
since only the centre's answer moves a site's mark). Each message is applied in one transaction
with the origin's new mark (gateway/store/uplink_sql.py), then answered on the site's ack topic
with the mark the centre now holds. Only origins named in the config are applied, each tagged
with its customer; anything else is refused, logged and counted.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from typing import Any

import aiomqtt

from gateway.metrics import REGISTRY, Metrics
from gateway.store.sql import SqlStore
from gateway.store.uplink_sql import ApplyResult, frame_from_wire
from gateway.uplink.cancel import raise_if_cancelled
from gateway.uplink.config import UplinkConfig
from gateway.uplink.wire import UP_WILDCARD, VERSION, ack_topic, decode, encode, origin_of

log = logging.getLogger(__name__)

__all__ = ["CentralApplier"]


class CentralApplier:
    """Apply the messages of the site gateways in `origins` (origin -> customer) to `store`."""

    def __init__(
        self,
        store: SqlStore,
        origins: Mapping[str, str],
        config: UplinkConfig,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.origins = dict(origins)
        self.config = config
        self.metrics = metrics or REGISTRY
        self.connected = asyncio.Event()
        self.applied = 0  # messages applied (duplicates included)
        self.refused = 0  # messages refused as a whole
        # what says "this message cannot be applied" (not "the database is unreachable")
        self._bad_message: tuple[type[BaseException], ...] = (
            ValueError, KeyError, TypeError, IndexError, *store.data_errors,
        )  # fmt: skip
        for origin, customer in self.origins.items():
            store.set_origin(origin, customer)

    async def run(self) -> None:
        delay = self.config.backoff_min_s
        while True:
            try:
                async with self.config.client("kizashi-fleet") as client:
                    await client.subscribe(UP_WILDCARD, qos=1)
                    self.connected.set()
                    self.metrics.set("kizashi_fleet_uplink_up", 1)
                    log.info("fleet applier up", extra={"host": self.config.host})
                    delay = self.config.backoff_min_s
                    async for msg in client.messages:
                        await self._handle(client, msg.topic.value, msg.payload)
            except aiomqtt.MqttError as e:
                raise_if_cancelled(e)
                log.warning("fleet applier down", extra={"error": str(e), "retry_s": delay})
            finally:
                self.connected.clear()
                self.metrics.set("kizashi_fleet_uplink_up", 0)
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(self.config.backoff_max_s, delay * 2)

    def _refuse(self, reason: str, topic: str) -> None:
        self.refused += 1
        self.metrics.inc("kizashi_fleet_messages_refused_total", reason=reason)
        log.warning("uplink message refused", extra={"reason": reason, "topic": topic})

    async def _handle(self, client: aiomqtt.Client, topic: str, payload: Any) -> None:
        origin = origin_of(topic)
        if origin is None:
            return self._refuse("bad_topic", topic)
        if origin not in self.origins:
            return self._refuse("unknown_origin", topic)
        if not isinstance(payload, bytes | bytearray):
            return self._refuse("empty", topic)
        msg: dict[str, Any] = {}
        try:
            msg = decode(bytes(payload))
            if msg.get("v") != VERSION:
                raise ValueError(f"uplink version {msg.get('v')!r}")
            stream, ref, result = await asyncio.to_thread(self.apply, origin, msg)
        except self._bad_message as e:
            # A message this centre cannot take: refused and answered, so one bad message
            # neither crash-loops the applier (blocking every site) nor goes unanswered.
            # Connection errors are not caught: the applier restarts, the site resends.
            log.warning("uplink message refused", extra={"origin": origin, "error": str(e)})
            self._refuse("malformed", topic)
            error = {"stream": msg.get("stream"), "ref": msg.get("ref", msg.get("upto")),
                     "error": str(e)[:200]}  # fmt: skip
            await client.publish(ack_topic(origin), encode(error), qos=1)
            return None
        self.applied += 1
        self.metrics.inc("kizashi_fleet_rows_total", result.stored, origin=origin, stream=stream)
        if result.refused:
            self.metrics.inc("kizashi_fleet_rows_refused_total", result.refused, origin=origin)
        answer = {"stream": stream, "ref": ref, "upto": result.upto}
        await client.publish(ack_topic(origin), encode(answer), qos=1)

    def apply(self, origin: str, msg: dict[str, Any]) -> tuple[str, object, ApplyResult]:
        """Apply one decoded message of `origin`; (stream, ref, result). ValueError if bad."""
        stream = msg["stream"]
        if stream == "state":
            return stream, str(msg["ref"]), self.store.apply_state(origin, msg["state"])
        after, upto, rows = int(msg["after"]), int(msg["upto"]), msg["rows"]
        if stream == "frames":
            frames = [(int(r[0]), frame_from_wire(r[1:])) for r in rows]
            return stream, upto, self.store.apply_frames(origin, after, upto, frames)
        if stream == "events":
            return stream, upto, self.store.apply_events(origin, after, upto, rows)
        raise ValueError(f"unknown uplink stream {stream!r}")
