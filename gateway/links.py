"""The transport interface, and the in-process loopback link for simulated nodes.

A transport is a `Link`: it has a unique `name`, a long-running `run(sink)` that hands every
received payload to `sink.submit(payload, self.name, node_hint)`, and `send(node_id, leaf,
payload)` that delivers an ack or command payload ("ack" / "cmd") to a node. The pipeline
routes acks and commands to the link that last delivered a frame from that node.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from gateway.metrics import REGISTRY, Metrics
from gateway.wire import Deframer, encode_serial

__all__ = ["FrameSink", "Link", "LoopbackLink", "LoopbackPort"]


class FrameSink(Protocol):
    def submit(self, raw: bytes, source: str, node_hint: str | None = None) -> bool: ...


@runtime_checkable
class Link(Protocol):
    name: str

    async def run(self, sink: FrameSink) -> None:
        """Receive until cancelled; reconnect on failure by itself."""
        ...

    async def send(self, node_id: str, leaf: str, payload: bytes) -> None:
        """Deliver one ack/cmd payload to a node; raise if the link is down."""
        ...


class LoopbackPort:
    """The node's end of a loopback link: behaves like a UART carrying serial-framed bytes.

    `write(data)` sends bytes towards the gateway (any thread); `read()` returns the bytes the
    gateway sent (acks/commands, serial-framed), `read_payloads()` the same, deframed.
    `on_data`, if set, is called with each chunk the gateway sends (in the gateway's loop).
    """

    def __init__(self, link: LoopbackLink, node_id: str) -> None:
        self.link = link
        self.node_id = node_id
        self.deframer = Deframer()  # gateway side deframer of this port's byte stream
        self._rx = bytearray()
        self._rx_lock = threading.Lock()
        self._rx_event = asyncio.Event()
        self.on_data: Callable[[bytes], None] | None = None

    # node side
    def write(self, data: bytes) -> int:
        self.link._node_wrote(self, bytes(data))
        return len(data)

    def any(self) -> int:
        return len(self._rx)

    def read(self, n: int | None = None) -> bytes:
        """Up to `n` bytes (all when None), like machine.UART.read."""
        with self._rx_lock:
            take = len(self._rx) if n is None else min(n, len(self._rx))
            out = bytes(self._rx[:take])
            del self._rx[:take]
            if not self._rx:
                self._rx_event.clear()
        return out

    def read_payloads(self) -> list[bytes]:
        return self._node_deframer.feed(self.read())

    async def wait_data(self, timeout: float) -> bool:
        """Wait (in the gateway's loop) until the gateway has sent something."""
        if self._rx:
            return True
        try:
            async with asyncio.timeout(timeout):
                await self._rx_event.wait()
        except TimeoutError:
            return False
        return True

    @property
    def _node_deframer(self) -> Deframer:
        d = getattr(self, "_ndf", None)
        if d is None:
            d = Deframer()
            self._ndf = d
        return d

    # gateway side
    def _deliver(self, data: bytes) -> None:
        with self._rx_lock:
            self._rx.extend(data)
        self._rx_event.set()
        if self.on_data is not None:
            self.on_data(data)


class LoopbackLink:
    """In-process transport: simulated nodes write serial-framed bytes; same path as serial."""

    def __init__(self, name: str = "loopback", metrics: Metrics | None = None) -> None:
        self.name = name
        self.metrics = metrics or REGISTRY
        self.ports: dict[str, LoopbackPort] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sink: FrameSink | None = None
        self._early: deque[tuple[LoopbackPort, bytes]] = deque()
        self._lock = threading.Lock()

    def port(self, node_id: str) -> LoopbackPort:
        """The (one) port of a simulated node, created on first use."""
        with self._lock:
            p = self.ports.get(node_id)
            if p is None:
                p = self.ports[node_id] = LoopbackPort(self, node_id)
            return p

    def _node_wrote(self, port: LoopbackPort, data: bytes) -> None:
        loop = self._loop
        if loop is None:
            with self._lock:
                self._early.append((port, data))
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._feed(port, data)
        else:
            loop.call_soon_threadsafe(self._feed, port, data)

    def _feed(self, port: LoopbackPort, data: bytes) -> None:
        sink = self._sink
        if sink is None:
            self._early.append((port, data))
            return
        before = dict(port.deframer.rejected)
        for payload in port.deframer.feed(data):
            sink.submit(payload, self.name, None)
        for reason, n in port.deframer.rejected.items():
            if n > before.get(reason, 0):
                self.metrics.inc(
                    "kizashi_serial_rejected_total", n - before.get(reason, 0), reason=reason
                )

    async def run(self, sink: FrameSink) -> None:
        self._sink = sink
        self._loop = asyncio.get_running_loop()
        self.metrics.set("kizashi_link_up", 1, link=self.name)
        with self._lock:
            early = list(self._early)
            self._early.clear()
        for port, data in early:
            self._feed(port, data)
        try:
            await asyncio.Event().wait()  # until cancelled
        finally:
            self.metrics.set("kizashi_link_up", 0, link=self.name)
            self._loop = None

    async def send(self, node_id: str, leaf: str, payload: bytes) -> None:
        self.port(node_id)._deliver(encode_serial(payload))
