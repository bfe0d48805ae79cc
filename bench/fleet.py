"""Fleet uplink benchmark: site gateways' stores -> forwarders -> real Mosquitto -> the central
applier -> PostgreSQL. Prints one JSON line.

    .venv/bin/python -m bench.fleet [--sites 10] [--nodes 20] [--reports 60] [--batch 1000]

Each site is a real SQLite store holding `--reports` reports per node (30 s apart) committed
before the clock starts: the backlog a site builds during an outage. All forwarders then start
at once (one asyncio loop, as many MQTT clients as sites) against a private Mosquitto on a free
port, and one CentralApplier applies into a fresh PostgreSQL schema (dropped at the end).
frames_per_s = frames / (start -> the centre holds every frame); lag_s_per_outage_hour_100_sites
= the time this rate needs for the frames 100 sites of `--nodes` nodes send in an hour (a report
every 30 s): an estimate from the measured rate, not a run of that size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.mosquitto import PrivateBroker
from gateway.store.api import Asset, FrameRecord, WriteBatch
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SqliteStore
from gateway.uplink.central import CentralApplier
from gateway.uplink.config import UplinkConfig
from gateway.uplink.forwarder import Forwarder

PG_URL = os.environ.get("KIZASHI_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _report(node: str, seq: int, ts: float) -> FrameRecord:
    return FrameRecord(
        node, 1, seq, "report", int(ts), ts + 0.5, ts, b"\x91\x01", 1, 0, 1000 + seq, 3,
        (100, 200, 300), (150, 300, 450), 900, 300, 415,
    )  # fmt: skip


def _fill(path: Path, site: str, nodes: int, reports: int, t0: float) -> int:
    st = SqliteStore(path, synchronous="NORMAL")
    ids = [f"{site}-n{i:02d}" for i in range(nodes)]
    for n in ids:
        st.upsert_asset(Asset(f"{n}-asset", site, "pump", n))
    for seq in range(reports):
        st.write_batch(WriteBatch(frames=[_report(n, seq, t0 + seq * 30) for n in ids]))
    st.close()
    return nodes * reports


async def _run(args: argparse.Namespace, work: Path, central: PostgresStore) -> dict[str, Any]:
    broker = PrivateBroker(work, "allow_anonymous true\nmax_queued_messages 10000\n").start()
    try:
        cfg = UplinkConfig(enabled=True, port=broker.port, batch=args.batch, poll_s=0.05,
                           ack_timeout_s=30, state_every_s=60)  # fmt: skip
        origins = {f"gw-{i:04d}": f"customer-{i % 7}" for i in range(args.sites)}
        t0 = time.time() - args.reports * 30
        total = 0
        for i, origin in enumerate(origins):
            total += _fill(work / f"{origin}.db", f"site-{i:04d}", args.nodes, args.reports, t0)
        sites = [SqliteStore(work / f"{o}.db") for o in origins]
        applier = CentralApplier(central, origins, cfg)
        tasks = [asyncio.create_task(applier.run())]
        await asyncio.wait_for(applier.connected.wait(), 10)
        start = time.perf_counter()
        tasks += [
            asyncio.create_task(Forwarder(s, o, cfg).run())
            for o, s in zip(origins, sites, strict=True)
        ]

        end = time.monotonic() + args.timeout
        marks = {o: s.frames_after(0, 10**9)[-1][0] for o, s in zip(origins, sites, strict=True)}
        while time.monotonic() < end:
            done = await asyncio.to_thread(
                lambda: all(central.uplink_mark(o, "frames") >= m for o, m in marks.items())
            )
            if done:
                break
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - start
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with central._lock:
            at_centre = int(central._q("SELECT count(*) FROM frames")[0][0])
        for s in sites:
            s.close()
        rate = at_centre / elapsed
        hour_100 = 100 * args.nodes * 120
        return {
            "sites": args.sites,
            "nodes_per_site": args.nodes,
            "frames": total,
            "frames_at_centre": at_centre,
            "complete": at_centre == total,
            "seconds": round(elapsed, 2),
            "frames_per_s": round(rate),
            "lag_s_per_outage_hour_100_sites": round(hour_100 / rate, 1),
            "batch": args.batch,
            "cpu_count": os.cpu_count(),
        }
    finally:
        broker.kill()


def main() -> None:
    ap = argparse.ArgumentParser(prog="bench.fleet", description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=10)
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--reports", type=int, default=60, help="per node, 30 s apart")
    ap.add_argument("--batch", type=int, default=1000, help="rows per uplink message")
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()
    central = PostgresStore(PG_URL, "kz_bench_fleet_" + uuid.uuid4().hex[:10])
    try:
        with tempfile.TemporaryDirectory(prefix="kizashi-bench-fleet-") as tmp:
            out = asyncio.run(_run(args, Path(tmp), central))
    finally:
        central.drop_schema()
        central.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
