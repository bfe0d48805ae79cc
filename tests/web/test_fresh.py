"""Fresh: what the store committed a moment ago is on the overview's JSON without a reload,
and the gateway's outlook of it within its step (issue 13 item 3)."""

from __future__ import annotations

import threading
import time
from typing import Any

from fleet_web import create_app
from gateway.outlook import OutlookEngine
from gateway.store.api import BirthRecord, EventRecord, FrameRecord, WriteBatch

from .conftest import login


def _frames(node: str, seq: int, vel: float, n: int) -> list[FrameRecord]:
    now, v = time.time(), int(vel * 100)
    return [
        FrameRecord(
            node_id=node, boot_id=1, seq=seq + k, kind="report", node_time=int(now),
            recv_time=now, ts=now - (n - 1 - k), payload=b"", flags=1, dropped=0,
            runtime_s=9_000_000 + k, starts=2000, acc_rms_mg=(v, v, v),
            vel_rms_mm_s_x100=(v, v, v), peak_mg=v * 3, kurtosis_x100=20, temp_c_x10=400,
        )
        for k in range(n)
    ]  # fmt: skip


def _poll(c: Any, url: str, ok: Any, limit_s: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        (row,) = c.get(url).json
        if ok(row):
            return time.monotonic() - t0
        time.sleep(0.1)
    raise AssertionError(f"not on {url} within {limit_s} s: {row}")


def test_a_committed_frame_reaches_the_overview_json_without_a_reload(sqlite_store: Any) -> None:
    app = create_app({"SECRET_KEY": "k"}, store=sqlite_store)
    c = app.test_client()
    login(c, "viewer")
    url = "/api/assets?q=AS-00002"
    before = c.get(url).json[0]
    assert before["health"] == "A" and c.get("/api/assets").status_code == 200  # cached now
    engine = OutlookEngine(sqlite_store)
    stop = threading.Event()

    def gateway_task() -> None:  # the gateway's outlook task, stepping as in serve()
        while not stop.is_set():
            engine.step()
            stop.wait(1.0)

    th = threading.Thread(target=gateway_task, daemon=True)
    th.start()
    try:
        sqlite_store.write_batch(WriteBatch(frames=_frames("nd-00002", 50_000, 6.0, 12)))
        took = _poll(c, url, lambda r: r["vel_rms"] == 6.0, 3.0)  # the reading itself
        assert took < 3.0
        _poll(c, url, lambda r: r["health"] == "D" and r["action"] == "stop_now", 5.0)
        assert c.get("/api/summary").json["zones"]["D"] >= 1
    finally:
        stop.set()
        th.join(5)


def test_nodes_show_battery_and_rssi_only_where_a_node_sends_them(sqlite_store: Any) -> None:
    c = create_app({"SECRET_KEY": "k"}, store=sqlite_store).test_client()
    login(c, "viewer")
    page = c.get("/nodes").get_data(as_text=True)
    assert "Battery" not in page and "mains" not in page and "dBm" not in page
    info = {"fw": "1.4.2", "board": "esp32", "battery_v": 3.31, "rssi_dbm": -67}
    sqlite_store.write_batch(WriteBatch(births=[BirthRecord("nd-00002", 2, time.time(), info)]))
    page = c.get("/nodes").get_data(as_text=True)
    assert "Battery" in page and "3.31 V" in page and "-67" in page
    rows = {n["id"]: n for n in c.get("/api/nodes").json}
    assert rows["nd-00002"]["battery_v"] == 3.31 and rows["nd-00003"]["battery_v"] is None


def test_nodes_show_the_newest_wifi_rssi(sqlite_store: Any) -> None:
    """The birth's RSSI until a newer hourly `wifi_rssi` event; a later birth wins again."""
    c = create_app({"SECRET_KEY": "k"}, store=sqlite_store).test_client()
    login(c, "viewer")
    t = time.time()
    info = {"fw": "0.2.0", "board": "esp32", "rssi_dbm": -67}

    def rssi() -> Any:
        return {n["id"]: n for n in c.get("/api/nodes").json}["nd-00002"]["rssi_dbm"]

    sqlite_store.write_batch(WriteBatch(births=[BirthRecord("nd-00002", 2, t - 7200, info)]))
    assert rssi() == -67
    ev = EventRecord(t - 3600, "nd-00002", "wifi_rssi", {"rssi_dbm": -81}, 2, 40)
    sqlite_store.write_batch(WriteBatch(events=[ev]))
    assert rssi() == -81
    assert "-81" in c.get("/nodes").get_data(as_text=True)
    info2 = dict(info, rssi_dbm=-55)
    sqlite_store.write_batch(WriteBatch(births=[BirthRecord("nd-00002", 3, t, info2)]))
    assert rssi() == -55


def test_a_stopped_machine_reading_is_marked_beside_its_running_zone(sqlite_store: Any) -> None:
    # Running in zone B, then stopped: the newest reading (0.02 mm/s) is not what the zone is
    # judged on, and the page says so instead of showing "B 0.02" unexplained.
    sqlite_store.write_batch(WriteBatch(frames=_frames("nd-00002", 50_000, 2.0, 12)))
    idle = _frames("nd-00002", 50_012, 0.02, 1)[0]
    sqlite_store.write_batch(WriteBatch(frames=[idle._replace(flags=0)]))
    OutlookEngine(sqlite_store).step()
    c = create_app({"SECRET_KEY": "k"}, store=sqlite_store).test_client()
    login(c, "viewer")
    (row,) = c.get("/api/assets?q=AS-00002").json
    assert row["vel_rms"] == 0.02 and row["health"] == "B" and row["readings"]["running"] is False
    page = c.get("/?q=AS-00002").get_data(as_text=True)
    assert 'class="sub stopped"' in page
    asset = c.get("/assets/AS-00002").get_data(as_text=True)
    assert "stopped now; running level 2.00 mm/s (the zone is judged on it)" in asset
    # A running machine carries no such note.
    running = [r["id"] for r in c.get("/api/assets").json if (r["readings"] or {}).get("running")]
    other = c.get(f"/?q={running[0]}").get_data(as_text=True)
    assert running[0] in other and 'class="sub stopped"' not in other
