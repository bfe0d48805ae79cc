"""What the page benchmarks share: a logged-in test client and a median timer."""

from __future__ import annotations

import re
import statistics
import time
from typing import Any

from fleet_web.auth import hash_password
from gateway.store.api import Store, User

USER, PASSWORD = "bench", "bench-password"


def add_viewer(store: Store) -> None:
    """The benchmarks' page user (a viewer: what a service-team reader sees)."""
    store.upsert_user(User(USER, hash_password(PASSWORD), "viewer"))


def login(app: Any) -> Any:
    """A Flask test client logged in as the benchmarks' user (add_viewer first)."""
    c = app.test_client()
    page = c.get("/login").get_data(as_text=True)
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m
    r = c.post("/login", data={"username": USER, "password": PASSWORD, "csrf_token": m[1]})
    assert r.status_code == 302, r.status_code
    return c


def median_time(f: Any, runs: int, cpu: list[float] | None = None) -> tuple[float, Any]:
    """Median wall time of `runs` calls and the last result (and, into `cpu`, the median
    process CPU time: what it costs when other processes share the machine)."""
    times, cpus, out = [], [], None
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        out = f()
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    if cpu is not None:
        cpu.append(statistics.median(cpus))
    return statistics.median(times), out
