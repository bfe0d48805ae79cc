"""The bench side of the serial link: a minimal gateway (deframe, decode, store once, ack the
highest contiguous seq per boot) with noise injection on its read and write paths.

A reader thread pumps the port; tests wait on conditions over the accepted frames. Every
accepted payload is kept as bytes, so a test can check that a (boot, seq) received twice was
byte-identical and, on the virtual board, that it is one the board really sent.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import serial

from protocol import frames
from protocol.errors import ProtocolError
from protocol.serial_framing import Deframer, encode_frame


class Noise:
    """Byte-stream corruption: independent bit flips (bit error rate) and dropped bytes."""

    def __init__(self, ber: float = 0.0, drop: float = 0.0, seed: int = 1) -> None:
        self.ber = ber
        self.drop = drop
        self.rng = random.Random(seed)
        self.flipped = 0
        self.dropped = 0

    def apply(self, data: bytes) -> bytes:
        out = bytearray()
        rng = self.rng
        for b in data:
            if self.drop and rng.random() < self.drop:
                self.dropped += 1
                continue
            if self.ber:
                for bit in range(8):
                    if rng.random() < self.ber:
                        b ^= 1 << bit
                        self.flipped += 1
            out.append(b)
        return bytes(out)


@dataclass
class Rx:
    """One accepted frame."""

    frame: dict[str, Any]
    payload: bytes
    wall: float
    duplicate: bool


@dataclass
class BenchStats:
    accepted: int = 0
    duplicates: int = 0
    dup_mismatch: int = 0  # same (boot, seq), different bytes: must stay 0
    undecodable: int = 0  # CRC passed but the frame did not decode: must stay 0
    acks_sent: int = 0
    reopen: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


class Bench:
    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.port: str | None = None
        self.ser: serial.Serial | None = None
        self.deframer = Deframer()
        self.rx: list[Rx] = []
        self.store: dict[tuple[int, int], bytes] = {}
        self.contig: dict[int, int] = {}  # boot -> highest contiguous seq stored
        self.stats = BenchStats()
        self.auto_ack = True
        self.reading = True
        self.discard = False  # read the line but throw everything away (gateway down)
        self.sent: list[bytes] = []  # every payload the bench meant to send (before noise)
        self.noise_rx: Noise | None = None
        self.noise_tx: Noise | None = None
        self.cmd_id = random.Random().randrange(1000, 1_000_000)
        # Gap recovery, as the gateway does it: 'resend' with the protocol's args
        # {boot, from, to}; if the node refuses that form, fall back to a bare 'resend'.
        self.resend_every = 1.0  # wall seconds between resend requests while a gap persists
        self.resend_form = "protocol"
        self.resend_refused: str | None = None
        self.resends_sent = 0
        self._resend_ids: set[int] = set()
        self._last_resend = 0.0
        self._unplug = threading.Event()
        self.port_lost = threading.Event()  # the open port failed (unplug, board reset)
        self._last_zero = False
        self.cond = threading.Condition()
        self._wlock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ port

    def open(self, port: str, timeout: float = 10.0) -> None:
        self.port = port
        deadline = time.monotonic() + timeout
        while True:
            try:
                ser = serial.Serial(port, 115200, timeout=0.02, write_timeout=1.0)
                break
            except (serial.SerialException, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with self._wlock:
            self.ser = ser
        self.port_lost.clear()
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._pump, daemon=True)
            self._thread.start()

    def close_port(self) -> None:
        """Unplug: the port goes away, a partial frame in the deframer with it."""
        with self._wlock:
            ser, self.ser = self.ser, None
        if ser is not None:
            ser.close()
        with self.cond:
            self.deframer.reset()
        self.stats.reopen += 1

    def shutdown(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self.close_port()

    # ------------------------------------------------------------ receive

    def _pump(self) -> None:
        while not self._stop.is_set():
            ser = self.ser
            if ser is None or not self.reading:
                time.sleep(0.005)
                continue
            try:
                n = ser.in_waiting
                data = ser.read(n if n else 1)
            except (serial.SerialException, OSError, TypeError, AttributeError):
                if ser is self.ser:
                    self.port_lost.set()
                time.sleep(0.02)  # port closed under us (unplug, board reboot)
                continue
            if data and not self.discard:
                if self._unplug.is_set():
                    data = self._cut_mid_frame(data)
                    if data is None:
                        continue
                self.feed(data)
                if self._unplug.is_set() and self.ser is None:
                    self._unplug.clear()
            self._maybe_resend()

    def feed(self, data: bytes) -> None:
        if self.noise_rx is not None:
            data = self.noise_rx.apply(data)
        if data:
            self._last_zero = data[-1] == 0
        acks: dict[int, int] = {}
        with self.cond:
            for payload in self.deframer.feed(data):
                try:
                    f = frames.decode(payload)
                except ProtocolError as e:
                    self.stats.undecodable += 1
                    self.stats.rejected["decode:" + e.reason] = (
                        self.stats.rejected.get("decode:" + e.reason, 0) + 1
                    )
                    continue
                if f["node"] != self.node_id:
                    self.stats.undecodable += 1
                    continue
                key = (f["boot"], f["seq"])
                dup = key in self.store
                if dup:
                    self.stats.duplicates += 1
                    if self.store[key] != payload:
                        self.stats.dup_mismatch += 1
                else:
                    self.store[key] = payload
                    c = self.contig.get(f["boot"], -1)
                    while (f["boot"], c + 1) in self.store:
                        c += 1
                    self.contig[f["boot"]] = c
                self.stats.accepted += 1
                self.rx.append(Rx(f, payload, time.monotonic(), dup))
                if (
                    f["kind"] == "event"
                    and f["code"] == "cmd_refused"
                    and f["detail"].get("cmd") in self._resend_ids
                    and self.resend_form == "protocol"
                ):
                    self.resend_refused = str(f["detail"].get("why"))
                    self.resend_form = "bare"
                if self.contig.get(f["boot"], -1) >= 0:
                    acks[f["boot"]] = self.contig[f["boot"]]
            self.stats.rejected.update(
                {k: v for k, v in self.deframer.rejected.items() if not k.startswith("decode:")}
            )
            self.cond.notify_all()
        if self.auto_ack:
            for boot, seq in acks.items():
                self.ack(boot, seq)

    def _cut_mid_frame(self, data: bytes) -> bytes | None:
        """Feed `data` up to two bytes into a frame body, then unplug (the rest is lost)."""
        prev0 = self._last_zero
        if self.deframer._buf and data[0] != 0:
            j = -1  # already inside a frame: cut at once
        else:
            j = None
            for i, b in enumerate(data):
                if b != 0 and prev0:
                    j = i
                    break
                prev0 = b == 0
            if j is None:
                return data
        part = data[: j + 2]
        if 0 in part[max(j, 0) :]:
            return data  # the frame ends right here: try the next chunk
        self.feed(part)
        self.close_port()
        self._unplug.clear()
        return None

    def unplug_mid_frame(self, timeout: float) -> bool:
        """Pull the cable while a frame is half received; True once done."""
        self._unplug.set()
        deadline = time.monotonic() + timeout
        while self._unplug.is_set() and time.monotonic() < deadline:
            time.sleep(0.002)
        done = not self._unplug.is_set()
        self._unplug.clear()
        return done

    def gaps(self) -> dict[int, tuple[int, int]]:
        """boot -> (first missing seq, last missing seq before the newest stored)."""
        out = {}
        with self.cond:
            for boot in {b for b, _ in self.store}:
                c = self.contig.get(boot, -1)
                newest = max(s for b, s in self.store if b == boot)
                if newest > c + 1:
                    last = c + 1
                    while (boot, last + 1) not in self.store and last + 1 < newest:
                        last += 1
                    out[boot] = (c + 1, last)
        return out

    def _maybe_resend(self) -> None:
        if not self.auto_ack or self.ser is None:
            return
        now = time.monotonic()
        if now - self._last_resend < self.resend_every:
            return
        gaps = self.gaps()
        if not gaps:
            return
        self._last_resend = now
        boot, (first, last) = min(gaps.items())
        if self.resend_form == "protocol":
            cid = self.command("resend", {"boot": boot, "from": first, "to": last})
        else:
            cid = self.command("resend", {})
        self._resend_ids.add(cid)
        self.resends_sent += 1

    # ------------------------------------------------------------ send

    def write(self, data: bytes) -> bool:
        if self.noise_tx is not None:
            data = self.noise_tx.apply(data)
        with self._wlock:
            if self.ser is None:
                return False
            try:
                self.ser.write(data)
                return True
            except (serial.SerialException, OSError):
                return False

    def ack(self, boot: int, seq: int) -> None:
        payload = frames.encode_ack(self.node_id, boot, seq, int(time.time()))
        self.sent.append(payload)
        if self.write(encode_frame(payload)):
            self.stats.acks_sent += 1

    def command(
        self, name: str, args: dict[str, Any], *, node: str | None = None, boot: int = 0
    ) -> int:
        self.cmd_id += 1
        payload = frames.encode_command(
            node or self.node_id, boot, self.cmd_id, int(time.time()), name, args
        )
        self.sent.append(payload)
        self.write(encode_frame(payload))
        return self.cmd_id

    def send_payload(self, payload: bytes) -> None:
        self.sent.append(payload)
        self.write(encode_frame(payload))

    # ------------------------------------------------------------ queries

    def mark(self) -> int:
        with self.cond:
            return len(self.rx)

    def since(self, mark: int, kind: str | None = None, dup: bool = False) -> list[dict[str, Any]]:
        with self.cond:
            out = [r.frame for r in self.rx[mark:] if dup or not r.duplicate]
        return [f for f in out if kind is None or f["kind"] == kind]

    def wait(self, pred: Callable[[list[Rx]], Any], timeout: float, what: str = "condition") -> Any:
        """Wait until pred(all accepted frames) is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                v = pred(self.rx)
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")
                self.cond.wait(min(left, 0.1))

    def wait_frame(
        self, mark: int, match: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        def pred(rx: list[Rx]) -> dict[str, Any] | None:
            for r in rx[mark:]:
                if match(r.frame):
                    return r.frame
            return None

        f: dict[str, Any] = self.wait(pred, timeout, what)
        return f

    def wait_reports(self, mark: int, n: int, timeout: float) -> list[dict[str, Any]]:
        def pred(rx: list[Rx]) -> list[dict[str, Any]] | None:
            reps = [r.frame for r in rx[mark:] if r.frame["kind"] == "report" and not r.duplicate]
            return reps if len(reps) >= n else None

        reps: list[dict[str, Any]] = self.wait(pred, timeout, f"{n} reports")
        return reps

    def wait_answer(self, mark: int, cmd_id: int, timeout: float) -> dict[str, Any]:
        """The cmd_ok / cmd_refused event answering command `cmd_id`."""
        return self.wait_frame(
            mark,
            lambda f: (
                f["kind"] == "event"
                and f["code"] in ("cmd_ok", "cmd_refused")
                and f["detail"].get("cmd") == cmd_id
            ),
            timeout,
            f"answer to command {cmd_id}",
        )
