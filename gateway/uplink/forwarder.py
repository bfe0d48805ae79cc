"""The site gateway's forwarder: its committed rows to the central fleet server, at least once.

One message in flight: the state first when the registry changed (so the centre files the
frames that follow under the same assets as the site did), then each stream: read the rows
after the stream's watermark (kept in the site store, table uplink_marks), publish them with
QoS 1, wait for the centre's answer and store the mark it names. No answer within
ack_timeout_s (link down, centre down, message lost) means the same rows go again: the centre
applies each row once whatever it receives twice.
A restart, a SIGKILL or an outage of any length resumes from the stored mark, as far back as
the site's retention keeps the rows. The local pipeline, the acks to nodes and the local page
never wait for any of this.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

import aiomqtt

from gateway.metrics import REGISTRY, Metrics
from gateway.store.sql import SqlStore
from gateway.uplink.cancel import keep_linked, raise_if_cancelled
from gateway.uplink.config import UplinkConfig
from gateway.uplink.wire import VERSION, ack_topic, decode, encode, up_topic

log = logging.getLogger(__name__)

__all__ = ["Forwarder"]


class Forwarder:
    """Forward `store` (a site's SqlStore) as `origin` (the gateway id) to the broker."""

    def __init__(
        self, store: SqlStore, origin: str, config: UplinkConfig, metrics: Metrics | None = None
    ) -> None:
        self.store = store
        self.origin = origin
        self.config = config
        self.metrics = metrics or REGISTRY
        self.connected = asyncio.Event()
        self._acks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._state_ref: str | None = None  # digest of the state the centre acknowledged
        self._state_sent_at = -1e18
        self._registry_stamp: str | None = None  # registry stamp of the acknowledged state
        self.sent = 0  # messages published (resends included)
        self.resends = 0

    async def run(self) -> None:
        """Connect, forward, reconnect with backoff and jitter; until cancelled."""
        await keep_linked(
            self.config, "kizashi-uplink-" + self.origin, ack_topic(self.origin), self.connected,
            self._session, "uplink",
            lambda up: self.metrics.set("kizashi_uplink_up", int(up)),
        )  # fmt: skip

    async def _session(self, client: aiomqtt.Client) -> None:
        """Read answers and forward until either fails (the link went down)."""
        reader = asyncio.create_task(self._read_acks(client))
        forward = asyncio.create_task(self._forward(client))
        try:
            done, _ = await asyncio.wait({reader, forward}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (reader, forward):
                t.cancel()
            await asyncio.gather(reader, forward, return_exceptions=True)
        for t in done:
            t.result()
        raise aiomqtt.MqttError("uplink session ended")

    async def _read_acks(self, client: aiomqtt.Client) -> None:
        async for msg in client.messages:
            payload = msg.payload
            if not isinstance(payload, bytes | bytearray):
                continue
            try:
                ack = decode(bytes(payload))
            except ValueError as e:
                log.warning("uplink ack refused", extra={"error": str(e)})
                continue
            self._acks.put_nowait(ack)

    async def _await_ack(self, stream: str, ref: object) -> dict[str, Any] | None:
        """The centre's answer to (stream, ref), or None after ack_timeout_s."""
        end = time.monotonic() + self.config.ack_timeout_s
        while True:
            raise_if_cancelled()
            left = end - time.monotonic()
            if left <= 0:
                return None
            try:
                async with asyncio.timeout(left):  # (3.11's wait_for can drop a cancellation)
                    ack = await self._acks.get()
            except TimeoutError:
                return None
            if ack.get("stream") == stream and ack.get("ref") == ref:
                return ack
            # an answer to an earlier (resent) message: its mark is stored already or
            # will be named again by the next answer

    async def _send(self, client: aiomqtt.Client, stream: str, ref: object, msg: bytes) -> Any:
        await client.publish(up_topic(self.origin), msg, qos=1)
        self.sent += 1
        self.metrics.inc("kizashi_uplink_messages_total", stream=stream)
        ack = await self._await_ack(stream, ref)
        if ack is not None and "error" in ack:
            self.metrics.inc("kizashi_uplink_refused_total", stream=stream)
            log.error("the centre refused a message", extra={"stream": stream, "err": ack["error"]})
            if stream != "state":  # rows the site stored but the centre cannot take: sent
                await asyncio.sleep(self.config.ack_timeout_s)  # again, not in a hot loop
                return None
        if ack is None:
            self.resends += 1
            self.metrics.inc("kizashi_uplink_timeouts_total", stream=stream)
            log.info("uplink answer overdue, sending again", extra={"stream": stream})
        return ack

    async def _forward(self, client: aiomqtt.Client) -> None:
        while True:
            raise_if_cancelled()
            stamp = await asyncio.to_thread(self.store.registry_stamp)
            due = time.monotonic() - self._state_sent_at >= self.config.state_every_s
            if due or stamp != self._registry_stamp:
                await self._forward_state(client, stamp)
                if stamp != self._registry_stamp:
                    continue  # no frames before the centre has the registry they belong to
            busy = False
            for stream in ("frames", "events"):
                busy |= await self._forward_stream(client, stream)
            if not busy:
                await asyncio.sleep(self.config.poll_s)

    def next_batch(self, stream: str) -> tuple[int, bytes] | None:
        """The next message of `stream` after its stored mark: (its upto, bytes), or None."""
        mark = self.store.uplink_mark(self.origin, stream)
        rows: list[Any]
        if stream == "frames":
            rows = [[fid, *f] for fid, f in self.store.frames_after(mark, self.config.batch)]
        else:
            rows = self.store.event_rows_after(mark, self.config.batch)
        if not rows:
            return None
        upto = int(rows[-1][0])
        msg = {"v": VERSION, "stream": stream, "after": mark, "upto": upto, "rows": rows}
        return upto, encode(msg)

    def state_message(self) -> tuple[str, bytes]:
        """The site's state as one message: (its digest, bytes)."""
        state = self.store.state_snapshot()
        ref = hashlib.sha256(encode(state)).hexdigest()[:32]
        return ref, encode({"v": VERSION, "stream": "state", "ref": ref, "state": state})

    def acknowledged(self, stream: str, sent_upto: int, centre_upto: int) -> None:
        """Store the mark the centre answered (normally what was sent; after a loss at the
        centre, e.g. a restored backup, an older one: the rows go again from there)."""
        if centre_upto != sent_upto:
            log.warning(
                "centre holds another mark: forwarding from it",
                extra={"stream": stream, "sent_upto": sent_upto, "centre_upto": centre_upto},
            )
        self.store.set_uplink_mark(self.origin, stream, centre_upto)
        self.metrics.set("kizashi_uplink_mark", centre_upto, stream=stream)

    async def _forward_stream(self, client: aiomqtt.Client, stream: str) -> bool:
        """Send the next batch of `stream`; True when there was one."""
        batch = await asyncio.to_thread(self.next_batch, stream)
        if batch is None:
            return False
        upto, msg = batch
        ack = await self._send(client, stream, upto, msg)
        if ack is not None:
            await asyncio.to_thread(self.acknowledged, stream, upto, int(ack["upto"]))
        return True

    async def _forward_state(self, client: aiomqtt.Client, stamp: str) -> None:
        ref, msg = await asyncio.to_thread(self.state_message)
        self._state_sent_at = time.monotonic()
        if ref != self._state_ref:
            # A state the centre refuses (answered with an error) is not sent again until it
            # changes: the frames must not wait behind it for ever.
            ack = await self._send(client, "state", ref, msg)
            if ack is None:
                return
            self._state_ref = ref
        self._registry_stamp = stamp

    def backlog(self) -> int:
        """Frames and events not yet acknowledged by the centre, up to one batch of each."""
        fmark = self.store.uplink_mark(self.origin, "frames")
        emark = self.store.uplink_mark(self.origin, "events")
        n = self.config.batch
        return len(self.store.frames_after(fmark, n)) + len(self.store.event_rows_after(emark, n))
