"""Consulting report benchmark: how long one customer's report takes on the real store.

A SQLite store is filled through its API (`fleet_web.synth.populate`: --assets assets on three
sites, each with --days days of hourly reports: the report's 28 days and the 28 before them).
Then, --runs times each:

- `read_s`: the hourly rows of every asset over both periods (`Store.hourly_columns`);
- `compute_s`: `gateway.consulting.build_report` on them (both periods, findings);
- `page_s`, `api_s`: the page and the JSON through Flask's test client (reads, computation,
  rendering), as a service-team viewer.

    .venv/bin/python -m bench.consulting [--assets 100] [--days 56] [--runs 5]

Prints one JSON object (medians in seconds, the hourly rows read, the page's process CPU time
and the machine's load). Goal: a customer of a hundred machines answers within 2 s of CPU
(exit code 1 if the page's median CPU time misses it; wall time on a shared machine is
longer).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.page_client import add_viewer, login, median_time
from fleet_web import create_app
from fleet_web.synth import populate
from gateway import consulting
from gateway.shifts import DEFAULT_SHIFTS
from gateway.store import open_store

GOAL_S = 2.0
SITES = ("Osaka Works", "Nagoya Plant", "Kobe Yard")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.consulting")
    ap.add_argument("--assets", type=int, default=100)
    ap.add_argument("--days", type=int, default=56)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        st = open_store(str(Path(d) / "k.db"))
        now = time.time()
        populate(st, args.assets, args.days * 24, now, sites=SITES)
        add_viewer(st)
        app = create_app({"SECRET_KEY": "bench", "TESTING": True}, store=st)
        fleet = app.extensions["fleet"]
        rows = fleet.overview()
        ids = [r["id"] for r in rows]
        inputs = [
            consulting.SiteInput(s, "UTC", DEFAULT_SHIFTS, tuple(
                consulting.MachineSpec(r["id"], r["name"], r["machine"], s,
                                       (r["zones"]["A"], r["zones"]["B"], r["zones"]["C"]))
                for r in rows if r["site"] == s))
            for s in SITES
        ]  # fmt: skip
        period = consulting.period_ending(_today(now))
        start, end = consulting.fetch_bounds(inputs, period)
        read_s, hours = median_time(lambda: st.hourly_columns(ids, start, end), args.runs)
        compute_s, report = median_time(
            lambda: consulting.build_report("bench", inputs, hours, {}, period), args.runs
        )
        c = login(app)
        page_cpu: list[float] = []
        page_s, page = median_time(lambda: c.get("/consulting"), args.runs, page_cpu)
        api_s, api = median_time(lambda: c.get("/api/consulting"), args.runs)
        assert page.status_code == 200 and api.status_code == 200, (page.status, api.status)
        st.close()
    out = {
        "assets": args.assets,
        "days": args.days,
        "hourly_points": sum(len(v) for v in hours.values()),
        "recommendations": len(report.recommendations),
        "read_s": round(read_s, 3),
        "compute_s": round(compute_s, 3),
        "page_s": round(page_s, 3),
        "api_s": round(api_s, 3),
        "page_cpu_s": round(page_cpu[0], 3),
        "load_1min": round(os.getloadavg()[0], 1),
        "goal_page_s": GOAL_S,
    }
    print(json.dumps(out))
    return 0 if page_cpu[0] <= GOAL_S else 1


def _today(now: float) -> Any:
    import datetime as dt

    return dt.datetime.fromtimestamp(now, dt.UTC).date()


if __name__ == "__main__":
    sys.exit(main())
