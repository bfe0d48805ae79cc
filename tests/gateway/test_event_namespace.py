"""Issue 15 items 4 and 15 on the reading side: a node cannot raise the gateway's alarms on the
page, and a frame stamped 2106 (stored before ingest bounded node time) does not freeze an
asset's alarms."""

from __future__ import annotations

from pathlib import Path

from fleet_web.adapter import StoreFleet
from gateway.analytics import HealthMonitor
from gateway.store.api import Asset, EventRecord, WriteBatch
from gateway.store.sqlite import SqliteStore
from tests.analytics.test_analytics import REPORT_S, T0, report


def test_node_event_with_a_gateway_alarm_code_is_shown_as_the_nodes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "gw.db")
    try:
        store.upsert_asset(Asset("P-1", "Site", "Pump", "n1", "group2_rigid"))
        store.write_batch(
            WriteBatch(
                events=[
                    EventRecord(T0, "n1", "alarm_danger", {"from": "forged"}, 1, 5),  # the node
                    EventRecord(T0 + 1, "n1", "alarm_danger", {"zone": "D"}, source="gateway"),
                ]
            )
        )
        rows = {r["source"]: r for r in StoreFleet(store).events("P-1")}
        assert rows["gateway"]["kind"] == "alarm_danger"
        assert rows["gateway"]["severity"] == "alarm"
        assert rows["node"]["kind"] == "node:alarm_danger"
        assert rows["node"]["severity"] == "info"
    finally:
        store.close()


def test_far_future_watermark_does_not_freeze_alarms(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "gw.db")
    try:
        store.upsert_asset(Asset("P-1", "Site", "Pump", "n1", "group2_rigid"))
        store.write_batch(WriteBatch(frames=[report("n1", 1, T0 + REPORT_S, 1.0, REPORT_S)]))
        forged = report("n1", 2, T0 + 2 * REPORT_S, 1.0, 2 * REPORT_S)
        forged = forged._replace(ts=4_294_967_295.0)  # stamped 2106, received at T0 + 600
        store.write_batch(WriteBatch(frames=[forged]))
        mon = HealthMonitor(store, tmp_path / "health.json")
        mon.step()
        danger = [report("n1", s, T0 + s * REPORT_S, 9.0, s * REPORT_S) for s in (3, 4, 5)]
        store.write_batch(WriteBatch(frames=danger))
        mon.step()
        assert mon.alarm_state("P-1") == "danger"
        assert any(e.code == "alarm_danger" for e in store.events(limit=100))
    finally:
        store.close()


def test_api_nodes_stays_valid_json_with_stored_nan(tmp_path: Path) -> None:
    """Issue 15 item 12, API path: a birth stored with NaN/Infinity before the protocol refused
    them (written straight to the store here) still gives valid JSON on /api/nodes and
    /api/events."""
    import json
    import math

    from fleet_web import create_app
    from gateway.store.api import BirthRecord
    from tests.web.conftest import add_users, login

    store = SqliteStore(tmp_path / "gw.db")
    try:
        add_users(store)
        store.write_batch(
            WriteBatch(
                births=[BirthRecord("n1", 1, T0, {"fw": "1", "x": math.nan, "y": math.inf})],
                events=[EventRecord(T0, "n1", "fault", {"v": -math.inf})],
            )
        )
        app = create_app({"SECRET_KEY": "x", "TESTING": True}, store=store)
        client = app.test_client()
        login(client, "viewer")
        for url in ("/api/nodes", "/api/events"):
            r = client.get(url)
            assert r.status_code == 200, url
            text = r.get_data(as_text=True)
            json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
            assert "NaN" not in text and "Infinity" not in text
    finally:
        store.close()


def test_node_sent_gateway_codes_are_no_kizashi_warning_for_the_ledger(tmp_path: Path) -> None:
    """The downtime-avoided ledger credits a repair to a Kizashi warning: a node sending the
    gateway's own codes must not earn that credit."""
    from gateway.service_entry import first_warning

    store = SqliteStore(tmp_path / "gw.db")
    try:
        asset = Asset("P-1", "Site", "Pump", "n1", "group2_rigid")
        store.upsert_asset(asset)
        forged = [EventRecord(T0, "n1", c, {}, 1, i) for i, c in enumerate(("alarm_danger",
                  "alarm_alert", "baseline_change"))]  # fmt: skip
        store.write_batch(WriteBatch(events=forged))
        assert first_warning(store, asset, "2025-12-31") is None
        store.write_batch(
            WriteBatch(events=[EventRecord(T0 + 60, "n1", "alarm_danger", {}, source="gateway")])
        )
        assert first_warning(store, asset, "2025-12-31") == T0 + 60
    finally:
        store.close()
