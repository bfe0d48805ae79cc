"""`kizashi demo` end to end: page up, 12 assets with readings within a minute, clean stop."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from bench.mosquitto import free_port

PASSWORD = "demo-test-password-1"
CUSTOMER_PASSWORD = "demo-customer-password-1"  # the demo's customer user, naniwa


def start_demo(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "KIZASHI_ADMIN_PASSWORD": PASSWORD,
           "KIZASHI_CUSTOMER_PASSWORD": CUSTOMER_PASSWORD}  # fmt: skip
    cmd = [sys.executable, "-m", "kizashi.cli", "demo", "--port", str(port)]
    cmd += ["--data-dir", str(data_dir), "--seconds", "170"]
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def login(base: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    page = opener.open(base + "/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "login form has no CSRF token"
    form = {"username": "admin", "password": PASSWORD, "csrf_token": token.group(1)}
    opener.open(base + "/login", urllib.parse.urlencode(form).encode(), timeout=10)
    return opener


def assets_with_readings(
    opener: urllib.request.OpenerDirector, base: str
) -> list[dict[str, object]]:
    body = json.loads(opener.open(base + "/api/assets", timeout=10).read())
    rows = body if isinstance(body, list) else body["assets"]
    return [r for r in rows if r.get("last_seen") and r.get("vel_rms") is not None]


def missing_from_the_story(
    opener: urllib.request.OpenerDirector, base: str, rows: list[dict[str, Any]]
) -> list[str]:
    """What the demo must show (issue 13 item 8) and does not yet: an empty list when all."""
    missing = []
    degrading = [
        r for r in rows
        if r.get("forecast_status") == "degrading" and r.get("window_start")
        and r.get("rul_p10_date") and str(r["window_start"])[:10] <= str(r["rul_p10_date"])
    ]  # fmt: skip
    cones = [
        r["id"] for r in degrading
        if json.loads(opener.open(f"{base}/api/assets/{r['id']}/history?days=30", timeout=10)
                      .read())["cone"]["t"]
    ]  # fmt: skip
    if not cones:
        missing.append("a degrading bearing with its cone and a window before its risk date")
    if not any(r.get("health") == "C" and r.get("action") in ("plan", "unplanned_stop")
               and r.get("action_text") for r in rows):  # fmt: skip
        missing.append("a machine in zone C with its action")
    if sum(bool(re.search(r"beyond \d+ years", str(r.get("life_text")))) for r in rows) < 2:
        missing.append('healthy machines reading "beyond N years"')
    shifts = [
        r for r in rows
        if r.get("utilisation") and 20 < r["utilisation"]["h_per_week"] < 120
    ]  # fmt: skip
    if not shifts:
        missing.append("a machine in shifts")
    if len({r.get("tz") for r in rows}) < 2:
        missing.append("sites in two time zones")
    return missing


def stored_frames(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return int(con.execute("SELECT count(*) FROM frames").fetchone()[0])


def test_demo_serves_twelve_assets_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_demo(tmp_path, port)
    try:
        # The issue asks for readings within a minute; the bound here is looser so a loaded CI
        # machine cannot fail it, and the time taken is printed (pytest -s) as the figure.
        started = time.monotonic()
        deadline = started + 120
        rows: list[dict[str, object]] = []
        opener = None
        # Readings and the gateway's outlook of them (zone of the running level): the outlook
        # engine follows the readings within its step (1 s in the demo).
        while time.monotonic() < deadline and (
            len(rows) < 12 or any(r.get("health") is None for r in rows)
        ):
            time.sleep(2)
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                opener = opener or login(base)
                rows = assets_with_readings(opener, base)
            except OSError:
                opener = None
        assert len(rows) >= 12, f"only {len(rows)} assets with readings after 120 s"
        print(f"12 assets with readings after {time.monotonic() - started:.1f} s")
        for row in rows:
            assert {"id", "last_seen", "runtime_h", "health"} <= set(row)
            assert row["health"] in ("A", "B", "C", "D")
        # Within two minutes of the start the fleet tells the demo's story (issue 13 item 8).
        missing = ["not looked yet"]
        while missing and time.monotonic() < started + 120:
            assert opener is not None
            missing = missing_from_the_story(opener, base, assets_with_readings(opener, base))
            if missing:
                time.sleep(3)
        assert not missing, f"after {time.monotonic() - started:.0f} s the demo lacks {missing}"
        print(f"the demo's story complete after {time.monotonic() - started:.1f} s")
        # Health tells the truth on the demo's own clock: its outlook is fresh (was reported
        # 3 days old: the engine stamps simulated time, /healthz compared it with the wall).
        try:
            health = json.loads(urllib.request.urlopen(base + "/healthz", timeout=10).read())
        except urllib.error.HTTPError as e:
            health = json.loads(e.read())
        assert health["status"] == "ok", health
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "stopped;" in out
    first = stored_frames(tmp_path / "kizashi.db")
    assert first > 12

    # A second start on the same data resumes: nothing stored is lost, boot ids go up.
    proc = start_demo(tmp_path, port)
    try:
        time.sleep(15)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert stored_frames(tmp_path / "kizashi.db") > first
    with sqlite3.connect(tmp_path / "kizashi.db") as con:
        boots = con.execute("SELECT max(boot_id) FROM frames WHERE node_id = 'kz001'").fetchone()[0]
    assert boots >= 2


def test_a_dead_fleet_stops_the_demo_with_an_error(tmp_path: Path) -> None:
    """The simulated nodes run in a child process (kizashi/sim_fleet.py): when it dies the demo
    says so and exits non-zero instead of serving a fleet that no longer reports."""
    proc = start_demo(tmp_path, free_port())
    lines = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the demo prints the fleet's process id once it started
            lines.append(line)
            found = re.match(r"simulated fleet: process (\d+)", line)
            if found:
                os.kill(int(found.group(1)), signal.SIGKILL)
                break
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    out = "".join(lines) + out
    assert proc.returncode == 1, out
    assert "ended by itself" in out and "stopped;" in out
