"""Shared harness: results, private brokers, gateway processes, firmware nodes over MQTT."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.mosquitto import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    key: str
    title: str
    passed: bool
    pass_line: str  # the criterion, stated before measuring
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "passed": self.passed,
            "pass_line": self.pass_line,
            "figures": self.figures,
            "notes": self.notes,
            "seconds": round(self.seconds, 1),
        }


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    i = min(len(v) - 1, max(0, round(q / 100.0 * (len(v) - 1))))
    return v[i]


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="kz-faults-" + prefix + "-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- gateway process


class Gateway:
    """`kizashi gateway run` in its own process (SIGKILL-able), SQLite in `wd`."""

    def __init__(
        self,
        wd: Path,
        mqtt_port: int,
        username: str | None = None,
        password: str | None = None,
        http: bool = True,
        pipeline: dict[str, Any] | None = None,
    ) -> None:
        self.wd = wd
        self.db = wd / "kizashi.db"
        self.http_port = free_port() if http else 0
        self.cfg = wd / "gateway.toml"
        lines = [
            "[gateway]",
            'id = "gwf"',
            f'data_dir = "{wd}"',
            f'database = "{self.db}"',
            'log_level = "WARNING"',
            "[mqtt]",
            'host = "127.0.0.1"',
            f"port = {mqtt_port}",
            'client_id = "kizashi-gateway-faults"',
            "keepalive = 5",
        ]
        if username:
            lines += [f'username = "{username}"', f'password = "{password}"']
        lines += ["[http]", f"enabled = {'true' if http else 'false'}"]
        if http:
            lines += ['host = "127.0.0.1"', f"port = {self.http_port}", "threads = 2"]
        if pipeline:
            lines.append("[pipeline]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in pipeline.items()]
        lines += ["[web]", 'SECRET_KEY = "faults"']
        self.cfg.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.stderr = wd / "gateway.stderr"

    def start(self, wait_http: bool = True) -> Gateway:
        code = "import sys; from kizashi.cli import main; sys.exit(main(sys.argv[1:]))"
        args = [sys.executable, "-c", code, "gateway", "run", "--config", str(self.cfg)]
        if not self.http_port:
            args.append("--no-http")
        err = self.stderr.open("ab")
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        self.starts += 1
        if wait_http and self.http_port:
            end = time.monotonic() + 30
            while time.monotonic() < end:
                if self.proc.poll() is not None:
                    raise RuntimeError("gateway exited: " + self.stderr_tail())
                try:
                    socket.create_connection(("127.0.0.1", self.http_port), 0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def stderr_tail(self) -> str:
        try:
            return self.stderr.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def metrics(self) -> dict[str, float]:
        """Prometheus text from /metrics -> {'name{labels}': value}."""
        out: dict[str, float] = {}
        url = f"http://127.0.0.1:{self.http_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            k, _, v = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[k] = float(v)
        return out


def metric_sum(m: dict[str, float], name: str) -> float:
    return sum(v for k, v in m.items() if k == name or k.startswith(name + "{"))


def db_frames(db: Path) -> list[tuple[str, int, int]]:
    con = sqlite3.connect(db, timeout=30)
    try:
        return [(r[0], r[1], r[2]) for r in con.execute("SELECT node_id, boot_id, seq FROM frames")]
    finally:
        con.close()


def integrity(db: Path) -> str:
    con = sqlite3.connect(db, timeout=30)
    try:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()


# ---------------------------------------------------------------- firmware nodes over MQTT


class MpSocket:
    """A CPython socket with the MicroPython stream methods umqtt uses (read/write)."""

    def __init__(self) -> None:
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._blocking = True

    def settimeout(self, t: float | None) -> None:
        self._blocking = True
        self.s.settimeout(t)

    def setblocking(self, flag: bool) -> None:
        self._blocking = flag
        self.s.setblocking(flag)

    def connect(self, addr: Any) -> None:
        self.s.connect(addr)

    def close(self) -> None:
        self.s.close()

    def write(self, data: bytes) -> int:
        self.s.sendall(data)
        return len(data)

    def read(self, n: int) -> bytes | None:
        """MicroPython stream read: blocking -> up to n bytes (short only at EOF/timeout);
        non-blocking -> what is there, None if nothing."""
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.s.recv(n - len(buf))
            except BlockingIOError:
                return buf or None
            except TimeoutError:
                return buf
            if not chunk:
                return buf
            buf += chunk
            if not self._blocking:
                break
        return buf


class MpSocketModule:
    @staticmethod
    def getaddrinfo(host: str, port: int) -> list[Any]:
        return socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)

    @staticmethod
    def socket() -> MpSocket:
        return MpSocket()


NODE_CONFIG = {
    "window": 256,
    "window_s": 1,
    "report_s": 1,
    "alarm_report_s": 1,
    "ack_timeout_s": 5,
    "send_burst": 16,
    "ring_ram": 64,
    "ring_seg_frames": 32,
    "ring_segs": 64,
}


class FwNode:
    """The unchanged firmware Node (firmware.host.make_node) with its real MqttTransport and
    umqtt client over a real loopback socket. Records every ack it receives."""

    def __init__(
        self,
        node_id: str,
        port: int,
        clock: Any,
        fs: Any,
        user: str | None = None,
        password: str | None = None,
        config: dict[str, Any] | None = None,
        seed: int = 1,
    ) -> None:
        from firmware.host import make_node
        from firmware.transports.mqtt import MqttTransport
        from firmware.transports.umqtt import MQTTClient
        from protocol import frames

        outer = self
        self.acked: dict[int, int] = {}  # boot -> highest seq acked

        class Transport(MqttTransport):  # type: ignore[misc]
            def _on_msg(self, topic: bytes, msg: bytes) -> None:
                try:
                    f = frames.decode(bytes(msg))
                    if f["kind"] == "ack":
                        b = f["boot"]
                        outer.acked[b] = max(outer.acked.get(b, -1), f["seq"])
                except Exception:
                    pass
                super()._on_msg(topic, msg)

        def factory() -> Any:
            return MQTTClient(
                node_id,
                "127.0.0.1",
                port,
                user,
                password,
                keepalive=60,
                socket_timeout=3,
                socket_mod=MpSocketModule,
            )

        self.node_id = node_id
        self.transport = Transport(node_id, factory, None, seed)
        self.transport.name = "mqtt"
        self.node = make_node(
            node_id, "healthy", self.transport, clock, fs, config=config or NODE_CONFIG
        )
        self.boots: dict[int, int] = {}  # boot -> highest seq created

    def poll(self, now: int) -> int:
        d: int = self.node.poll(now)
        self.boots[self.node.boot_id] = self.node.seq
        return d

    def created(self) -> set[tuple[str, int, int]]:
        return {(self.node_id, b, s) for b, top in self.boots.items() for s in range(top + 1)}

    def acked_set(self) -> set[tuple[str, int, int]]:
        return {(self.node_id, b, s) for b, top in self.acked.items() for s in range(top + 1)}


class NodeRunner:
    """Polls many FwNodes round-robin in one thread on a shared real-time clock."""

    def __init__(self, nodes: list[FwNode], clock: Any) -> None:
        self.nodes = nodes
        self.clock = clock
        self._stop = threading.Event()
        self.producing = True
        self.errors = 0
        self.thread = threading.Thread(target=self._run, name="fwnodes", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = 50
            for n in self.nodes:
                try:
                    wait = min(wait, n.poll(self.clock.ticks_ms()))
                except Exception:
                    self.errors += 1
            time.sleep(max(0.002, wait / 1000.0))

    def start(self) -> NodeRunner:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(10)
        for n in self.nodes:
            c = n.transport.client
            if c is not None:
                with contextlib.suppress(Exception):
                    c.close()


def stop_reports(nodes: list[FwNode]) -> None:
    """Stop creating new frames (reports/windows far in the future); sending continues."""
    from firmware.clock import ticks_add

    for n in nodes:
        nd = n.node
        far = ticks_add(nd._prev_now or 0, 10**8)
        nd._next_window = far
        nd._next_report = far


def wait_until(pred: Any, timeout: float, step: float = 0.25) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


def rng(seed: int | None = None) -> random.Random:
    return random.Random(seed if seed is not None else int(os.environ.get("KZ_FAULT_SEED", "7")))
