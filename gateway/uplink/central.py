"""The fleet server's applier: every site's messages into the central store, once each.

It subscribes to kizashi/fleet/+/up with QoS 1 on a persistent session (the broker keeps what
arrives while the fleet server is down, up to its queue limits; beyond them the sites resend,
since only the centre's answer moves a site's mark). Each message is applied in one transaction
with the origin's new mark (gateway/store/uplink_sql.py), then answered on the site's ack topic
with the mark the centre now holds; frames messages of several origins that are waiting when a
lane is free share that transaction (each with its own mark and check, each answered after the
commit): the per-message cost is most of the cost of small messages. Only origins named in the
config are applied, each tagged with its customer; anything else is refused, logged and counted.

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
from gateway.store.uplink_sql import ApplyResult, FramesMessage, frame_from_wire
from gateway.uplink.cancel import keep_linked, raise_if_cancelled
from gateway.uplink.config import UplinkConfig
from gateway.uplink.wire import UP_WILDCARD, VERSION, ack_topic, decode, encode, origin_of, up_topic

log = logging.getLogger(__name__)

__all__ = ["CentralApplier"]


LANE_BACKLOG = 64  # messages a lane may have waiting before the MQTT reader waits for it
# What a lane applies in one transaction at most (of what is waiting when it is free): the
# per-message cost (a transaction, its statements) dominates small messages (docs/FLEET.md).
# Large ones (a backlog's 1,000 rows: 85 KB in bench/fleet.py) are one insert for many frames
# already, and their sites wait for the batch's commit to send more: a batch stops near 128 KB.
LANE_BATCH, LANE_BATCH_BYTES = 32, 128_000


def _size(payload: Any) -> int:
    return len(payload) if isinstance(payload, bytes | bytearray) else 0


def frames_message(origin: str, msg: dict[str, Any]) -> FramesMessage:
    """A decoded frames message as the store applies it; ValueError etc. if malformed."""
    rows = [(int(r[0]), frame_from_wire(r[1:])) for r in msg["rows"]]
    return FramesMessage(origin, int(msg["after"]), int(msg["upto"]), rows)


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
            waiting = [await queue.get()]
            size = _size(waiting[0][1])
            # what else is waiting (other origins' messages that came in meanwhile) is applied
            # with it: one transaction instead of one each
            while len(waiting) < LANE_BATCH and size < LANE_BATCH_BYTES and not queue.empty():
                waiting.append(queue.get_nowait())
                size += _size(waiting[-1][1])
            await self._apply_waiting(client, store, waiting)

    def _refuse(self, reason: str, topic: str) -> None:
        self.refused += 1
        self.metrics.inc("kizashi_fleet_messages_refused_total", reason=reason)
        log.warning("uplink message refused", extra={"reason": reason, "topic": topic})

    async def _apply_waiting(
        self, client: aiomqtt.Client, store: SqlStore, waiting: Sequence[tuple[str, Any]]
    ) -> None:
        """Apply `waiting` (topic, payload) in arrival order: the frames messages together in
        one transaction, each answered after its commit; a state or events message alone (after
        the frames of its origin before it)."""
        frames: list[tuple[str, dict[str, Any]]] = []
        for topic, payload in waiting:
            checked = await self._decoded(client, topic, payload)
            if checked is None:
                continue
            origin, msg = checked
            if msg.get("stream") == "frames":
                frames.append(checked)
                continue
            if any(o == origin for o, _ in frames):
                await self._apply_frames(client, store, frames)
                frames = []
            try:
                outcome: ApplyResult | BaseException = (
                    await asyncio.to_thread(self.apply, origin, msg, store)
                )[2]
            except self._bad_message as e:
                outcome = e
            await self._answer(client, origin, msg, outcome)
        await self._apply_frames(client, store, frames)

    async def _decoded(
        self, client: aiomqtt.Client, topic: str, payload: Any
    ) -> tuple[str, dict[str, Any]] | None:
        """(origin, message), or None when refused (and answered where it can be)."""
        origin = origin_of(topic)
        reason = (
            "bad_topic" if origin is None
            else "unknown_origin" if origin not in self.origins
            else None if isinstance(payload, bytes | bytearray)
            else "empty"
        )  # fmt: skip
        if reason is not None or origin is None:
            self._refuse(reason or "bad_topic", topic)
            return None
        try:
            msg = decode(bytes(payload))
            if msg.get("v") != VERSION:
                raise ValueError(f"uplink version {msg.get('v')!r}")
        except ValueError as e:
            await self._answer(client, origin, {}, e)
            return None
        return origin, msg

    async def _apply_frames(
        self, client: aiomqtt.Client, store: SqlStore, batch: Sequence[tuple[str, dict[str, Any]]]
    ) -> None:
        if batch:
            outcomes = await asyncio.to_thread(self._apply_frames_sync, store, batch)
            for (origin, msg), outcome in zip(batch, outcomes, strict=True):
                await self._answer(client, origin, msg, outcome)

    def _apply_frames_sync(
        self, store: SqlStore, batch: Sequence[tuple[str, dict[str, Any]]]
    ) -> list[ApplyResult | BaseException]:
        """Each message's result, or why it was refused. One bad message does not refuse the
        others: one that cannot be read is left out, and if the database refuses the batch
        (a value it cannot store), each message is applied again in a transaction of its own."""
        out: list[ApplyResult | BaseException] = []
        parsed: list[tuple[int, FramesMessage]] = []
        for k, (origin, msg) in enumerate(batch):
            try:
                parsed.append((k, frames_message(origin, msg)))
                out.append(ApplyResult())  # replaced below
            except self._bad_message as e:
                out.append(e)
        try:
            for (k, _), res in zip(
                parsed, store.apply_frames_many([m for _, m in parsed]), strict=True
            ):
                out[k] = res
        except self._bad_message as e:
            if len(parsed) == 1:
                out[parsed[0][0]] = e
                return out
            log.warning(
                "uplink batch refused, applying its messages one by one",
                extra={"messages": len(parsed), "error": str(e)[:200]},
            )
            for k, m in parsed:
                try:
                    out[k] = store.apply_frames_many([m])[0]
                except self._bad_message as e1:
                    out[k] = e1
        return out

    async def _answer(
        self, client: aiomqtt.Client, origin: str, msg: dict[str, Any],
        outcome: ApplyResult | BaseException,
    ) -> None:  # fmt: skip
        """Answer `origin` on its ack topic: the mark the centre now holds, or the error."""
        stream = msg.get("stream")
        if isinstance(outcome, BaseException):
            # A message this centre cannot take: refused and answered, so one bad message
            # neither crash-loops the applier (blocking every site) nor goes unanswered.
            # Connection errors are not caught: the applier restarts, the site resends.
            log.warning("uplink message refused", extra={"origin": origin, "error": str(outcome)})
            self._refuse("malformed", up_topic(origin))
            error = {"stream": stream, "ref": msg.get("ref", msg.get("upto")),
                     "error": str(outcome)[:200]}  # fmt: skip
            await client.publish(ack_topic(origin), encode(error), qos=1)
            return
        self.applied += 1
        self.metrics.inc(
            "kizashi_fleet_rows_total", outcome.stored, origin=origin, stream=str(stream)
        )
        if outcome.refused:
            self.metrics.inc("kizashi_fleet_rows_refused_total", outcome.refused, origin=origin)
        ref = str(msg["ref"]) if stream == "state" else int(msg["upto"])
        answer = {"stream": stream, "ref": ref, "upto": outcome.upto}
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
            return stream, upto, st.apply_frames_many([frames_message(origin, msg)])[0]
        if stream == "events":
            return stream, upto, st.apply_events(origin, after, upto, rows)
        raise ValueError(f"unknown uplink stream {stream!r}")
