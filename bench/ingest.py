"""Ingest benchmark: simulated nodes -> real Mosquitto -> gateway pipeline -> SQLite -> acks.

    .venv/bin/python -m bench.ingest --json [--nodes 20] [--frames 4000] [--publishers 2]

Publisher processes hold N simulated nodes. Each node encodes real report frames with
protocol.frames (before the clock starts), publishes them at QoS 1 over a minimal pure-Python
MQTT 3.1.1 client (pipelined PUBLISH packets, a window of unacknowledged PUBACKs) and, like a
real node, keeps at most `--app-window` frames not yet released by a gateway ack; it answers
'resend' commands. Acks and commands are subscribed at QoS 0 (bench shortcut).

The gateway (this process) runs the real IngestPipeline + MqttLink (aiomqtt) + SqliteStore
(WAL, synchronous=FULL). frames_per_s = bench frames / (start -> the pipeline has committed
and acked the last one). limit_frames_per_s = the same kind of frames pushed through the same
decode + pipeline + bulk insert with no broker, measured in the same run. One JSON line out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import resource
import secrets
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack

from gateway.ingest import IngestPipeline, PipelineConfig
from gateway.metrics import Metrics
from gateway.mqtt_link import MqttConfig, MqttLink
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


async def run_node(
    node: Node, host: str, port: int, app_window: int, mqtt_window: int, start: Any, deadline: float
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(connect_packet(node.node_id))
    writer.write(subscribe_packet(1, topics.node_topic(node.node_id, "ack")))
    writer.write(subscribe_packet(2, topics.node_topic(node.node_id, "cmd")))
    await writer.drain()
    hdr = await reader.readexactly(4)
    assert hdr[0] == 0x20 and hdr[3] == 0, "CONNACK refused"
    wake = asyncio.Event()
    total = len(node.frames)

    async def read_loop() -> None:
        while True:
            first = (await reader.readexactly(1))[0]
            mult, n = 1, 0
            while True:
                b = (await reader.readexactly(1))[0]
                n += (b & 0x7F) * mult
                mult *= 128
                if not b & 0x80:
                    break
            body = await reader.readexactly(n) if n else b""
            kind = first >> 4
            if kind == 4:  # PUBACK
                node.pubacks += 1
                wake.set()
            elif kind == 3:  # PUBLISH at QoS 0: an ack or a command
                tlen = struct.unpack(">H", body[:2])[0]
                topic = body[2 : 2 + tlen].decode()
                obj = msgpack.unpackb(body[2 + tlen :], raw=False)
                if topic.endswith("/ack"):
                    if obj[2] == node.boot and obj[3] > node.acked:
                        node.acked = obj[3]
                        if node.acked >= total - 1:
                            node.done_at = time.time()
                            return
                        wake.set()
                elif obj[5] == "resend":
                    args = obj[6]
                    node.resends += 1
                    node.queue.extend(range(args["from"], min(args["to"], total - 1) + 1))
                    wake.set()

    rtask = asyncio.create_task(read_loop())
    while not start.is_set():
        await asyncio.sleep(0.005)
    try:
        while not rtask.done() and time.time() < deadline:
            chunk = []
            while node.published - node.pubacks < mqtt_window:
                if node.queue:
                    seq = node.queue.pop(0)
                elif node.sent < total and node.sent - node.acked <= app_window:
                    seq = node.sent
                    node.sent += 1
                else:
                    break
                node.pid = node.pid % 65535 + 1
                chunk.append(publish_packet(node.topic_b, node.pid, node.frames[seq]))
                node.published += 1
            if chunk:
                writer.write(b"".join(chunk))
                await writer.drain()
            wake.clear()
            if not rtask.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), 0.5)
    finally:
        rtask.cancel()
        writer.write(b"\xe0\x00")  # DISCONNECT
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()


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

    async def main() -> None:
        deadline = time.time() + timeout
        tasks = [
            asyncio.create_task(run_node(n, host, port, app_window, mqtt_window, start, deadline))
            for n in nodes
        ]
        await asyncio.sleep(0.2)
        ready.put(len(nodes))
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    out.put(
        {
            "published": sum(n.published for n in nodes),
            "acked_frames": sum(n.acked + 1 for n in nodes),
            "resends": sum(n.resends for n in nodes),
            "last_ack_at": max(n.done_at for n in nodes),
        }
    )


# ---------------------------------------------------------------- the limit (no broker)


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

    async def run() -> float:
        # The same loop as the gateway: intake continues while a commit runs in its thread.
        task = asyncio.create_task(pipe.run())
        await asyncio.sleep(0)
        t0 = time.perf_counter()
        for i in range(0, n, per):
            for p in payloads[i : i + per]:
                pipe.submit(p, "bench")
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


# ---------------------------------------------------------------- the gateway side


async def gateway(
    args: argparse.Namespace,
    workdir: Path,
    node_ids: list[str],
    boot: int,
    ready: Any,
    start: Any,
    n_pub: int,
) -> dict[str, Any]:
    # The commit thread holds the GIL while SQLite binds rows; a short switch interval keeps
    # the MQTT reader's round trips (20 in flight from Mosquitto) short. `gateway run` does too.
    sys.setswitchinterval(0.0005)
    store = SqliteStore(workdir / "gateway.db")
    metrics = Metrics()
    pipe = IngestPipeline(store, metrics, PipelineConfig())
    link = MqttLink(
        MqttConfig(host=args.host, port=args.port, client_id="kizashi-bench-gateway"), metrics
    )
    pipe.add_link(link)
    ptask = asyncio.create_task(pipe.run(), name="pipeline")
    ltask = asyncio.create_task(link.run(pipe), name="link:mqtt")
    await asyncio.wait_for(link.connected.wait(), 10)
    got = 0
    while got < n_pub:
        got += 1 if await asyncio.to_thread(ready.get, True, 30) else 0
    await asyncio.sleep(0.3)  # let stale queued messages of an old session drain
    total = len(node_ids) * args.frames
    t0 = time.time()
    start.set()
    keys = [(n, boot) for n in node_ids]
    deadline = t0 + args.timeout
    t1 = None
    while time.time() < deadline:
        acked = sum((pipe.trackers[k].acked + 1) if k in pipe.trackers else 0 for k in keys)
        if acked >= total:
            t1 = time.time()
            break
        await asyncio.sleep(0.005)
    stored = sum(1 for _ in keys)  # placeholder, replaced below
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
    elapsed = (t1 or time.time()) - t0
    return {
        "complete": t1 is not None,
        "elapsed_s": round(elapsed, 3),
        "frames": total,
        "stored": stored,
        "frames_per_s": round((total if t1 else stored) / elapsed, 1),
        "gaps": metrics.total("kizashi_seq_gaps_total"),
        "duplicates": metrics.total("kizashi_frames_duplicate_total"),
        "resend_requests": metrics.total("kizashi_resend_requests_total"),
        "batches": pipe.committed_batches,
        "mqtt_received": link.received,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.ingest")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--frames", type=int, default=4000, help="frames per node")
    ap.add_argument("--publishers", type=int, default=2, help="publisher processes")
    ap.add_argument("--app-window", type=int, default=400, help="unacked frames a node keeps")
    ap.add_argument("--mqtt-window", type=int, default=100, help="unPUBACKed publishes")
    ap.add_argument("--limit-frames", type=int, default=40000)
    ap.add_argument("--timeout", type=float, default=40.0)
    args = ap.parse_args(argv)
    run_id = secrets.token_hex(3)
    boot = int(time.time()) & 0xFFFFFF
    node_ids = [f"bench{run_id}-{i}" for i in range(args.nodes)]
    ctx = mp.get_context("fork")
    ready, out, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    groups = [node_ids[i :: args.publishers] for i in range(args.publishers)]
    procs = [
        ctx.Process(
            target=publisher,
            args=(
                g,
                boot,
                args.frames,
                args.host,
                args.port,
                args.app_window,
                args.mqtt_window,
                ready,
                start,
                out,
                args.timeout + 10,
            ),
            daemon=True,
        )
        for g in groups
        if g
    ]
    with tempfile.TemporaryDirectory(prefix="kz-bench-") as tmp:
        workdir = Path(tmp)
        for p in procs:
            p.start()
        limit = measure_limit(workdir, args.limit_frames)
        result = asyncio.run(gateway(args, workdir, node_ids, boot, ready, start, len(procs)))
        pubs = []
        for _ in procs:
            try:
                pubs.append(out.get(timeout=15))
            except Exception:
                break
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.terminate()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    line = {
        "frames_per_s": result["frames_per_s"],
        "limit_frames_per_s": round(limit, 1),
        "ratio": round(result["frames_per_s"] / limit, 3) if limit else None,
        "rss_mb": round(rss_mb, 1),
        **{k: v for k, v in result.items() if k != "frames_per_s"},
        "nodes": args.nodes,
        "publishers": len(procs),
        "qos": 1,
        "published": sum(p["published"] for p in pubs),
        "node_acked_frames": sum(p["acked_frames"] for p in pubs),
        "cpus": os.cpu_count(),
        "broker": f"{args.host}:{args.port}",
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
