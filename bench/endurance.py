"""Endurance run: the whole system (`kizashi demo`) for a long time, watched from outside.

    .venv/bin/python -m bench.endurance [--minutes 60] [--nodes 12] [--history-days 30]
                                        [--speed 600] [--sample-s 30]

The fault campaign starts a fresh gateway for every check, so it cannot see what only time
shows: memory that grows, a queue that never drains, a page that slows as the store fills.
This runs one demo process (gateway pipeline, SQLite store, health monitor, forecaster, fleet
page, simulated nodes running the firmware code) for `--minutes`; with the defaults it packs a
month of fleet operation into an hour. Every `--sample-s` it reads the process's resident memory
(/proc), the gateway's /metrics, and times the overview API as a logged-in user. At the end it
stops the demo with SIGINT (the clean-shutdown path), then checks the store against the
counters: every frame the gateway counted as stored is in the database.

It prints one line per sample and a JSON summary: RSS at the end of warm-up and at the end, the
RSS slope (MB per hour, least squares after warm-up), frames stored and rejected, gaps and lost
frames, the slowest API call, the exit code and the database size. Exit code 1 if the demo did
not stop cleanly, the counters disagree with the store, or frames were lost.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from bench.mosquitto import free_port

PASSWORD = "endurance-password-1"
COUNTERS = (
    "kizashi_frames_stored_total",
    "kizashi_frames_rejected_total",
    "kizashi_frames_duplicate_total",
    "kizashi_seq_gaps_total",
    "kizashi_frames_lost_total",
    "kizashi_queue_depth",
    "kizashi_task_restarts_total",
    "kizashi_store_errors_total",
)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def metrics(base: str) -> dict[str, float]:
    """Sum of every series of each counter/gauge we watch (labels folded)."""
    text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    out = dict.fromkeys(COUNTERS, 0.0)
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"([a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+)$", line)
        if m and m.group(1) in out:
            out[m.group(1)] += float(m.group(3))
    return out


def login(base: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = op.open(base + "/login", timeout=10).read().decode()
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if m is None:
        raise RuntimeError("no CSRF token on the login page")
    form = {"username": "admin", "password": PASSWORD, "csrf_token": m.group(1)}
    op.open(base + "/login", urllib.parse.urlencode(form).encode(), timeout=10).read()
    return op


def timed_get(op: urllib.request.OpenerDirector, url: str) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    body = op.open(url, timeout=30).read()
    return (time.perf_counter() - t0) * 1000.0, body


def wait_up(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"demo exited early with {proc.returncode}")
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2).read()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("demo did not come up")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--nodes", type=int, default=12)
    ap.add_argument("--history-days", type=float, default=30.0)
    ap.add_argument("--speed", type=float, default=600.0)
    ap.add_argument("--sample-s", type=float, default=30.0)
    ap.add_argument("--warmup-min", type=float, default=5.0, help="excluded from the RSS slope")
    args = ap.parse_args(argv)

    data = Path(tempfile.mkdtemp(prefix="kz-endurance-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "kizashi.cli", "demo", "--port", str(port),
           "--data-dir", str(data), "--nodes", str(args.nodes), "--speed", str(args.speed),
           "--history-days", str(args.history_days)]  # fmt: skip
    env = {**os.environ, "KIZASHI_ADMIN_PASSWORD": PASSWORD}
    log = (data / "demo.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    samples: list[dict[str, float]] = []
    worst_ms = 0.0
    try:
        wait_up(base, proc)
        op = login(base)
        t0 = time.monotonic()
        end = t0 + args.minutes * 60
        print(f"{'min':>6} {'rss_MB':>7} {'stored':>9} {'fr/s':>6} {'queue':>5} {'rej':>4} "
              f"{'gaps':>4} {'lost':>4} {'api_ms':>7}", flush=True)  # fmt: skip
        prev: tuple[float, float] | None = None
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise RuntimeError(f"demo died with {proc.returncode}; see {data / 'demo.log'}")
            now = time.monotonic()
            m = metrics(base)
            ms, body = timed_get(op, base + "/api/assets?limit=100")
            if not body.startswith(b"["):
                raise RuntimeError("the overview API did not answer with a list (logged out?)")
            worst_ms = max(worst_ms, ms)
            s = {"t_min": (now - t0) / 60, "rss_mb": rss_mb(proc.pid), "api_ms": ms, **m}
            stored = m["kizashi_frames_stored_total"]
            rate = 0.0 if prev is None else (stored - prev[1]) / max(now - prev[0], 1e-9)
            prev = (now, stored)
            samples.append(s)
            print(f"{s['t_min']:6.1f} {s['rss_mb']:7.1f} {stored:9.0f} {rate:6.1f} "
                  f"{m['kizashi_queue_depth']:5.0f} {m['kizashi_frames_rejected_total']:4.0f} "
                  f"{m['kizashi_seq_gaps_total']:4.0f} {m['kizashi_frames_lost_total']:4.0f} "
                  f"{ms:7.1f}", flush=True)  # fmt: skip
            time.sleep(max(0.0, args.sample_s - (time.monotonic() - now)))
        final = metrics(base)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()

    db = data / "kizashi.db"
    with sqlite3.connect(db) as con:
        in_db = con.execute("SELECT count(*) FROM frames").fetchone()[0]
    warm = [s for s in samples if s["t_min"] >= args.warmup_min] or samples
    t = np.array([s["t_min"] / 60 for s in warm])
    r = np.array([s["rss_mb"] for s in warm])
    slope = float(np.polyfit(t, r, 1)[0]) if len(warm) >= 3 else float("nan")
    stored = final["kizashi_frames_stored_total"]
    summary = {
        "minutes": args.minutes, "nodes": args.nodes, "speed": args.speed,
        "simulated_days": round(args.minutes * 60 * args.speed / 86400, 1),
        "rss_mb_after_warmup": round(float(r[0]), 1), "rss_mb_end": round(float(r[-1]), 1),
        "rss_mb_max": round(max(s["rss_mb"] for s in samples), 1),
        "rss_slope_mb_per_h": round(slope, 2),
        "frames_stored_counted": int(stored), "frames_in_db": int(in_db),
        "rejected": int(final["kizashi_frames_rejected_total"]),
        "duplicates": int(final["kizashi_frames_duplicate_total"]),
        "gaps": int(final["kizashi_seq_gaps_total"]),
        "lost": int(final["kizashi_frames_lost_total"]),
        "task_restarts": int(final["kizashi_task_restarts_total"]),
        "store_errors": int(final["kizashi_store_errors_total"]),
        "api_ms_max": round(worst_ms, 1), "exit_code": proc.returncode,
        "db_mb": round(db.stat().st_size / 2**20, 1), "data_dir": str(data),
    }  # fmt: skip
    print(json.dumps(summary, indent=1))
    # The counter covers only this run; the database holds every frame ever stored (one run).
    ok = proc.returncode == 0 and in_db >= stored and summary["lost"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
