"""The demo's parts books: a price list for every part number its registry names and some
stock, seeded on the first start only (a change made on the page survives a restart)."""

from __future__ import annotations

import time
from pathlib import Path

from gateway.parts import plan_from_store
from gateway.store import open_store
from kizashi.demo import DemoOptions, _ensure_registry
from kizashi.demo_fleet import demo_assets


def test_demo_seeds_a_catalog_and_stock_once(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "k.db"))
    try:
        now = time.time()
        _ensure_registry(store, DemoOptions(), now)
        numbers = {p.part_number for n in demo_assets(12) for p in n.asset.parts}
        assert {p.part_number for p in store.catalog()} == numbers
        lead = {p.part_number: p.lead_time_days for p in store.catalog()}
        for n in demo_assets(12):  # never shorter than what an asset's registry entry says
            assert all(lead[p.part_number] >= (p.lead_time_days or 0) for p in n.asset.parts)
        assert sum(s.on_hand for s in store.stock()) > 0
        store.set_stock("6205-2Z", "central", 0, "tech")
        _ensure_registry(store, DemoOptions(), now)  # a restart
        assert {s.warehouse: s.on_hand for s in store.stock("6205-2Z")} == {"central": 0}
        advice = {d.part_number: d.advice for d in plan_from_store(store, now)}
        assert set(advice) == numbers
    finally:
        store.close()
