"""Commands from the centre to the sites: how fast the outbox drains through the real engines.
Prints one JSON line.

    .venv/bin/python -m bench.fleet_commands [--sites 20] [--commands 25] [--timeout 300]

`--sites` site gateways (real SQLite stores, one asset each) with their CommandReceivers, one
CommandSender over a fresh PostgreSQL schema (the centre's outbox, dropped at the end), a
private Mosquitto on a free port, everything in one asyncio loop. `--commands` service entries
per site are queued before the clock starts: the backlog a site finds after an outage.
commands_per_s = all commands / (start -> every command answered); the latency figures are
per command from its queueing to its answer at the centre (so they include the wait behind the
site's earlier commands: one is in flight per site, in order). `applied_once` checks that each
site holds exactly its commands' entries.
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
from gateway.store.api import Asset
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SqliteStore
from gateway.uplink.commands import CommandReceiver, CommandSender
from gateway.uplink.config import UplinkConfig
from gateway.uplink.site_commands import SiteCommands

PG_URL = os.environ.get("KIZASHI_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else 0.0


async def _run(args: argparse.Namespace, work: Path, central: PostgresStore) -> dict[str, Any]:
    broker = PrivateBroker(work, "allow_anonymous true\nmax_queued_messages 10000\n").start()
    sites = {}
    try:
        cfg = UplinkConfig(enabled=True, port=broker.port, ack_timeout_s=10, backoff_max_s=10)
        origins = [f"gw-{i:03d}" for i in range(args.sites)]
        for o in origins:
            st = SqliteStore(work / f"{o}.db", synchronous="NORMAL")
            st.upsert_asset(Asset(f"{o}-pump", f"site-{o}", "pump"))
            sites[o] = st
        receivers = [
            CommandReceiver(o, cfg, SiteCommands(sites[o], work / o, work / o / "secrets"))
            for o in origins
        ]
        tasks = [asyncio.create_task(r.run()) for r in receivers]
        await asyncio.wait_for(
            asyncio.gather(*(r.connected.wait() for r in receivers)), args.timeout
        )
        for k in range(args.commands):
            for o in origins:
                entry = {"asset_id": f"{o}-pump", "kind": "inspection", "finding": f"bench {k}"}
                central.queue_fleet_command(o, "service_add", entry)
        sender = CommandSender(central, origins, cfg, poll_s=0.2)
        t0 = time.monotonic()
        tasks.append(asyncio.create_task(sender.run()))
        end = t0 + args.timeout
        while time.monotonic() < end and central.pending_fleet_heads():
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - t0
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        cmds = central.fleet_commands(limit=10**6)
        lat = [c.answered - c.created for c in cmds if c.answered is not None]
        total = args.sites * args.commands
        once = all(len(st.service_log()) == args.commands for st in sites.values())
        return {
            "sites": args.sites,
            "commands": total,
            "done": sum(1 for c in cmds if c.state == "done"),
            "complete": not central.pending_fleet_heads(),
            "applied_once": once,
            "seconds": round(elapsed, 2),
            "commands_per_s": round(total / elapsed, 1),
            "latency_p50_s": round(_pct(lat, 0.5), 3),
            "latency_p95_s": round(_pct(lat, 0.95), 3),
            "sends": sender.sent,
        }
    finally:
        for st in sites.values():
            st.close()
        broker.kill()


def main() -> None:
    ap = argparse.ArgumentParser(prog="bench.fleet_commands", description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=20)
    ap.add_argument("--commands", type=int, default=25, help="per site")
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()
    central = PostgresStore(PG_URL, "kz_bench_fcmd_" + uuid.uuid4().hex[:10])
    try:
        with tempfile.TemporaryDirectory(prefix="kz-bench-fcmd-") as tmp:
            out = asyncio.run(_run(args, Path(tmp), central))
    finally:
        central.drop_schema()
        central.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
