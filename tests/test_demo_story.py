"""The demo's seeded service story (kizashi/demo_story.py): customers tagged, a finished proactive
job in the past told through the real proposal lifecycle, and KPIs with figures from it."""

from __future__ import annotations

import time
from pathlib import Path

from gateway.kpi_report import inputs_from_store
from gateway.kpis import months, period_kpis
from gateway.store import open_store
from kizashi.demo import DemoOptions, _ensure_registry
from kizashi.demo_fleet import HISTORY_SEED_DAYS, demo_assets
from kizashi.demo_history import seed_history
from kizashi.demo_story import (
    CUSTOMER_USER,
    STORY_ASSET,
    ensure_customer_user,
    seed_story,
    tag_customers,
)


def test_the_seeded_story_gives_the_kpis_figures(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "k.db"))
    try:
        origin = time.time() - 3 * 86400
        _ensure_registry(store, DemoOptions(), time.time())
        seed_history(store, demo_assets(12), origin, HISTORY_SEED_DAYS)
        tag_customers(store)
        pid = seed_story(store, origin)
        assert ensure_customer_user(store) and ensure_customer_user(store) is None
        assert store.user(CUSTOMER_USER).customer == "Naniwa Press"  # type: ignore[union-attr]
        p = store.proposal(pid)
        assert p is not None and (p.state, p.customer, p.asset_id) == (
            "done", "Naniwa Press", STORY_ASSET
        )  # fmt: skip
        steps = [(e.state, e.by) for e in store.proposal_events(pid)]
        assert steps == [("draft", "admin"), ("sent", "admin"), ("accepted", CUSTOMER_USER),
                         ("done", "admin")]  # fmt: skip
        assert [r.state for r in store.reservations(pid)] == ["consumed"]
        assert store.outlooks([STORY_ASSET]) == []  # that day's outlook is not left as today's
        (entry,) = [e for e in store.service_log(STORY_ASSET)]
        assert entry.kind == "replacement" and entry.acted_on_warning
        # from the warning (13 days before origin) to the end of the stop's day (8 days before)
        assert 0 < entry.downtime_avoided_h <= 6 * 24
        assert p.content["totals"]["total"] > 0
        inp = inputs_from_store(store, origin - 60 * 86400, origin + 86400)
        totals = {"warnings": 0, "sent": 0, "accepted": 0, "downtime": 0.0, "revenue": 0.0}
        for per in months(origin, 2):
            k = period_kpis(inp, per)
            totals["warnings"] += k["warnings"]["value"]
            totals["sent"] += k["proposals_sent"]
            totals["accepted"] += k["proposals_accepted"]
            totals["downtime"] += k["downtime_avoided_h"]
            totals["revenue"] += sum(k["revenue_proactive"]["amounts"].values())
        assert totals["warnings"] == 2 and totals["sent"] == 1 and totals["accepted"] == 1
        assert totals["downtime"] == round(entry.downtime_avoided_h, 1)
        assert totals["revenue"] == p.content["totals"]["total"]
        assert store.site_customers()["Osaka Press Shop"] == "Naniwa Press"  # type: ignore[attr-defined]
    finally:
        store.close()
