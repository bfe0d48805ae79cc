"""A lean asyncio MQTT 3.1.1 client for the gateway's high-rate receive path.

`NativeMqttLink` is a drop-in `Link` with the same `MqttConfig` and the same behaviour as
`MqttLink` (aiomqtt): QoS 1 subscriptions to node data/birth/death, `clean_session=False` with
a fixed client id, `online` state with an `offline` will, reconnect with exponential
backoff and jitter, QoS 1 acks/commands to the nodes.

Why it exists: with aiomqtt/paho every message costs a paho packet parse in Python, a Message
object, an asyncio queue hop and an `async for` step, and PUBACKs go out one by one; that caps
the gateway at a few thousand QoS 1 messages/s (facts.md: paho 4.7 k/s at QoS 1). Here
`data_received` parses every complete packet of a socket read in one pass, hands each payload
straight to `sink.submit` (same thread, no queue), and writes all PUBACKs of that read in one
`write`. Outgoing QoS 1 publishes are pipelined (no round trip per ack) and re-sent with DUP
after a reconnect until the broker acknowledges them.

`connections > 1` opens several connections with an MQTT shared subscription
(`$share/<group>/...`, Mosquitto >= 1.6) so that a broker with a small per-client in-flight
window (Mosquitto's default `max_inflight_messages 20`) keeps more messages moving. Only the
first connection carries the will and the state.

Only what the gateway needs is implemented: no QoS 2 publishing, no MQTT 5.

Timeouts use `asyncio.timeout`, never `asyncio.wait_for`: on Python 3.11 `wait_for` returns
the result when the awaited future completes in the same loop step as a cancel, dropping the
cancel, so a stopping link could reconnect and keep running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import struct
import time
from collections.abc import Callable

from gateway.links import FrameSink
from gateway.metrics import REGISTRY, Metrics
from gateway.mqtt_link import LinkDown, MqttConfig, ignore_retained
from gateway.wire import gateway_state_topic, node_topic, node_wildcard, parse_node_topic

log = logging.getLogger(__name__)

__all__ = ["MqttProtocolError", "NativeMqttLink", "connect_packet", "publish_packet"]

MAX_PACKET = 64 * 1024  # a bigger PUBLISH is acked, reported as oversize and skipped
MAX_OUT_INFLIGHT = 20_000  # unacknowledged outgoing QoS 1 publishes kept for re-sending
TOPIC_CACHE = 100_000

CONNACK_CODES = {
    1: "unacceptable protocol version",
    2: "identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


class MqttProtocolError(ConnectionError):
    pass


def _varlen(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def _str(b: bytes) -> bytes:
    return struct.pack(">H", len(b)) + b


def connect_packet(
    client_id: str,
    keepalive: int,
    clean_session: bool,
    username: str | None = None,
    password: str | None = None,
    will: tuple[str, bytes, int, bool] | None = None,
) -> bytes:
    flags = 0x02 if clean_session else 0
    payload = _str(client_id.encode())
    if will is not None:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += _str(topic.encode()) + _str(message)
    if username is not None:
        flags |= 0x80
        payload += _str(username.encode())
    if password is not None:
        flags |= 0x40
        payload += _str(password.encode())
    body = _str(b"MQTT") + bytes([4, flags]) + struct.pack(">H", keepalive) + payload
    return b"\x10" + _varlen(len(body)) + body


def publish_packet(topic: bytes, payload: bytes, qos: int, pid: int, retain: bool = False) -> bytes:
    head = 0x30 | (qos << 1) | (1 if retain else 0)
    body = _str(topic) + (struct.pack(">H", pid) if qos else b"") + payload
    return bytes([head]) + _varlen(len(body)) + body


def subscribe_packet(pid: int, topics: list[tuple[str, int]]) -> bytes:
    body = struct.pack(">H", pid) + b"".join(_str(t.encode()) + bytes([q]) for t, q in topics)
    return b"\x82" + _varlen(len(body)) + body


PINGREQ = b"\xc0\x00"
_MISS = ("", "")  # topic cache sentinel (compared by identity)
DISCONNECT = b"\xe0\x00"


class _Connection(asyncio.Protocol):
    """One MQTT connection. Everything runs in the event loop thread."""

    def __init__(self, on_publish: Callable[[bytes, bytes, bool], None]) -> None:
        self.on_publish = on_publish
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.skip = 0  # bytes of an oversize packet still to discard
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.connack: asyncio.Future[tuple[bool, int]] = asyncio.get_running_loop().create_future()
        self.waiters: dict[int, asyncio.Future[bytes]] = {}  # pid -> SUBACK/PUBACK body
        self.on_puback: Callable[[int], None] | None = None
        self.last_rx = time.monotonic()
        self._writable = asyncio.Event()
        self._writable.set()

    # ---- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=1 << 20)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._writable.set()
        err = exc or ConnectionError("connection closed")
        futs: list[asyncio.Future[bytes] | asyncio.Future[tuple[bool, int]]] = [
            self.connack,
            *self.waiters.values(),
        ]
        for fut in futs:
            if not fut.done():
                fut.set_exception(err)
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        if self.skip:
            if len(data) <= self.skip:
                self.skip -= len(data)
                return
            data = data[self.skip :]
            self.skip = 0
        buf = self.buf
        buf += data
        n = len(buf)
        pos = 0
        acks: list[bytes] = []
        try:
            while n - pos >= 2:
                first = buf[pos]
                i = pos + 1
                length = 0
                shift = 0
                complete = False
                while i < n:
                    b = buf[i]
                    i += 1
                    length |= (b & 0x7F) << shift
                    if not b & 0x80:
                        complete = True
                        break
                    shift += 7
                    if shift > 21:
                        raise MqttProtocolError("bad remaining length")
                if not complete:
                    break  # header incomplete
                end = i + length
                ptype = first >> 4
                if ptype == 3:
                    if length > MAX_PACKET:
                        if not self._oversize(buf, first, i, end, n, acks):
                            break
                        pos = n if end > n else end
                        continue
                    if end > n:
                        break
                    tlen = (buf[i] << 8) | buf[i + 1]
                    j = i + 2 + tlen
                    topic = bytes(buf[i + 2 : j])
                    qos = (first >> 1) & 3
                    if qos:
                        pid = buf[j : j + 2]
                        j += 2
                        acks.append((b"\x40\x02" if qos == 1 else b"\x50\x02") + pid)
                    self.on_publish(topic, bytes(buf[j:end]), bool(first & 1))
                elif end > n:
                    break
                elif ptype == 4:  # PUBACK
                    pid_i = (buf[i] << 8) | buf[i + 1]
                    fut = self.waiters.pop(pid_i, None)
                    if fut is not None and not fut.done():
                        fut.set_result(b"")
                    if self.on_puback is not None:
                        self.on_puback(pid_i)
                elif ptype == 6:  # PUBREL (QoS 2 inbound): complete it
                    acks.append(b"\x70\x02" + bytes(buf[i : i + 2]))
                elif ptype == 9:  # SUBACK
                    pid_i = (buf[i] << 8) | buf[i + 1]
                    fut = self.waiters.pop(pid_i, None)
                    if fut is not None and not fut.done():
                        fut.set_result(bytes(buf[i + 2 : end]))
                elif ptype == 2:  # CONNACK
                    if not self.connack.done():
                        self.connack.set_result((bool(buf[i] & 1), buf[i + 1]))
                elif ptype in (5, 7, 11, 13):  # PUBREC/PUBCOMP/UNSUBACK/PINGRESP
                    pass
                else:
                    raise MqttProtocolError(f"unexpected packet type {ptype}")
                pos = end
        except MqttProtocolError as e:
            log.warning("mqtt protocol error", extra={"error": str(e)})
            if self.transport is not None:
                self.transport.abort()
            return
        finally:
            if pos:
                del buf[:pos]
            if acks and self.transport is not None:
                self.transport.write(b"".join(acks))

    def _oversize(
        self, buf: bytearray, first: int, i: int, end: int, n: int, acks: list[bytes]
    ) -> bool:
        """An oversize PUBLISH: ack it, report a too-long payload, discard the rest."""
        if n - i < 2:
            return False
        tlen = (buf[i] << 8) | buf[i + 1]
        qos = (first >> 1) & 3
        j = i + 2 + tlen + (2 if qos else 0)
        if j > n:
            return False
        if qos:
            acks.append((b"\x40\x02" if qos == 1 else b"\x50\x02") + bytes(buf[j - 2 : j]))
        self.on_publish(bytes(buf[i + 2 : i + 2 + tlen]), bytes(MAX_PACKET), False)  # "oversize"
        if end > n:
            self.skip = end - n
        return True

    # ---- helpers
    def write(self, data: bytes) -> None:
        if self.transport is None:
            raise LinkDown("mqtt not connected")
        self.transport.write(data)

    async def writable(self) -> None:
        await self._writable.wait()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class NativeMqttLink:
    """See the module docstring. Same constructor and `Link` interface as `MqttLink`."""

    def __init__(
        self, config: MqttConfig, metrics: Metrics | None = None, connections: int = 1
    ) -> None:
        self.config = config
        self.name = "mqtt"
        self.metrics = metrics or REGISTRY
        self.connections = max(1, connections)
        self.connected = asyncio.Event()
        self.received = 0
        self._conns: list[_Connection | None] = [None] * self.connections
        self._sink: FrameSink | None = None
        self._topics: dict[bytes, tuple[str, str] | None] = {}
        self._pid = 0
        self._out: dict[int, bytes] = {}  # pid -> outgoing QoS 1 publish not yet acknowledged

    @property
    def state_topic(self) -> str:
        return gateway_state_topic(self.config.gateway_id)

    # ---- receive
    def _on_publish(self, topic: bytes, payload: bytes, retain: bool = False) -> None:
        self.received += 1
        sink = self._sink
        if sink is None:
            return
        if retain:  # a stored message the broker replays on subscribe: never a fresh frame
            ignore_retained(self.metrics, topic.decode(errors="replace"))
            return
        parsed = self._topics.get(topic, _MISS)
        if parsed is _MISS:
            try:
                parsed = parse_node_topic(topic.decode())
            except UnicodeDecodeError:
                parsed = None
            if len(self._topics) >= TOPIC_CACHE:
                self._topics.clear()
            self._topics[topic] = parsed
        if not isinstance(parsed, tuple) or parsed[1] not in ("data", "birth", "death"):
            sink.submit(b"", self.name, None)  # counted as "empty", like MqttLink
            return
        sink.submit(payload, self.name, parsed[0])

    def _on_puback(self, pid: int) -> None:
        self._out.pop(pid, None)

    # ---- run
    async def run(self, sink: FrameSink) -> None:
        self._sink = sink
        try:
            async with asyncio.TaskGroup() as tg:
                for k in range(self.connections):
                    tg.create_task(self._run_one(k), name=f"mqtt-conn-{k}")
        finally:
            self._sink = None

    def _client_id(self, k: int) -> str:
        return self.config.client_id if k == 0 else f"{self.config.client_id}-{k}"

    def _filters(self) -> list[tuple[str, int]]:
        out = []
        for leaf in ("data", "birth", "death"):
            t = node_wildcard(leaf)
            if self.connections > 1:
                t = f"$share/kizashi-{self.config.gateway_id}/{t}"
            out.append((t, 1))
        return out

    async def _run_one(self, k: int) -> None:
        delay = self.config.backoff_min_s
        while True:
            self.metrics.inc("kizashi_link_reconnects_total", link=self.name)
            try:
                await self._session(k)
                delay = self.config.backoff_min_s
            except (OSError, TimeoutError, MqttProtocolError) as e:
                log.warning(
                    "mqtt link down",
                    extra={"error": str(e), "retry_s": round(delay, 2), "host": self.config.host},
                )
            finally:
                self._conns[k] = None
                if not any(self._conns):
                    self.connected.clear()
                    self.metrics.set("kizashi_link_up", 0, link=self.name)
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(self.config.backoff_max_s, delay * 2)

    def _next_pid(self, conn: _Connection) -> int:
        for _ in range(65535):
            self._pid = self._pid % 65535 + 1
            if self._pid not in self._out and self._pid not in conn.waiters:
                return self._pid
        raise LinkDown("no free packet id")

    async def _request(self, conn: _Connection, packet: Callable[[int], bytes]) -> bytes:
        pid = self._next_pid(conn)
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        conn.waiters[pid] = fut
        conn.write(packet(pid))
        async with asyncio.timeout(10):
            return await fut

    async def _session(self, k: int) -> None:
        c = self.config
        loop = asyncio.get_running_loop()
        main = k == 0
        async with asyncio.timeout(10):
            _, conn = await loop.create_connection(
                lambda: _Connection(self._on_publish), c.host, c.port
            )
        try:
            conn.write(
                connect_packet(
                    self._client_id(k),
                    c.keepalive,
                    clean_session=False,
                    username=c.username,
                    password=c.password,
                    will=(self.state_topic, b"offline", 1, False) if main else None,
                )
            )
            async with asyncio.timeout(10):
                _present, rc = await conn.connack
            if rc:
                raise MqttProtocolError(f"connection refused: {CONNACK_CODES.get(rc, rc)}")
            codes = await self._request(conn, lambda pid: subscribe_packet(pid, self._filters()))
            if any(x & 0x80 for x in codes):
                raise MqttProtocolError("subscription refused")
            if main:
                state = self.state_topic.encode()
                await self._request(conn, lambda pid: publish_packet(state, b"online", 1, pid))
            conn.on_puback = self._on_puback
            # Publishes the broker never acknowledged (acks, commands) go again, as DUP.
            for pkt in list(self._out.values()):
                conn.write(bytes([pkt[0] | 0x08]) + pkt[1:])
            self._conns[k] = conn
            self.connected.set()
            self.metrics.set("kizashi_link_up", 1, link=self.name)
            log.info("mqtt link up", extra={"host": c.host, "port": c.port, "connection": k})
            await self._keepalive(conn)
        except asyncio.CancelledError:
            if main and conn.transport is not None:  # a clean stop: say so, then DISCONNECT
                self._conns[k] = None
                state = self.state_topic.encode()
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2.0):
                        await self._request(
                            conn, lambda pid: publish_packet(state, b"offline", 1, pid, True)
                        )
            with contextlib.suppress(Exception):
                conn.write(DISCONNECT)
            raise
        finally:
            conn.close()

    async def _keepalive(self, conn: _Connection) -> None:
        ka = max(1, self.config.keepalive)
        while not conn.closed.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ka / 2):
                    await asyncio.shield(conn.closed)
            if conn.closed.done():
                break
            if time.monotonic() - conn.last_rx > 1.5 * ka:
                conn.close()
                raise TimeoutError("mqtt keepalive timeout")
            conn.write(PINGREQ)
        raise ConnectionError("connection closed")

    # ---- send
    async def send(self, node_id: str, leaf: str, payload: bytes) -> None:
        conn = next((x for x in self._conns if x is not None), None)
        if conn is None:
            raise LinkDown("mqtt not connected")
        if len(self._out) >= MAX_OUT_INFLIGHT:  # broker not acknowledging: drop the oldest
            self._out.pop(next(iter(self._out)))
        pid = self._next_pid(conn)
        pkt = publish_packet(node_topic(node_id, leaf).encode(), payload, 1, pid)
        self._out[pid] = pkt
        conn.write(pkt)
        await conn.writable()
