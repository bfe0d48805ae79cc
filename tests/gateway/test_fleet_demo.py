"""`kizashi fleet demo`: two customers' site gateways in one fleet page, no outside service."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from gateway.store.sqlite import SqliteStore
from gateway.uplink.site_commands import SiteCommands
from kizashi.fleet_demo import DEMO_SITE_GATEWAYS, build, commands_in_process, forward_in_process
from tests.web.conftest import login

from .broker import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_fleet_demo_builds_two_sites_in_one_page(tmp_path: Path) -> None:
    from fleet_web import create_app

    central, fwds, applier = build(tmp_path, time.time(), assets_per_site=4)
    try:
        sites = sorted(site for _, _, site, _ in DEMO_SITE_GATEWAYS)
        assert [s.name for s in central.sites()] == sites
        for fwd in fwds:  # every frame of each site gateway is at the centre
            assert fwd.backlog() == 0
        site_frames = sum(len(f.store.frames_after(0, 10**6)) for f in fwds)
        assert len(central.frames_after(0, 10**6)) == site_frames > 0
        assert len(central.outlooks()) == 8  # each site's own outlook, forwarded
        assert central.site_customers() == {s: c for _, c, s, _ in DEMO_SITE_GATEWAYS}
        from fleet_web.auth import hash_password
        from gateway.store.api import User

        central.upsert_user(User("team", hash_password("team-pass-1234"), "viewer"))
        app = create_app({"SECRET_KEY": "x", "TESTING": True}, store=central)
        c = app.test_client()
        login(c, "team", "team-pass-1234")
        assert c.get("/api/sites").get_json() == sites
        # a window planned on the fleet page goes to its site and comes back up once
        boss = create_app({"SECRET_KEY": "x", "TESTING": True, "FLEET_ROLE": True}, store=central)
        central.upsert_user(User("boss", hash_password("boss-pass-1234"), "admin"))
        b = boss.test_client()
        tok = login(b, "boss", "boss-pass-1234")
        site = DEMO_SITE_GATEWAYS[0][2]
        before = len(central.windows(site))
        r = b.post("/planner/windows", data={"site": site, "day": "2031-03-04", "from": "08:00",
                                            "to": "12:00", "note": "from the centre",
                                            "csrf_token": tok})  # fmt: skip
        assert r.status_code == 302 and len(central.windows(site)) == before  # not stored here
        for fwd in fwds:
            apply = SiteCommands(fwd.store, tmp_path / fwd.origin, tmp_path / "secrets")
            commands_in_process(central, fwd.origin, apply)
            forward_in_process(fwd, applier)
            forward_in_process(fwd, applier)
        assert [w.note for w in central.windows(site)].count("from the centre") == 1
        assert [c.state for c in central.fleet_commands()] == ["done"]
    finally:
        for f in fwds:
            f.store.close()
        central.close()


def test_fleet_demo_command_serves_the_page(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kizashi.cli", "fleet", "demo", "--port", str(port),
         "--data-dir", str(tmp_path / "demo"), "--seconds", "6"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        end = time.monotonic() + 60
        body = ""
        while time.monotonic() < end and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as r:
                    body = r.read().decode()
                break
            except OSError:
                time.sleep(0.3)
        assert "csrf" in body
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out[-2000:]
        assert re.search(r"password of admin \(generated, shown once\): \S+", out)
        assert "2 site gateways" in out
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (tmp_path / "demo" / "fleet.db").exists()
    central = SqliteStore(tmp_path / "demo" / "fleet.db")
    assert len(central.sites()) == 2
    central.close()
