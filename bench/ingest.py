"""Ingest benchmark: simulated nodes -> real Mosquitto -> gateway pipeline -> SQLite -> acks.

    .venv/bin/python -m bench.ingest --json [--nodes 20] [--frames 4000] [--publishers 2]
        [--broker own|external] [--host H --port P] [--link native|aiomqtt] [--connections 1]
        [--app-window N] [--mqtt-window 100] [--limit-frames 40000] [--timeout 40]

By default the bench starts its own Mosquitto on a free loopback port with BROKER_TUNING (the
recommended gateway broker settings, also in deploy/mosquitto-gateway.conf) and stops it at the
end; `--broker external` uses --host/--port instead and changes nothing on that broker.

Publisher processes hold N simulated nodes. Each node encodes real report frames with
protocol.frames (before the clock starts), publishes them at QoS 1 over a lean asyncio MQTT
3.1.1 client (pipelined PUBLISH packets, at most `--mqtt-window` un-PUBACKed) and, like a real
node, keeps at most `--app-window` frames not yet released by a gateway ack; it answers
'resend' commands. Acks and commands are subscribed at QoS 0 (bench shortcut).

The gateway (this process) runs the real IngestPipeline + MQTT link (gateway.mqtt_native by
default, aiomqtt with --link aiomqtt) + SqliteStore (WAL, synchronous=FULL). frames_per_s =
bench frames / (start -> the last node has received the ack of its last frame).
limit_frames_per_s = the same kind of frames pushed through the same decode + pipeline + bulk
insert with no broker, measured in the same run while the publishers are idle. One JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import queue
import resource
import secrets
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack

from bench.mosquitto import PrivateBroker
from gateway.ingest import IngestPipeline, PipelineConfig
from gateway.links import FrameSink
from gateway.metrics import Metrics
from gateway.mqtt_link import MqttConfig, MqttLink
from gateway.mqtt_native import NativeMqttLink
from gateway.store.sqlite import SqliteStore
from protocol import frames, topics

# ---------------------------------------------------------------- minimal MQTT 3.1.1 client


def _varlen(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def connect_packet(client_id: str) -> bytes:
    body = _str("MQTT") + bytes([4, 0x02]) + struct.pack(">H", 60) + _str(client_id)
    return b"\x10" + _varlen(len(body)) + body


def subscribe_packet(pid: int, topic: str, qos: int = 0) -> bytes:
    body = struct.pack(">H", pid) + _str(topic) + bytes([qos])
    return b"\x82" + _varlen(len(body)) + body


def publish_packet(topic_b: bytes, pid: int, payload: bytes) -> bytes:
    body = topic_b + struct.pack(">H", pid) + payload
    return b"\x32" + _varlen(len(body)) + body


class Node:
    def __init__(self, node_id: str, n_frames: int, boot: int) -> None:
        self.node_id = node_id
        self.boot = boot
        now = int(time.time())
        self.frames = [
            frames.encode_report(
                node_id,
                boot,
                seq,
                now,
                1,
                0,
                3600 + seq,
                4,
                [0.1, 0.12, 0.09],
                [1.1 + (seq % 7) / 100, 0.9, 1.3],
                0.8,
                0.3,
                41.5,
            )
            for seq in range(n_frames)
        ]
        self.topic_b = _str(topics.node_topic(node_id, "data"))
        self.sent = 0  # next seq to send
        self.acked = -1  # highest seq released by a gateway ack
        self.pubacks = 0
        self.published = 0
        self.resends = 0
        self.pid = 0
        self.queue: list[int] = []  # seqs asked for again
        self.done_at = 0.0


class NodeClient(asyncio.Protocol):
    """A lean simulated node: QoS 1 publishes pipelined up to `mqtt_window` un-PUBACKed, at most
    `app_window` frames not yet released by a gateway ack; answers 'resend'. Every packet of a
    socket read is parsed in one pass and the window is refilled with one write."""

    def __init__(self, node: Node, app_window: int, mqtt_window: int) -> None:
        self.node = node
        self.app_window = app_window
        self.mqtt_window = mqtt_window
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.connected = asyncio.get_running_loop().create_future()
        self.done = asyncio.get_running_loop().create_future()
        self.running = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        n = self.node
        transport.write(
            connect_packet(n.node_id)
            + subscribe_packet(1, topics.node_topic(n.node_id, "ack"))
            + subscribe_packet(2, topics.node_topic(n.node_id, "cmd"))
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        for f in (self.connected, self.done):
            if not f.done():
                f.set_exception(exc or ConnectionError("closed"))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        n = len(buf)
        pos = 0
        node = self.node
        total = len(node.frames)
        while n - pos >= 2:
            first = buf[pos]
            i, length, shift = pos + 1, 0, 0
            while i < n:
                b = buf[i]
                i += 1
                length |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            else:
                break
            end = i + length
            if end > n:
                break
            kind = first >> 4
            if kind == 4:  # PUBACK
                node.pubacks += 1
            elif kind == 3:  # PUBLISH at QoS 0: an ack or a command
                tlen = (buf[i] << 8) | buf[i + 1]
                topic = bytes(buf[i + 2 : i + 2 + tlen])
                obj = msgpack.unpackb(bytes(buf[i + 2 + tlen : end]), raw=False)
                if topic.endswith(b"/ack"):
                    if obj[2] == node.boot and obj[3] > node.acked:
                        node.acked = obj[3]
                        if node.acked >= total - 1 and not self.done.done():
                            node.done_at = time.time()
                            self.done.set_result(None)
                elif obj[5] == "resend":
                    args = obj[6]
                    node.resends += 1
                    node.queue.extend(range(args["from"], min(args["to"], total - 1) + 1))
            elif kind == 2:  # CONNACK
                if buf[i + 1] != 0:
                    raise ConnectionError("CONNACK refused")
                if not self.connected.done():
                    self.connected.set_result(None)
            pos = end
        del buf[:pos]
        self.pump()

    def pump(self) -> None:
        if not self.running or self.transport is None or self.done.done():
            return
        node = self.node
        total = len(node.frames)
        chunk = []
        while node.published - node.pubacks < self.mqtt_window:
            if node.queue:
                seq = node.queue.pop(0)
            elif node.sent < total and node.sent - node.acked <= self.app_window:
                seq = node.sent
                node.sent += 1
            else:
                break
            node.pid = node.pid % 65535 + 1
            chunk.append(publish_packet(node.topic_b, node.pid, node.frames[seq]))
            node.published += 1
        if chunk:
            self.transport.write(b"".join(chunk))


def publisher(
    node_ids: list[str],
    boot: int,
    n_frames: int,
    host: str,
    port: int,
    app_window: int,
    mqtt_window: int,
    ready: Any,
    start: Any,
    out: Any,
    timeout: float,
) -> None:
    nodes = [Node(n, n_frames, boot) for n in node_ids]  # encoding happens before the clock
    result: dict[str, Any] = {"error": None, "cpu_s": 0.0}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        clients: list[NodeClient] = []
        try:
            for n in nodes:
                c = NodeClient(n, app_window, mqtt_window)
                await loop.create_connection(lambda c=c: c, host, port)  # type: ignore[misc]
                clients.append(c)
            await asyncio.wait_for(asyncio.gather(*(c.connected for c in clients)), 10)
            await asyncio.sleep(0.2)  # subscriptions settle
        finally:
            ready.put(len(clients))
        while not start.is_set():
            await asyncio.sleep(0.005)
        cpu0 = time.process_time()
        for c in clients:
            c.running = True
            c.pump()
        # Resend requests need no push: every received ack/command refills the windows.
        try:
            await asyncio.wait_for(asyncio.gather(*(c.done for c in clients)), timeout)
        except (TimeoutError, ConnectionError) as e:
            result["error"] = repr(e)
        result["cpu_s"] = time.process_time() - cpu0
        for c in clients:
            if c.transport is not None:
                c.transport.write(b"\xe0\x00")  # DISCONNECT
                c.transport.close()
        await asyncio.sleep(0.05)

    try:
        asyncio.run(main())
    except Exception as e:  # report what we have, never leave the parent waiting
        result["error"] = repr(e)
    out.put(
        {
            "published": sum(n.published for n in nodes),
            "acked_frames": sum(n.acked + 1 for n in nodes),
            "resends": sum(n.resends for n in nodes),
            "complete": all(n.done_at for n in nodes),
            "last_ack_at": max((n.done_at for n in nodes), default=0.0),
            "error": result["error"],
            "cpu_s": result["cpu_s"],
        }
    )


# ---------------------------------------------------------------- the limit (no broker)


class _NullLink:
    """Acks and commands of the limit run go nowhere (no broker)."""

    name = "null"

    async def run(self, sink: FrameSink) -> None:
        await asyncio.Event().wait()

    async def send(self, node_id: str, leaf: str, payload: bytes) -> None:
        return None


def measure_limit(workdir: Path, n: int) -> float:
    """The same frames through decode + pipeline + SQLite batch commits, no broker."""
    now = int(time.time())
    per = 1000
    payloads = [
        frames.encode_report(
            f"lim{i % 20}",
            1,
            i // 20,
            now,
            1,
            0,
            3600,
            4,
            [0.1, 0.1, 0.1],
            [1.0, 1.0, 1.0],
            0.8,
            0.3,
            40.0,
        )
        for i in range(n)
    ]
    store = SqliteStore(workdir / "limit.db")
    pipe = IngestPipeline(store, Metrics(), PipelineConfig(batch_max=per))
    pipe.add_link(_NullLink())

    async def run() -> float:
        # The same loop as the gateway: intake continues while a commit runs in its thread.
        task = asyncio.create_task(pipe.run())
        await asyncio.sleep(0)
        t0 = time.perf_counter()
        for i in range(0, n, per):
            for p in payloads[i : i + per]:
                pipe.submit(p, "null")
            await asyncio.sleep(0)
        while pipe.stored < n:
            await asyncio.sleep(0.001)
        rate = n / (time.perf_counter() - t0)
        pipe.stop()
        await task
        return rate

    rate = asyncio.run(run())
    store.close()
    return rate


# ---------------------------------------------------------------- the broker

# The recommended gateway broker settings (deploy/mosquitto-gateway.conf carries the same
# tuning for production). Mosquitto's defaults let 20 QoS 1 messages be in flight to the gateway
# and queue 1000 more, then drop: a single busy gateway connection overflows that queue.
BROKER_TUNING = """\
max_inflight_messages 1000
max_queued_messages 100000
max_queued_bytes 0
set_tcp_nodelay true
"""


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process (Linux), 0.0 if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


BROKER_PID: list[int] = []


@contextlib.contextmanager
def own_broker(workdir: Path) -> Iterator[int]:
    """A private Mosquitto on a free loopback port with BROKER_TUNING; stopped afterwards."""
    broker = PrivateBroker(workdir, "allow_anonymous true\n" + BROKER_TUNING).start()
    try:
        assert broker.proc is not None
        BROKER_PID[:] = [broker.proc.pid]
        yield broker.port
    finally:
        BROKER_PID.clear()
        broker.stop()


# ---------------------------------------------------------------- the gateway side


async def gateway(
    args: argparse.Namespace,
    workdir: Path,
    port: int,
    node_ids: list[str],
    boot: int,
    start: Any,
    out: Any,
    n_pub: int,
) -> dict[str, Any]:
    # The commit thread holds the GIL while SQLite binds rows; a short switch interval keeps
    # the MQTT reader's round trips short. `gateway run` does too.
    sys.setswitchinterval(0.0005)
    store = SqliteStore(workdir / "gateway.db")
    metrics = Metrics()
    pipe = IngestPipeline(store, metrics, PipelineConfig())
    mcfg = MqttConfig(host=args.host, port=port, client_id="kizashi-bench-gateway")
    link: MqttLink | NativeMqttLink
    if args.link == "aiomqtt":
        link = MqttLink(mcfg, metrics)
    else:
        link = NativeMqttLink(mcfg, metrics, connections=args.connections)
    pipe.add_link(link)
    ptask = asyncio.create_task(pipe.run(), name="pipeline")
    ltask = asyncio.create_task(link.run(pipe), name="link:mqtt")
    await asyncio.wait_for(link.connected.wait(), 10)
    await asyncio.sleep(0.3)  # let stale queued messages of an old session drain
    total = len(node_ids) * args.frames
    cpu0 = time.process_time()
    bcpu0 = sum(proc_cpu_s(p) for p in BROKER_PID)
    t0 = time.time()
    start.set()
    # Done = every node has received the ack of its last frame (the publishers report).
    pubs: list[dict[str, Any]] = []
    for _ in range(n_pub):
        try:
            pubs.append(await asyncio.to_thread(out.get, True, args.timeout + 5))
        except queue.Empty:
            break
    cpu = time.process_time() - cpu0
    bcpu = sum(proc_cpu_s(p) for p in BROKER_PID) - bcpu0
    complete = len(pubs) == n_pub and all(p["complete"] for p in pubs)
    t1 = max((p["last_ack_at"] for p in pubs), default=0.0) if complete else time.time()
    ltask.cancel()
    await asyncio.gather(ltask, return_exceptions=True)
    pipe.stop()
    await ptask
    stored = sum(
        r[0]
        for r in store._q(  # bench: count rows directly
            "SELECT count(*) FROM frames WHERE boot_id = ?", (boot,)
        )
    )
    store.close()
    elapsed = t1 - t0
    return {
        "complete": complete,
        "elapsed_s": round(elapsed, 3),
        "frames": total,
        "stored": stored,
        "frames_per_s": round((total if complete else stored) / elapsed, 1),
        "gateway_cpu_s": round(cpu, 2),
        "publishers_cpu_s": round(sum(p["cpu_s"] for p in pubs), 2),
        "broker_cpu_s": round(bcpu, 2) if BROKER_PID else None,
        "gaps": metrics.total("kizashi_seq_gaps_total"),
        "duplicates": metrics.total("kizashi_frames_duplicate_total"),
        "resend_requests": metrics.total("kizashi_resend_requests_total"),
        "batches": pipe.committed_batches,
        "commit_s": round(
            sum(h[-2] for h in metrics._hist.get("kizashi_store_commit_seconds", {}).values()), 2
        ),
        "mqtt_received": link.received,
        "published": sum(p["published"] for p in pubs),
        "node_acked_frames": sum(p["acked_frames"] for p in pubs),
        "publisher_errors": [p["error"] for p in pubs if p["error"]],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.ingest")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--broker",
        choices=("own", "external"),
        default="own",
        help="own: a private tuned mosquitto on a free port (default); external: --host/--port",
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883, help="external broker port")
    ap.add_argument("--link", choices=("native", "aiomqtt"), default="native")
    ap.add_argument("--connections", type=int, default=1, help="native link connections")
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--frames", type=int, default=4000, help="frames per node")
    ap.add_argument("--publishers", type=int, default=2, help="publisher processes")
    ap.add_argument(
        "--app-window",
        type=int,
        default=None,
        help="unacked frames a node keeps (default 400 with the own broker; with an external"
        " broker 900/nodes, so all nodes together stay under Mosquitto's default queue of 1000)",
    )
    ap.add_argument("--mqtt-window", type=int, default=100, help="unPUBACKed publishes")
    ap.add_argument("--limit-frames", type=int, default=40000)
    ap.add_argument("--timeout", type=float, default=40.0)
    args = ap.parse_args(argv)
    if args.app_window is None:
        args.app_window = 400 if args.broker == "own" else max(5, 900 // args.nodes)
    run_id = secrets.token_hex(3)
    boot = int(time.time()) & 0xFFFFFF
    node_ids = [f"bench{run_id}-{i}" for i in range(args.nodes)]
    ctx = mp.get_context("fork")
    ready, out, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    groups = [g for g in (node_ids[i :: args.publishers] for i in range(args.publishers)) if g]
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kz-bench-")))
        port = stack.enter_context(own_broker(workdir)) if args.broker == "own" else args.port
        procs = [
            ctx.Process(
                target=publisher,
                args=(
                    g,
                    boot,
                    args.frames,
                    args.host,
                    port,
                    args.app_window,
                    args.mqtt_window,
                    ready,
                    start,
                    out,
                    args.timeout,
                ),
                daemon=True,
            )
            for g in groups
        ]
        for p in procs:
            p.start()
        try:
            # Publishers encode their frames first; the limit is measured once they are idle.
            for _ in procs:
                ready.get(True, 60)
            limit = measure_limit(workdir, args.limit_frames)
            result = asyncio.run(
                gateway(args, workdir, port, node_ids, boot, start, out, len(procs))
            )
        finally:
            for p in procs:
                p.join(5)
                if p.is_alive():
                    p.terminate()
                    p.join(2)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    line = {
        "frames_per_s": result["frames_per_s"],
        "limit_frames_per_s": round(limit, 1),
        "ratio": round(result["frames_per_s"] / limit, 3) if limit else None,
        "rss_mb": round(rss_mb, 1),
        **{k: v for k, v in result.items() if k != "frames_per_s"},
        "nodes": args.nodes,
        "publishers": len(procs),
        "app_window": args.app_window,
        "qos": 1,
        "link": args.link if args.link == "aiomqtt" else f"native x{args.connections}",
        "cpus": os.cpu_count(),
        "broker": f"{'own tuned' if args.broker == 'own' else 'external'} {args.host}:{port}",
        "store": "sqlite wal synchronous=FULL",
    }
    if args.json:
        print(json.dumps(line))
    else:
        for k, v in line.items():
            print(f"{k:>20}: {v}")
    return 0 if result["complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
