"""The fleet server's applier: every site's messages into the central store, once each.

It subscribes to kizashi/fleet/+/up with QoS 1 on a persistent session (the broker keeps what
arrives while the fleet server is down, up to its queue limits; beyond them the sites resend,
since only the centre's answer moves a site's mark). Each message is applied in one transaction
with the origin's new mark (gateway/store/uplink_sql.py), then answered on the site's ack topic
with the mark the centre now holds. Only origins named in the config are applied, each tagged
with its customer; anything else is refused, logged and counted.

Several appliers (`lanes`, one database connection each) apply in parallel, the origins
partitioned among them by a stable hash: one origin's messages always go to the same lane, in
the order the broker delivered them, so its order and its watermark transaction stay as with
one applier; different origins' transactions touch different rows (their own mark, nodes and
assets). What a lane holds in memory is only what the MQTT client had already received: lost on
a crash like the client's own buffer, and resent by the sites, whose marks have not moved.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import aiomqtt

from gateway.metrics import REGISTRY, Metrics
from gateway.store.sql import SqlStore
from gateway.store.uplink_sql import ApplyResult, frame_from_wire
from gateway.uplink.cancel import keep_linked, raise_if_cancelled
from gateway.uplink.config import UplinkConfig
from gateway.uplink.wire import UP_WILDCARD, VERSION, ack_topic, decode, encode, origin_of

log = logging.getLogger(__name__)

__all__ = ["CentralApplier"]


LANE_BACKLOG = 64  # messages a lane may have waiting before the MQTT reader waits for it


class CentralApplier:
    """Apply the messages of the site gateways in `origins` (origin -> customer) to `store`,
    and in parallel to `more_lanes` (more stores on the same database, a connection each)."""

    def __init__(
        self,
        store: SqlStore,
        origins: Mapping[str, str],
        config: UplinkConfig,
        metrics: Metrics | None = None,
        more_lanes: Sequence[SqlStore] = (),
    ) -> None:
        self.store = store
        self.lanes = [store, *more_lanes]
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
        await keep_linked(
            self.config, "kizashi-fleet", UP_WILDCARD, self.connected, self._session,
            "fleet applier", lambda up: self.metrics.set("kizashi_fleet_uplink_up", int(up)),
        )  # fmt: skip

    def lane_of(self, origin: str) -> int:
        """The lane that applies `origin`'s messages (stable across restarts)."""
        return zlib.crc32(origin.encode()) % len(self.lanes)

    async def _session(self, client: aiomqtt.Client) -> None:
        """Hand each message to its origin's lane until the connection or a lane fails."""
        queues: list[asyncio.Queue[tuple[str, Any]]] = [
            asyncio.Queue(LANE_BACKLOG) for _ in self.lanes
        ]
        workers = [
            asyncio.create_task(self._lane(client, store, q))
            for store, q in zip(self.lanes, queues, strict=True)
        ]

        async def read() -> None:
            async for msg in client.messages:
                raise_if_cancelled()
                topic = msg.topic.value
                origin = origin_of(topic)
                await queues[0 if origin is None else self.lane_of(origin)].put(
                    (topic, msg.payload)
                )

        reader = asyncio.create_task(read())
        tasks = {reader, *workers}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for t in done:
            t.result()  # a lane's database error or the reader's MqttError, as raised
        raise aiomqtt.MqttError("fleet applier session ended")

    async def _lane(
        self, client: aiomqtt.Client, store: SqlStore, queue: asyncio.Queue[tuple[str, Any]]
    ) -> None:
        while True:
            raise_if_cancelled()
            topic, payload = await queue.get()
            await self._handle(client, topic, payload, store)

    def _refuse(self, reason: str, topic: str) -> None:
        self.refused += 1
        self.metrics.inc("kizashi_fleet_messages_refused_total", reason=reason)
        log.warning("uplink message refused", extra={"reason": reason, "topic": topic})

    async def _handle(
        self, client: aiomqtt.Client, topic: str, payload: Any, store: SqlStore | None = None
    ) -> None:
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
            stream, ref, result = await asyncio.to_thread(self.apply, origin, msg, store)
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

    def apply(
        self, origin: str, msg: dict[str, Any], store: SqlStore | None = None
    ) -> tuple[str, object, ApplyResult]:
        """Apply one decoded message of `origin` (to `store`, default the first lane's);
        (stream, ref, result). ValueError if bad."""
        st = store or self.store
        stream = msg["stream"]
        if stream == "state":
            return stream, str(msg["ref"]), st.apply_state(origin, msg["state"])
        after, upto, rows = int(msg["after"]), int(msg["upto"]), msg["rows"]
        if stream == "frames":
            frames = [(int(r[0]), frame_from_wire(r[1:])) for r in rows]
            return stream, upto, st.apply_frames(origin, after, upto, frames)
        if stream == "events":
            return stream, upto, st.apply_events(origin, after, upto, rows)
        raise ValueError(f"unknown uplink stream {stream!r}")
