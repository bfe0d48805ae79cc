"""Serial transport: any number of ports, each read by a blocking thread (pyserial).

Bytes are COBS + CRC-32 framed (protocol.serial_framing). A port that disappears (unplug) is
closed and reopened every `reopen_s` until it is back; the deframer is reset so a partial frame
from before the unplug is counted as truncated, not glued to the next one.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import serial

from gateway.links import FrameSink
from gateway.logs import RateLimitedLog
from gateway.metrics import REGISTRY, Metrics
from gateway.wire import Deframer, encode_serial

log = logging.getLogger(__name__)
_open_log = RateLimitedLog(log, interval=60.0)

__all__ = ["SerialLink"]


class SerialLink:
    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        metrics: Metrics | None = None,
        reopen_s: float = 1.0,
        allowed_nodes: tuple[str, ...] = (),
    ) -> None:
        self.port = port
        # The node ids this port is wired to ([[serial]] nodes): the pipeline refuses frames of
        # any other node from it (`unbound_node`). Empty: any node (a warning at start).
        self.allowed_nodes = allowed_nodes
        self.baudrate = baudrate
        self.name = "serial:" + port
        self.metrics = metrics or REGISTRY
        self.reopen_s = reopen_s
        self.deframer = Deframer()
        self.opens = 0
        self._ser: Any = None
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self.connected = threading.Event()

    def _open(self) -> Any:
        return serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=0.2)

    def _reader(self, loop: asyncio.AbstractEventLoop, sink: FrameSink) -> None:
        while not self._stop.is_set():
            try:
                ser = self._open()
            except (serial.SerialException, OSError) as e:
                # A missing or unreadable port must be seen: WARNING (once a minute per
                # port), a counter, and kizashi_link_up 0 (the health check reads the link).
                self.metrics.set("kizashi_link_up", 0, link=self.name)
                self.metrics.inc("kizashi_serial_open_failures_total", link=self.name)
                _open_log.warning(
                    self.port, "serial port cannot be opened", port=self.port, error=str(e)
                )
                self._stop.wait(self.reopen_s)
                continue
            self.opens += 1
            self._ser = ser
            self.connected.set()
            self.metrics.set("kizashi_link_up", 1, link=self.name)
            self.metrics.inc("kizashi_link_reconnects_total", link=self.name)
            log.info("serial port open", extra={"port": self.port})
            try:
                while not self._stop.is_set():
                    data = ser.read(max(1, min(4096, ser.in_waiting)))
                    if not data:
                        continue
                    before = dict(self.deframer.rejected)
                    payloads = self.deframer.feed(data)
                    for reason, n in self.deframer.rejected.items():
                        if n > before.get(reason, 0):
                            self.metrics.inc(
                                "kizashi_serial_rejected_total",
                                n - before.get(reason, 0),
                                reason=reason,
                            )
                    for p in payloads:
                        loop.call_soon_threadsafe(sink.submit, p, self.name, None)
            except (serial.SerialException, OSError) as e:
                log.warning("serial port lost", extra={"port": self.port, "error": str(e)})
            except RuntimeError:  # the loop closed under us: shutting down
                return
            finally:
                self.connected.clear()
                self.metrics.set("kizashi_link_up", 0, link=self.name)
                self._ser = None
                self.deframer.reset()
                try:
                    ser.close()
                except Exception as e:
                    log.debug("close failed", extra={"error": repr(e)})
            self._stop.wait(self.reopen_s)

    async def run(self, sink: FrameSink) -> None:
        loop = asyncio.get_running_loop()
        self._stop.clear()
        thread = threading.Thread(
            target=self._reader, args=(loop, sink), name=self.name, daemon=True
        )
        thread.start()
        try:
            await asyncio.Event().wait()
        finally:
            self._stop.set()
            await asyncio.to_thread(thread.join, 2.0)

    def _write(self, data: bytes) -> None:
        ser = self._ser
        if ser is None:
            raise ConnectionError(self.port + " not open")
        with self._write_lock:
            ser.write(data)

    async def send(self, node_id: str, leaf: str, payload: bytes) -> None:
        await asyncio.to_thread(self._write, encode_serial(payload))
