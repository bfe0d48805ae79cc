"""The demo's seeded past (kizashi/demo_history.py) read by the consulting report: the story it
must tell (machines in shifts, one idle, machines in zone C) comes out as recommendations with
their numbers, and nothing is recommended that the demo's data does not hold."""

from __future__ import annotations

import time
from pathlib import Path

from fleet_web import create_app
from gateway.store import open_store
from kizashi.demo_fleet import DEMO_SITE_ZONES, HISTORY_SEED_DAYS, demo_assets
from kizashi.demo_history import seed_history
from tests.web.conftest import add_users, login


def test_the_demo_history_reads_as_advice(tmp_path: Path) -> None:
    st = open_store(str(tmp_path / "k.db"))
    for s in DEMO_SITE_ZONES:
        st.set_site(s)
    specs = demo_assets(12)
    for spec in specs:
        st.upsert_asset(spec.asset)
    now = time.time()
    seed_history(st, specs, now, HISTORY_SEED_DAYS)
    add_users(st)
    app = create_app({"SECRET_KEY": "t", "TESTING": True, "CLOCK": lambda: now}, store=st)
    c = app.test_client()
    login(c, "viewer")
    j = c.get("/api/consulting").get_json()
    recs = {(r["kind"], r["asset_id"]): r for r in j["recommendations"]}
    # the coolant pump runs 10 minutes in 6 hours; the spindles next to it all the time
    idle = recs[("idle", "STG-PMP-01")]
    assert 0.02 < idle["figures"]["utilisation"] < 0.035  # 10 / 360 minutes
    assert "against a median of 100 % for the other 3 machines" in idle["text"]
    # the imbalanced fan and the wearing spindle run in zone C on their own limits
    assert ("zone_time", "OSK-FAN-01") in recs and ("zone_time", "STG-SPD-02") in recs
    assert {k for k, _ in recs} <= {"idle", "zone_time", "zone_shift", "shift_pattern"}
    assert not j["not_enough_data"]  # three weeks of past: every machine judged
    machines = {m["asset_id"]: m for s in j["sites"] for m in s["machines"]}
    assert abs(machines["STG-CMP-01"]["utilisation"] - 1 / 3) < 0.01  # 8 h on, 16 h off
    assert machines["STG-CMP-01"]["starts_per_day"] == 1.0
    html = c.get("/consulting").get_data(as_text=True)
    assert "Coolant pump (STG-PMP-01) ran" in html
    st.close()
