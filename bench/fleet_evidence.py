"""What the fleet prior's evidence costs the centre: `fleet_evidence` (gateway/outlook/
evidence.py) over a centre-sized PostgreSQL store. Prints one JSON object.

    nice -n 10 .venv/bin/python -m bench.fleet_evidence [--assets 20000] [--days 60]
        [--events 300000] [--warnings 300] [--schema NAME] [--keep]

The store is a fresh PostgreSQL schema made by `PostgresStore` (the real schema and indexes),
filled server-side with INSERT ... SELECT generate_series (the API would take far longer for
tens of millions of rows): --assets assets of 20 per site with one bearing each, --days of
hourly rows each in arrival order (hour by hour across the fleet, as the centre's appliers
write them), running 16 hours a day (the other 8 with a zero running fraction and a standing
counter), every 50th asset stopped throughout (no running hour); every 10th asset's part
replaced 20 days before the end and every 25th failed 40 days before (parts fitted
mid-history); --events events of the site gateways' usual kinds, --warnings of them the
health monitor's `baseline_change` warnings (spread over the ids, a sixth of them without a
reason: the old detector's, which the evidence leaves out). --schema reuses a schema an
earlier --keep run filled (same figures, no fill); without --keep the schema is dropped.

Each variant runs in its own process (so its peak RSS is its own), over the same store:
- `evidence`: `fleet_evidence(store, now)`, what the prior's publisher calls every hour;
- `whole`: the same evidence read whole, as dbcb0fa did: every event from id 0 in chunks of
  5000 with its detail decoded, every asset's hourly array since its part's fitting
  (`part_histories`) and `running_ages` over it.
- `lives` (not by default): the rest of the prior's fit for comparison, the completed lives
  `FleetForecaster.ended_lives` reads from the service log and the hourly history.
For each: wall seconds, CPU seconds of the process and of its PostgreSQL backend, peak RSS of
the process and what the call added to it, and a digest of the result (both must agree).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from gateway.analytics import FleetForecaster, WarningSeen
from gateway.outlook import evidence as ev
from gateway.store.api import ServiceEntry
from gateway.store.postgres import PostgresStore

PG_URL = os.environ.get("KIZASHI_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parents[1]
CODES = ("report_gap", "node_online", "node_offline", "zone_change", "node_boot", "clock_step")


def fill(st: PostgresStore, assets: int, days: int, events: int, warnings: int) -> float:
    """Fill the empty schema of `st`; returns `now` (the end of the hourly history)."""
    hours = days * 24
    h0 = int((time.time() - days * 86400) // 3600 * 3600)
    now = float(h0 + hours * 3600)
    aid = "'AS-' || lpad(a::text, 5, '0')"
    q = st._q
    with st._lock, st._transaction():
        q(
            f"INSERT INTO assets (asset_id, site, machine, node_id, machine_group)"
            f" SELECT {aid}, 'site-' || (a / 20), 'Pump ' || a, 'nd-' || lpad(a::text, 5, '0'),"
            f" 'group2_rigid' FROM generate_series(0, ?) a",
            (assets - 1,),
        )
        q(
            f"INSERT INTO parts (asset_id, part_id, name, part_number, rated_l10_h,"
            f" lead_time_days) SELECT {aid}, 'brg', 'Drive-end bearing', '6205-2RS', 30000, 5"
            f" FROM generate_series(0, ?) a",
            (assets - 1,),
        )
        # Without the key while filling: one index build afterwards beats 10^7 inserts into it.
        q("ALTER TABLE hourly DROP CONSTRAINT hourly_pkey")
        run_h = "LEAST(GREATEST(mod(k, 24) - 5, 0), 16)"  # running hours so far today (06-22 h)
        stopped = "mod(a, 50) = 7"
        q(
            "INSERT INTO hourly (asset_id, hour, n, s_vel_x, s_vel_y, s_vel_z, max_vel,"
            " s_acc_x, s_acc_y, s_acc_z, max_peak, s_kurt, s_temp, n_temp, runtime_s, starts,"
            f" n_running) SELECT {aid}, ? + 3600 * k, 120, 180.0, 192.0, 204.0, 2.0 + mod(a, 7),"
            " 36000.0, 37200.0, 38400.0, 900.0, 360.0, 4800.0, 120,"
            f" CASE WHEN {stopped} THEN 9000000 + a"
            f" ELSE 9000000 + a + 3600 * (16 * (k / 24) + {run_h}) END, 1000 + k / 24,"
            f" CASE WHEN {stopped} OR mod(k, 24) < 6 OR mod(k, 24) >= 22 THEN 0 ELSE 120 END"
            " FROM generate_series(0, ?) k CROSS JOIN generate_series(0, ?) a ORDER BY k, a",
            (h0, hours - 1, assets - 1),
        )
        q("ALTER TABLE hourly ADD PRIMARY KEY (asset_id, hour)")
        every = max(1, events // max(1, warnings))
        codes = ", ".join(f"'{c}'" for c in CODES)
        # Warnings spread over the ids and the assets; every sixth without a reason (the old
        # detector's, left out of the evidence).
        q(
            "INSERT INTO events (ts, node_id, source, code, detail)"
            " SELECT ? + i * ?, 'nd-' || lpad(mod(i, ?)::text, 5, '0'), 'gateway',"
            f" CASE WHEN mod(i, ?) = 0 THEN 'baseline_change' ELSE (ARRAY[{codes}])"
            "[1 + mod(i, 6)] END,"
            " CASE WHEN mod(i, ?) = 0 THEN json_build_object("
            " 'asset', 'AS-' || lpad(mod(i / ? * 7919, ?)::text, 5, '0'),"
            " 'reason', CASE WHEN mod(i / ?, 6) = 5 THEN '' ELSE 'kurtosis' END,"
            " 'channel', 'kurt', 'ratio', 1.9, 'runtime_s', 9000000 + mod(i, 500000),"
            " 'held_running_h', 6)::text"
            " ELSE json_build_object('asset', 'AS-' || lpad(mod(i, ?)::text, 5, '0'),"
            " 'gap_s', mod(i, 900), 'seq_from', i, 'seq_to', i + 3, 'note', 'frames lost')::text"
            " END FROM generate_series(0, ?) i",
            (h0, hours * 3600 / max(1, events), assets, every, every, every, assets, every,
             assets, events - 1),
        )  # fmt: skip
        q("INSERT INTO meta (key, value) VALUES ('bench_now', ?)", (repr(now),))
    day = time.strftime("%Y-%m-%d", time.gmtime(now - 20 * 86400))
    day_f = time.strftime("%Y-%m-%d", time.gmtime(now - 40 * 86400))
    for a in range(0, assets, 10):
        st.add_service_entry(ServiceEntry(f"AS-{a:05d}", day, "replacement", "brg"))
    for a in range(0, assets, 25):
        st.add_service_entry(ServiceEntry(f"AS-{a:05d}", day_f, "failure", "brg"))
    with st._lock:
        q("ANALYZE")
    return now


def whole_evidence(
    store: PostgresStore, now: float
) -> tuple[dict[str, list[WarningSeen]], dict[str, float]]:
    """The evidence read whole, as `fleet_evidence` did at dbcb0fa: every event decoded,
    every hourly row of every current part read into its array."""
    assets = store.assets()
    service: dict[str, list[ServiceEntry]] = {}
    for s in store.service_log():
        service.setdefault(s.asset_id, []).append(s)
    node_asset = {a.node_id: a.asset_id for a in assets if a.node_id}
    warnings: dict[str, list[WarningSeen]] = {}
    mark = 0
    while events := store.events_after(mark, 5000):
        for e in events:
            if e.code == ev.WARNING_CODE and e.detail.get("reason"):
                aid = str(e.detail.get("asset") or node_asset.get(e.node_id, e.node_id))
                warnings.setdefault(aid, []).append(WarningSeen.from_event(e.ts, e.detail))
        mark = events[-1].event_id
    ages: dict[str, float] = {}
    for i in range(0, len(assets), ev.BATCH):
        since = ev.part_starts(assets[i : i + ev.BATCH], service, now)
        ages.update(ev.running_ages(ev.part_histories(store, since, now)))
    return warnings, ages


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(schema_name: str, variant: str) -> dict[str, Any]:
    st = PostgresStore(PG_URL, schema_name)
    try:
        with st._lock:
            now = float(st._q("SELECT value FROM meta WHERE key = 'bench_now'")[0][0])
            backend = int(st._q("SELECT pg_backend_pid()")[0][0])
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        b0, c0, t0 = _cpu(backend), time.process_time(), time.perf_counter()
        warnings: dict[str, list[WarningSeen]]
        ages: dict[str, float]
        if variant == "lives":
            lives = FleetForecaster(st, refit_s=0.0, clock=lambda: now).ended_lives()
            warnings, ages = {}, {str(i): lf.life_s for i, lf in enumerate(lives)}
        else:
            evidence = ev.fleet_evidence if variant == "evidence" else whole_evidence
            warnings, ages = evidence(st, now)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        backend_cpu = _cpu(backend) - b0
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        st.close()
    result = json.dumps(
        [
            sorted((k, [repr(w) for w in ws]) for k, ws in warnings.items()),
            sorted((k, repr(v)) for k, v in ages.items()),
        ]
    )
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "db_backend_cpu_s": round(backend_cpu, 2),
        "peak_rss_mb": round(rss1 / 1024),
        "rss_added_mb": round((rss1 - rss0) / 1024),
        "warned_assets": len(warnings),
        "warnings": sum(len(ws) for ws in warnings.values()),
        "assets_aged": len(ages),
        "running_parts": sum(1 for v in ages.values() if v > 3600.0),
        "digest": hashlib.sha256(result.encode()).hexdigest()[:16],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--assets", type=int, default=20000)
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--events", type=int, default=300000)
    p.add_argument("--warnings", type=int, default=300)
    p.add_argument("--schema", help="reuse this filled schema (made by an earlier --keep run)")
    p.add_argument("--keep", action="store_true", help="keep the schema (prints its name)")
    p.add_argument("--variants", default="evidence,whole", help="of: evidence, whole, lives")
    p.add_argument("--measure", help=argparse.SUPPRESS)  # a child: one variant
    a = p.parse_args()
    if a.measure:
        assert a.schema
        print(json.dumps(measure(a.schema, a.measure)))
        return
    name = a.schema or "kz_bench_ev_" + uuid.uuid4().hex[:10]
    out: dict[str, Any] = {"schema": name}
    st = PostgresStore(PG_URL, name)
    try:
        if not a.schema:
            t0 = time.perf_counter()
            fill(st, a.assets, a.days, a.events, a.warnings)
            out["fill_s"] = round(time.perf_counter() - t0, 1)
        with st._lock:
            n_hourly, n_events, n_assets = st._q(
                "SELECT (SELECT count(*) FROM hourly), (SELECT count(*) FROM events),"
                " (SELECT count(*) FROM assets)"
            )[0]
            size = st._q("SELECT pg_total_relation_size('hourly')")[0][0]
        out["data"] = {"assets": n_assets, "hourly_rows": n_hourly, "events": n_events,
                       "hourly_mb": round(size / 2**20)}  # fmt: skip
        variants = [v for v in a.variants.split(",") if v]  # none: fill only (with --keep)
        for variant in variants:
            child = subprocess.run(
                [sys.executable, "-m", "bench.fleet_evidence", "--schema", name,
                 "--measure", variant],
                cwd=ROOT, capture_output=True, text=True, check=True,
            )  # fmt: skip
            out[variant] = json.loads(child.stdout)
        # the two reads of the evidence must give the same evidence
        out["same_result"] = len({out[v]["digest"] for v in variants if v != "lives"}) <= 1
    finally:
        if not a.keep:
            st.drop_schema()
        st.close()
    print(json.dumps(out, indent=1))
    if not out.get("same_result", True):
        sys.exit(1)


if __name__ == "__main__":
    main()
