"""The demo's simulated fleet, in a process of its own: `python -m kizashi.sim_fleet --fd N ...`.

`kizashi demo` (kizashi/demo.py) starts this module as a child process. Here the real firmware
Nodes run (firmware.host, which installs stand-in `machine`/`network`/`micropython` modules into
sys.modules: into this process only, never into the gateway's) on simulated machines, each with
a SerialTransport over a `ChildPort`. The serial bytes of every node travel over one socket
(a socketpair the parent made, fd N) as length-prefixed messages, the wire below:

    u32 length (big-endian) | u8 kind | body
    DATA  node -> gateway and gateway -> node: u8 len(node_id) | node_id | serial bytes
    TIME  child -> parent: f64 the fleet's simulated time (sim_now), every 20 ms and at the end
    STOP  parent -> child: stop, save every node's runtime counters to its flash, say BYE
    BYE   child -> parent: u32 node poll errors; the last message of a clean stop

The parent feeds DATA into its LoopbackLink ports, so the gateway reads them through the same
deframer and pipeline as a serial port. The child stops on STOP, on SIGTERM or when the socket
closes (the parent died); it ignores SIGINT: a Ctrl-C reaches the whole process group, and the
parent decides the order (fleet first, then the gateway's last commit).
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kizashi.demo_fleet import demo_assets

log = logging.getLogger("kizashi.sim_fleet")

DATA, TIME, STOP, BYE = b"D", b"T", b"S", b"B"
HEADER = struct.Struct("!I")
TIME_REPORT_S = 0.02  # wall seconds between TIME messages: the gateway's clock follows them


def message(kind: bytes, body: bytes = b"") -> bytes:
    return HEADER.pack(len(body) + 1) + kind + body


def data_message(node_id: str, data: bytes) -> bytes:
    nid = node_id.encode()
    return message(DATA, bytes([len(nid)]) + nid + data)


def split_data(body: bytes) -> tuple[str, bytes]:
    """(node_id, serial bytes) of a DATA body."""
    n = body[0]
    return body[1 : 1 + n].decode(), body[1 + n :]


class SimClock:
    """Simulated wall time: `speed` times faster than the wall clock from `start_s` (at wall time
    `wall0`) until it reaches the real time, then the wall clock. A pure function of its three
    numbers and the wall clock, so parent and child compute the same target."""

    def __init__(self, start_s: float, speed: float, wall0: float | None = None) -> None:
        self.start_s = start_s
        self.speed = speed
        self._wall0 = time.time() if wall0 is None else wall0

    def target(self) -> float:
        """Where simulated time should be now."""
        wall = time.time()
        return min(wall, self.start_s + (wall - self._wall0) * self.speed)

    def caught_up(self) -> bool:
        return self.target() >= time.time() - 1.0


class NodeClock:
    """The firmware's view of time (FakeClock interface) on the shared simulated clock.

    ticks_ms counts simulated milliseconds since the node's boot; wall_s is simulated Unix
    time, which the node learns through the gateway's time command like a real board.
    """

    _MASK = (1 << 30) - 1

    def __init__(self, boot_s: float) -> None:
        self.epoch_s = int(boot_s)
        self.ms = 0

    def ticks_ms(self) -> int:
        return self.ms & self._MASK

    def seconds(self) -> float:
        return self.ms / 1000.0

    def wall_s(self) -> int:
        return self.epoch_s + self.ms // 1000

    def advance(self, ms: int) -> None:
        self.ms += int(ms)

    def sleep_ms(self, ms: int) -> None:
        self.advance(ms)


class Channel:
    """The child's end of the socket: sends from the simulator's thread, reads in another."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._send_lock = threading.Lock()

    def send(self, data: bytes) -> None:
        with self._send_lock:
            self.sock.sendall(data)

    def recv(self) -> tuple[bytes, bytes] | None:
        """(kind, body) of the next message; None at the end of the stream."""
        head = self._exactly(HEADER.size)
        if head is None:
            return None
        body = self._exactly(HEADER.unpack(head)[0])
        if body is None or not body:
            return None
        return body[:1], body[1:]

    def _exactly(self, n: int) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)


class ChildPort:
    """A node's UART in this process (read/any/write): writes go to the parent as DATA, the
    parent's DATA for this node lands in `rx`."""

    def __init__(self, node_id: str, channel: Channel) -> None:
        self.node_id = node_id
        self.channel = channel
        self._rx = bytearray()
        self._lock = threading.Lock()

    def write(self, data: bytes) -> int:
        self.channel.send(data_message(self.node_id, bytes(data)))
        return len(data)

    def any(self) -> int:
        return len(self._rx)

    def read(self, n: int | None = None) -> bytes:
        with self._lock:
            take = len(self._rx) if n is None else min(n, len(self._rx))
            out = bytes(self._rx[:take])
            del self._rx[:take]
        return out

    def deliver(self, data: bytes) -> None:
        with self._lock:
            self._rx.extend(data)


class FleetSimulator:
    """Steps every simulated node in one thread, on the shared simulated clock.

    Nodes are polled when they ask to be (Node.poll returns its next wake-up), so a fleet
    of idle windows costs nothing between them.
    """

    def __init__(
        self,
        ports: dict[str, Any],
        data_dir: Path,
        nodes: int,
        clock: SimClock,
        origin: float,
    ) -> None:
        from firmware.host import make_node
        from firmware.transports.serial import SerialTransport

        clock_start = clock.start_s
        self.speed = clock.speed
        self.sim_now = clock_start
        self.clock = clock
        self.stop_event = threading.Event()
        self.nodes: list[Any] = []
        self.node_clocks: list[NodeClock] = []
        self.wake_at: list[float] = []
        self.errors = 0
        for spec in demo_assets(nodes):
            node_clock = NodeClock(clock_start)
            node = make_node(
                spec.node_id,
                spec.profile,
                SerialTransport(ports[spec.node_id]),
                node_clock,
                str(data_dir / "nodes" / spec.node_id),
                # Machines keep ageing across demo restarts: simulated time since the origin.
                age_days=spec.age_days + (clock_start - origin) / 86400.0,
                config=spec.node_config,
            )
            self.nodes.append(node)
            self.node_clocks.append(node_clock)
            self.wake_at.append(clock_start)

    def run(self, on_time: Any = None) -> None:
        """Until stop_event; `on_time(sim_now)` every TIME_REPORT_S wall seconds."""
        reported = 0.0
        while not self.stop_event.is_set():
            if on_time is not None and time.monotonic() - reported >= TIME_REPORT_S:
                reported = time.monotonic()
                on_time(self.sim_now)
            target = self.clock.target()
            due = min(self.wake_at)
            if due > target:
                # Nothing to do until simulated time reaches the next wake-up.
                self.sim_now = target
                wall_wait = (due - target) / (self.speed if not self.clock.caught_up() else 1)
                self.stop_event.wait(min(TIME_REPORT_S, max(0.001, wall_wait)))
                continue
            self.sim_now = due
            for i, node in enumerate(self.nodes):
                if self.wake_at[i] > due:
                    continue
                node_clock = self.node_clocks[i]
                node_clock.ms = int((due - node_clock.epoch_s) * 1000)
                try:
                    delay_ms = node.poll(node_clock.ticks_ms()) or 100
                except Exception:  # a crashed node must not stop the fleet; count it
                    self.errors += 1
                    log.exception("simulated node %s failed", node.node_id)
                    delay_ms = 1000
                self.wake_at[i] = due + max(10, min(int(delay_ms), 60_000)) / 1000.0

    def save_flash(self) -> None:
        """Every node's runtime counters to its flash, as a node does before a reboot: a
        resumed demo continues their runtime and starts where this one stopped."""
        for node, node_clock in zip(self.nodes, self.node_clocks, strict=True):
            try:
                node.rt.save(node_clock.ticks_ms())
            except Exception:
                self.errors += 1
                log.exception("simulated node %s: saving its counters failed", node.node_id)

    def now(self) -> float:
        return self.sim_now


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m kizashi.sim_fleet")
    p.add_argument("--fd", type=int, required=True, help="the socket shared with the parent")
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--nodes", type=int, required=True)
    p.add_argument("--start", type=float, required=True, help="simulated time at --wall0")
    p.add_argument("--speed", type=float, required=True)
    p.add_argument("--wall0", type=float, required=True, help="the parent's wall clock origin")
    p.add_argument("--origin", type=float, required=True, help="the demo's first simulated time")
    a = p.parse_args(list(argv))
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us, in its order
    channel = Channel(socket.socket(fileno=a.fd))
    ports = {spec.node_id: ChildPort(spec.node_id, channel) for spec in demo_assets(a.nodes)}
    sim = FleetSimulator(ports, a.data_dir, a.nodes, SimClock(a.start, a.speed, a.wall0), a.origin)
    signal.signal(signal.SIGTERM, lambda *_: sim.stop_event.set())

    def receive() -> None:
        while (msg := channel.recv()) is not None and msg[0] != STOP:
            kind, body = msg
            if kind == DATA:
                node_id, data = split_data(body)
                port = ports.get(node_id)
                if port is not None:
                    port.deliver(data)
        sim.stop_event.set()  # STOP, or the parent is gone

    threading.Thread(target=receive, name="fleet-channel", daemon=True).start()
    try:
        sim.run(on_time=lambda t: channel.send(message(TIME, struct.pack("!d", t))))
        sim.save_flash()
        channel.send(message(TIME, struct.pack("!d", sim.sim_now)))
        channel.send(message(BYE, struct.pack("!I", sim.errors)))
    except OSError as e:  # the parent closed the socket: nothing to tell it any more
        print(f"kizashi.sim_fleet: parent gone ({e}); flash saved", file=sys.stderr)
        sim.save_flash()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
