"""Fleet scale benchmark: 1,000 sites of 20 nodes (20,000 nodes) forwarding into the central
fleet server through its broker, into PostgreSQL. Prints one JSON object.

    .venv/bin/python -m bench.fleet [--quick] [--sites 1000] [--nodes 20] [--lanes 4]
        [--steady-s 60] [--load-x 5.25] [--load-s 90] [--outage-sites 100] [--runs 20]
        [--pin [--centre-cpu 1]]

Real parts: a private Mosquitto on a free port, the fleet server as its own process
(`kizashi fleet run --no-http` with `[fleet] appliers = --lanes`) on a fresh PostgreSQL schema
(dropped at the end), and the sites' real uplink forwarders (gateway/uplink/forwarder.py: the
real wire format, one message in flight, the centre's answer moves the mark). A site is
simulated by its forwarder over an in-memory log of its committed frames (`SimSite`), not by
a full gateway: its nodes' reports appear in the log at their report times (each node every
30 s / the load factor, phases spread) and the forwarder sends them (`--poll-s`, `--batch`).

Phases (every figure is measured, none estimated):
1. registry: every site sends its state (sites, 20 assets with parts and outlooks, nodes).
2. steady: every node reports every 30 s (667 frames/s for 20,000 nodes) for --steady-s.
3. load: every node reports --load-x times as often (5.25x = 3,500 frames/s) for --load-s;
   `frames_per_s` is what the centre applied per second over the phase's second half, and
   `kept_up` says the backlog at the sites did not grow over it.
4. outage: --outage-sites sites lose the link; an hour of their reports (120 per node) is
   committed at the sites; the link comes back while every other site goes on at the steady
   rate: `catch_up_s` is the time until the centre holds every frame those sites committed.
5. page: overview p95 through the real Flask app (the fleet role, kizashi.app.fleet_app) over
   the central PostgreSQL store with every site's assets, response caches emptied first.
End-to-end latency: a frame's `recv_time` at the centre (when it was applied) minus its `ts`
(when its site committed it; one clock here), over the frames of each phase's window that
reached the centre by the end of the run. `frames_per_centre_cpu_s`: frames applied per CPU
second of the fleet server process and its PostgreSQL backends (what the centre would do per
core it had to itself; on a shared machine the wall-clock rate says how much CPU it got).

`--pin` (Linux): the centre gets a core of its own. The fleet server process and the PostgreSQL
backends serving its connections (found in pg_stat_activity by its application_name once it
has connected) are pinned to --centre-cpu, the bench process (its simulated sites and
measuring connection) and the private Mosquitto to the other cores. The postmaster and every
other backend are left alone (WAL writer and checkpointer included). The affinity read back
for each pid is printed (`pinning`), and each phase reports the CPU each side used and how
busy each core was (`cores_busy`), so what is left of the centre's core for others shows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.mosquitto import PrivateBroker
from gateway.store.api import FrameRecord, Outlook
from gateway.store.outlook_sql import _row as outlook_row
from gateway.store.postgres import PostgresStore
from gateway.uplink.config import UplinkConfig
from gateway.uplink.forwarder import Forwarder

PG_URL = os.environ.get("KIZASHI_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parents[1]
REPORT_S = 30.0


def _report(node: str, seq: int, ts: float) -> FrameRecord:
    v = 100 + seq % 50
    return FrameRecord(
        node, 1, seq, "report", int(ts), ts, ts, b"\x91\x01", 1, 0, 1000 + seq * 30, 3,
        (v, v + 10, v + 20), (v, v + 5, v + 10), 900, 300, 415,
    )  # fmt: skip


def _outlook(asset: str, now: float, k: int) -> list[Any]:
    zone = "ABCD"[k % 4] if k % 10 == 0 else "A"
    o = Outlook(
        asset, now, zone, 1.2, 40, now, "stable", 0.5, "healthy_no_trend", "rated_life",
        "healthy", 0.9, 9000.0, 15000.0, 22000.0, now + 9e6, now + 15e6, now + 22e6, False,
        "more than a year", 80.0, "none", None, "", "brg", "6205", 14.0, None, None, None,
        None, None, "nothing to do",
    )  # fmt: skip
    return list(outlook_row(o))


class SimSite:
    """The part of a site's store its forwarder reads: an in-memory log of committed frames
    (frame ids from 1, in commit order), its marks and its state (duck-typed SqlStore)."""

    def __init__(self, index: int, nodes: int, now: float) -> None:
        self.origin = f"gw-{index:04d}"
        self.site = f"site-{index:04d}"
        self.nodes = [f"{self.site}-n{k:02d}" for k in range(nodes)]
        self.seq = dict.fromkeys(self.nodes, 0)
        self.log: list[FrameRecord] = []
        self.marks = {"frames": 0, "events": 0}
        assets = [
            [f"{n}-pump", self.site, "pump", n, "group2_rigid", "", None, None, None,
             [["brg", "bearing", "6205", 20000.0, 14.0]], "auto"]
            for n in self.nodes
        ]  # fmt: skip
        self.state = {
            "sites": [[self.site, "Asia/Tokyo" if index % 2 else "Europe/Berlin"]],
            "assets": assets,
            "service": [],
            "windows": [],
            "nodes": [],
            "outlooks": [_outlook(a[0], now, index + k) for k, a in enumerate(assets)],
        }

    def commit(self, node: str, ts: float) -> None:
        self.log.append(_report(node, self.seq[node], ts))
        self.seq[node] += 1

    # ---- what Forwarder reads and writes
    def registry_stamp(self) -> str:
        return "1"

    def uplink_mark(self, origin: str, stream: str) -> int:
        return self.marks[stream]

    def set_uplink_mark(self, origin: str, stream: str, upto: int) -> None:
        self.marks[stream] = upto

    def frames_after(self, frame_id: int, limit: int = 1000) -> list[tuple[int, FrameRecord]]:
        end = min(len(self.log), frame_id + limit)
        return [(i + 1, self.log[i]) for i in range(frame_id, end)]

    def event_rows_after(self, event_id: int, limit: int = 1000) -> list[list[Any]]:
        return []

    def state_snapshot(self) -> dict[str, Any]:
        return self.state


class Reporter:
    """Commits every node's reports at their times: each node every `interval` s, phases
    spread evenly, one heap over all nodes (the sites' pipelines, in one task)."""

    def __init__(self, sites: list[SimSite]) -> None:
        self.sites = sites
        self.heap: list[tuple[float, int, int]] = []
        self.interval = REPORT_S
        self.paused: set[int] = set()  # sites whose reports are committed later (outage)

    def reset(self, interval: float, now: float) -> None:
        self.interval = interval
        n = sum(len(s.nodes) for s in self.sites)
        self.heap = []
        k = 0
        for si, s in enumerate(self.sites):
            for ni in range(len(s.nodes)):
                self.heap.append((now + interval * k / n, si, ni))
                k += 1
        heapq.heapify(self.heap)

    async def run(self) -> None:
        while True:
            now = time.time()
            while self.heap and self.heap[0][0] <= now:
                due, si, ni = heapq.heappop(self.heap)
                site = self.sites[si]
                site.commit(site.nodes[ni], due)
                heapq.heappush(self.heap, (due + self.interval, si, ni))
            await asyncio.sleep(0.02)


def pin(pid: int, cpus: set[int]) -> list[int]:
    """Every thread of `pid` onto `cpus` (threads it starts later inherit the affinity of the
    thread that starts them); returns the CPUs its threads may run on, read back."""
    tids = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    for tid in tids:
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(tid, cpus)
    return affinity(pid)


def affinity(pid: int) -> list[int]:
    """The union of the CPUs `pid`'s threads may run on (one thread left elsewhere shows)."""
    got: set[int] = set()
    for t in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            got |= os.sched_getaffinity(int(t.name))
    return sorted(got)


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) used so far by `pid`; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cores_busy_s() -> dict[int, float]:
    """Per core, the seconds it has spent busy (not idle or waiting on I/O), anyone's work."""
    out: dict[int, float] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        m = re.match(r"cpu(\d+) (.*)", line)
        if m:
            v = [int(x) for x in m[2].split()]
            out[int(m[1])] = (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")
    return out


def backlog_trend(ts: list[float], backlog: list[int]) -> tuple[float, float]:
    """The backlog's trend (frames/s, least squares) and its standard error: the centre
    applied less than the sites committed by the trend; the forwarders' polling makes the
    backlog a saw tooth around it, which the error measures."""
    if len(ts) < 3:
        return 0.0, 0.0
    fit = statistics.linear_regression(ts, backlog)
    mx = statistics.fmean(ts)
    resid = [b - (fit.intercept + fit.slope * t) for t, b in zip(ts, backlog, strict=True)]
    sxx = sum((t - mx) ** 2 for t in ts)
    return fit.slope, (sum(r * r for r in resid) / (len(ts) - 2) / sxx) ** 0.5


def kept_up(
    backlog: list[int], growth: float, stderr: float, offered: float, poll_s: float
) -> bool:
    """What waits at the sites at the end is no more than the forwarders' poll interval and
    5 s of traffic, and it did not grow over the half by more than 2 % of the offered rate
    beyond twice the noise (a centre that falls behind lets it grow without bound)."""
    return backlog[-1] <= offered * (poll_s + 5) and growth - 2 * stderr <= 0.02 * offered


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


class Centre:
    """The fleet server process and a connection to its database for the measurements."""

    def __init__(self, work: Path, args: argparse.Namespace, port: int, sites: list[SimSite]):
        self.schema = "kz_bench_fleet_" + uuid.uuid4().hex[:10]
        self.db = PostgresStore(PG_URL, self.schema)
        sep = "&" if "?" in PG_URL else "?"
        origins = "\n".join(f'"{s.origin}" = "customer-{i % 7}"' for i, s in enumerate(sites))
        conf = work / "fleet.toml"
        self.app_name = "kz-bench-" + self.schema  # finds its database backends (CPU)
        conf.write_text(
            f'[fleet]\ndatabase = "{PG_URL}{sep}schema={self.schema}'
            f'&application_name={self.app_name}"\n'
            f'data_dir = "{work / "fleet-data"}"\nlog_level = "WARNING"\n'
            f"appliers = {args.lanes}\n"
            f"[fleet.mqtt]\nport = {port}\nbatch = {args.batch}\n"
            f"[fleet.origins]\n{origins}\n"
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.log = (work / "fleet.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kizashi.cli", "fleet", "run", "--config", str(conf),
             "--no-http"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def applied(self) -> int:
        """Frames the centre holds: the sum of its marks (each site's ids run from 1)."""
        with self.db._lock:
            rows = self.db._q("SELECT coalesce(sum(upto), 0) FROM uplink_marks WHERE stream = ?",
                              ("frames",))  # fmt: skip
        return int(rows[0][0])

    def backends(self) -> list[int]:
        """The PostgreSQL backends serving the fleet server's connections."""
        with self.db._lock:
            rows = self.db._q(
                "SELECT pid FROM pg_stat_activity WHERE application_name = ?", (self.app_name,)
            )
        return sorted(int(r[0]) for r in rows)

    def cpu_s(self) -> float:
        """CPU seconds used so far by the fleet server process and its database backends."""
        return sum(proc_cpu_s(pid) for pid in [self.proc.pid, *self.backends()])

    def pin(self, cpus: set[int]) -> dict[str, Any]:
        """The fleet server and its backends onto `cpus` (backends it opened since included);
        what each reads back."""
        got = {"fleet_server": pin(self.proc.pid, cpus)}
        for pid in self.backends():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # it closed
                got[f"backend_{pid}"] = pin(pid, cpus)
        return got

    def own_backend(self) -> int:
        """The backend of the bench's measuring connection (the bench's side, not the centre)."""
        with self.db._lock:
            return int(self.db._q("SELECT pg_backend_pid()")[0][0])

    def marks(self) -> dict[str, int]:
        with self.db._lock:
            rows = self.db._q("SELECT origin, upto FROM uplink_marks WHERE stream = 'frames'")
        return {str(r[0]): int(r[1]) for r in rows}

    def latency(self, since: float, until: float, nodes_from: str) -> dict[str, float | int]:
        """End-to-end p50/p95 (s) of the frames committed at the sites in [since, until), of
        the nodes from `nodes_from` on (the outage's hour of backlog has times in the window
        too, committed long after them: it is measured by catch_up_s, not here)."""
        with self.db._lock:
            rows = self.db._q(
                "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY recv_time - ts),"
                " percentile_cont(0.95) WITHIN GROUP (ORDER BY recv_time - ts),"
                " max(recv_time - ts) FROM frames WHERE ts >= ? AND ts < ? AND node_id >= ?",
                (since, until, nodes_from),
            )
        n, p50, p95, mx = rows[0]
        return {"frames": int(n), "p50_s": round(float(p50 or 0), 2),
                "p95_s": round(float(p95 or 0), 2), "max_s": round(float(mx or 0), 2)}  # fmt: skip

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        self.db.drop_schema()
        self.db.close()


class Sides:
    """The centre (fleet server + its backends) and the bench's side (this process with its
    simulated sites, the private Mosquitto, the measuring connection's backend): their pinning
    (`cpus`: the centre's and the bench's CPU sets, or None to leave them) and CPU."""

    def __init__(
        self, centre: Centre, bench: dict[str, int], cpus: tuple[set[int], set[int]] | None
    ) -> None:
        self.centre, self.bench, self.cpus = centre, bench, cpus

    def apply(self) -> dict[str, list[int]]:
        """Pin (again: backends opened since are included) and read every pid's affinity."""
        if self.cpus is None:
            got = {"fleet_server": affinity(self.centre.proc.pid)}
            got |= {f"backend_{p}": affinity(p) for p in self.centre.backends()}
        else:
            got = self.centre.pin(self.cpus[0])
        for name, pid in self.bench.items():
            got[name] = affinity(pid) if self.cpus is None else pin(pid, self.cpus[1])
        return got

    def bench_cpu_s(self) -> float:
        return sum(proc_cpu_s(pid) for pid in self.bench.values())


async def _wait(cond: Any, timeout: float, every: float = 0.5) -> float:
    """Seconds until `cond()` (run in a thread) is true; inf after `timeout`."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if await asyncio.to_thread(cond):
            return time.perf_counter() - t0
        await asyncio.sleep(every)
    return float("inf")


async def _phases(
    args: argparse.Namespace, work: Path, cpus: tuple[set[int], set[int]] | None
) -> dict[str, Any]:
    broker = PrivateBroker(
        work, "allow_anonymous true\nmax_queued_messages 100000\nmax_inflight_messages 0\n"
    ).start()
    now = time.time()
    sites = [SimSite(i, args.nodes, now) for i in range(args.sites)]
    centre = Centre(work, args, broker.port, sites)
    cfg = UplinkConfig(enabled=True, port=broker.port, batch=args.batch, poll_s=args.poll_s,
                       ack_timeout_s=30, state_every_s=1e9)  # fmt: skip
    fwds = {s.origin: Forwarder(s, s.origin, cfg) for s in sites}  # type: ignore[arg-type]
    tasks: dict[str, asyncio.Task[None]] = {}
    reporter = Reporter(sites)
    out: dict[str, Any] = {
        "sites": args.sites, "nodes": args.sites * args.nodes, "lanes": args.lanes,
        "batch": args.batch, "poll_s": args.poll_s,
    }  # fmt: skip
    try:
        # the centre's session must exist before the sites publish (else the broker has
        # nobody to keep their first messages for, and they wait ack_timeout_s to resend)
        await _wait(lambda: broker.connects("kizashi-fleet (") > 0, 60, 0.1)
        await asyncio.sleep(1.0)
        # the centre's connections are open now (it opens them before it subscribes)
        assert broker.proc is not None
        bench_pids = {"bench": os.getpid(), "mosquitto": broker.proc.pid,
                      "bench_backend": await asyncio.to_thread(centre.own_backend)}  # fmt: skip
        sides = Sides(centre, bench_pids, cpus)
        out["pinning"] = {
            "pinned": cpus is not None,
            "centre_cpus": None if cpus is None else sorted(cpus[0]),
            "bench_cpus": None if cpus is None else sorted(cpus[1]),
            "read_back": await asyncio.to_thread(sides.apply),
        }
        # 1. registry
        for s in sites:
            tasks[s.origin] = asyncio.create_task(fwds[s.origin].run())
        n_assets = args.sites * args.nodes

        def registry_done() -> bool:
            with centre.db._lock:
                return int(centre.db._q("SELECT count(*) FROM assets")[0][0]) >= n_assets

        out["registry_s"] = round(await _wait(registry_done, args.timeout), 1)
        # 2. steady, 3. load
        rep = asyncio.create_task(reporter.run())
        for name, factor, seconds in (("steady", 1.0, args.steady_s),
                                      ("load", args.load_x, args.load_s)):  # fmt: skip
            out[name] = await _phase(sides, sites, reporter, factor, seconds, args.poll_s)
        # 4. outage of --outage-sites sites, while the others report at the steady rate
        reporter.reset(REPORT_S, time.time())
        await asyncio.sleep(min(10.0, args.steady_s / 2))
        cut = sites[: args.outage_sites]
        for s in cut:
            tasks.pop(s.origin).cancel()
        await asyncio.sleep(1.0)
        backlog = 0
        hour_start = time.time() - 3600
        for s in cut:  # an hour of reports committed at the site while its link was down
            for k in range(int(3600 / REPORT_S)):
                for j, node in enumerate(s.nodes):
                    s.commit(node, hour_start + k * REPORT_S + j)
            backlog += len(s.log) - s.marks["frames"]
        want = {s.origin: len(s.log) for s in cut}
        for s in cut:
            tasks[s.origin] = asyncio.create_task(fwds[s.origin].run())

        def caught_up() -> bool:
            have = centre.marks()
            return all(have.get(o, 0) >= m for o, m in want.items())

        c0, a0 = await asyncio.to_thread(centre.cpu_s), await asyncio.to_thread(centre.applied)
        catch = await _wait(caught_up, args.timeout, 0.25)
        c1, a1 = await asyncio.to_thread(centre.cpu_s), await asyncio.to_thread(centre.applied)
        out["outage"] = {
            "sites": len(cut),
            "backlog_frames": backlog,
            "catch_up_s": None if catch == float("inf") else round(catch, 1),
            "others_reporting_frames_per_s": round((args.sites - len(cut)) * args.nodes / 30),
            "frames_per_s_while_catching_up": round((a1 - a0) / catch) if catch < 1e9 else None,
            "frames_per_centre_cpu_s": round((a1 - a0) / max(c1 - c0, 1e-9)),
            "load_average_1min": round(os.getloadavg()[0], 1),
        }
        rep.cancel()
        total = sum(len(s.log) for s in sites)  # the reports stop: everything must arrive
        await _wait(lambda: centre.applied() >= total, args.timeout)
        for t in tasks.values():
            t.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        centre.proc.terminate()
        broker.kill()
        with centre.db._lock:
            out["frames_at_centre"] = int(centre.db._q("SELECT count(*) FROM frames")[0][0])
            size = centre.db._q("SELECT pg_total_relation_size('frames')")[0][0]
        # disk per stored frame (table, its key index, TOAST): what a day of frames costs
        out["frames_bytes_per_row"] = round(int(size) / max(out["frames_at_centre"], 1))
        out["frames_at_sites"] = total
        applied = await asyncio.to_thread(centre.applied)
        out["complete"] = applied >= total  # the centre caught up once the reports stopped
        # every site's ids run from 1, so rows == the sum of the centre's marks means no
        # frame stored twice and none missing below the marks, caught up or not
        out["exactly_once_below_marks"] = out["frames_at_centre"] == applied
        for name in ("steady", "load"):  # frames of the window that reached the centre
            since, until = out[name].pop("window")
            first = sites[len(cut)].nodes[0] if len(cut) < len(sites) else "~"
            out[name]["latency"] = await asyncio.to_thread(centre.latency, since, until, first)
        out["page"] = await asyncio.to_thread(_page, centre.db, args.runs)
    finally:
        for t in tasks.values():
            t.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        broker.kill()
        centre.close()
    return out


async def _phase(
    sides: Sides,
    sites: list[SimSite],
    reporter: Reporter,
    factor: float,
    seconds: float,
    poll_s: float,
) -> dict[str, Any]:
    """Run the reporters at `factor` x the steady rate for `seconds`; measure the second
    half (the first lets the forwarders reach their rhythm), sampling the sites' backlog."""
    centre = sides.centre
    start = time.time()
    reporter.reset(REPORT_S / factor, start)
    await asyncio.sleep(seconds / 2)
    pinned = await asyncio.to_thread(sides.apply)  # backends opened since are pinned too

    def sample() -> tuple[float, int, int, float, float, dict[int, float]]:
        a = centre.applied()
        committed = sum(len(s.log) for s in sites)
        busy = cores_busy_s()
        return time.time(), committed, a, centre.cpu_s(), sides.bench_cpu_s(), busy

    samples = [await asyncio.to_thread(sample)]
    end = samples[0][0] + seconds / 2
    while time.time() < end:
        await asyncio.sleep(min(2.5, max(0.0, end - time.time())))
        samples.append(await asyncio.to_thread(sample))
    (t1, n1, a1, c1, bc1, busy1), (t2, n2, a2, c2, bc2, busy2) = samples[0], samples[-1]
    offered = sum(len(s.nodes) for s in sites) / reporter.interval
    rate = (a2 - a1) / (t2 - t1)
    backlog = [n - a for _, n, a, *_ in samples]
    growth, stderr = backlog_trend([x[0] - t1 for x in samples], backlog)
    return {
        "offered_frames_per_s": round(offered),
        # what the sites actually committed (the simulated sites share the bench's CPU)
        "committed_frames_per_s": round((n2 - n1) / (t2 - t1)),
        "frames_per_s": round(rate),
        "backlog_start": backlog[0],
        "backlog_end": backlog[-1],
        "backlog_growth_frames_per_s": round(growth),
        "backlog_growth_stderr": round(stderr),
        "backlog_samples": backlog,
        # kept up: what waits at the sites at the end is no more than the forwarders' poll
        # interval and 5 s of traffic, and it did not grow over the half (by more than 2 % of
        # the offered rate beyond the noise: a centre that falls behind lets it grow)
        "kept_up": kept_up(backlog, growth, stderr, offered, poll_s),
        "window": [t1, t2 - min(10, (t2 - t1) / 2)],  # latency: measured after the run
        # what the centre (fleet server + its PostgreSQL backends) spent: frames per CPU
        # second, the figure a busy shared machine does not hide
        "centre_cpu_s": round(c2 - c1, 1),
        "centre_cores": round((c2 - c1) / (t2 - t1), 2),
        "bench_cores": round((bc2 - bc1) / (t2 - t1), 2),
        # each core's busy share over the half, whoever's work (the rest of the machine too)
        "cores_busy": {str(k): round((busy2[k] - busy1[k]) / (t2 - t1), 2) for k in busy2},
        # the affinity read back at the half's start: each side's CPUs (union over its pids)
        "affinity": {
            "centre": sorted({c for k, v in pinned.items() if k not in sides.bench for c in v}),
            "centre_pids": sum(1 for k in pinned if k not in sides.bench),
            "bench": sorted({c for k, v in pinned.items() if k in sides.bench for c in v}),
        },
        "frames_per_centre_cpu_s": round((a2 - a1) / max(c2 - c1, 1e-9)),
        "load_average_1min": round(os.getloadavg()[0], 1),
    }


def _page(db: PostgresStore, runs: int) -> dict[str, Any]:
    """Overview through the real Flask app (fleet role) over the central store."""
    from fleet_web.auth import hash_password
    from gateway.fleet_server import FleetConfig
    from gateway.store.api import User
    from kizashi.app import fleet_app

    db.upsert_user(User("bench", hash_password("bench-password"), "viewer"))
    app: Any = fleet_app(db, FleetConfig(database=PG_URL, origins={}))
    c = app.test_client()
    m = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True))
    assert m
    c.post("/login", data={"username": "bench", "password": "bench-password", "csrf_token": m[1]})
    clear = app.extensions["kz_cache"]._d.clear
    out: dict[str, Any] = {"assets": len(c.get("/api/assets").get_json())}
    for name, url in {"overview_page": "/", "api_assets_page": "/api/assets?limit=100",
                      "overview_one_customer": "/?customer=customer-3"}.items():  # fmt: skip
        ms, cpu = [], []
        for _ in range(runs):
            clear()
            t0, c0 = time.perf_counter(), time.process_time()
            r = c.get(url)
            ms.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)  # this process only, not the database
            assert r.status_code == 200, (url, r.status_code)
        out[name] = {"p50_ms": round(statistics.median(ms), 1), "p95_ms": round(_pct(ms, 0.95), 1),
                     "cpu_p95_ms": round(_pct(cpu, 0.95), 1)}  # fmt: skip
    out["load_average_1min"] = round(os.getloadavg()[0], 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(prog="bench.fleet", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="100 sites, 20 s phases, 10 sites cut: about 2 minutes")  # fmt: skip
    ap.add_argument("--sites", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=20, help="per site")
    ap.add_argument("--lanes", type=int, default=4, help="applier lanes at the centre")
    ap.add_argument("--batch", type=int, default=1000, help="rows per uplink message")
    ap.add_argument("--poll-s", type=float, default=5.0, help="the sites' uplink poll_s")
    ap.add_argument("--steady-s", type=float, default=60)
    ap.add_argument("--load-x", type=float, default=5.25, help="x the steady rate (3,500/s)")
    ap.add_argument("--load-s", type=float, default=90)
    ap.add_argument("--outage-sites", type=int, default=100)
    ap.add_argument("--runs", type=int, default=20, help="page requests per figure")
    ap.add_argument("--timeout", type=float, default=300, help="per wait")
    ap.add_argument("--pin", action="store_true",
                    help="the centre on --centre-cpu alone, the bench elsewhere")  # fmt: skip
    ap.add_argument("--centre-cpu", type=int, default=1)
    args = ap.parse_args()
    cpus: tuple[set[int], set[int]] | None = None
    if args.pin:
        mine = os.sched_getaffinity(0)
        centre, bench = {args.centre_cpu}, mine - {args.centre_cpu}
        if not centre <= mine or not bench:
            ap.error(f"--pin needs --centre-cpu in {sorted(mine)} and another CPU for the bench")
        pin(os.getpid(), bench)  # before any thread starts: they all inherit it
        cpus = (centre, bench)
    if args.quick:
        args.sites, args.steady_s, args.load_s = min(args.sites, 100), 20, 20
        args.outage_sites, args.runs = min(args.outage_sites, 10), 10
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kizashi-bench-fleet-") as tmp:
        out = asyncio.run(_phases(args, Path(tmp), cpus))
    out["cpu_count"] = os.cpu_count()
    out["total_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
