"""JSON API, filters, CSV export, service recording, escaping."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import pytest

from fleet_web.data import ASSET_COLUMNS


def test_assets_api_fields(as_role: Any) -> None:
    c, _ = as_role("viewer")
    r = c.get("/api/assets")
    rows = r.json
    assert isinstance(rows, list) and len(rows) == 60 and r.headers["X-Total-Count"] == "60"
    for row in rows:
        for k in (
            "id",
            "last_seen",
            "runtime_h",
            "health",
            "site",
            "machine",
            "readings",
            "rul_p10_h",
            "rul_p50_h",
            "rul_p90_h",
            "window_start",
            "window_end",
        ):
            assert k in row, k
        assert row["health"] in "ABCD" and row["status_text"] and row["action"]
        datetime.fromisoformat(row["last_seen"])
        shown = [row[k] for k in ("rul_p10_h", "rul_p50_h", "rul_p90_h") if row[k] is not None]
        assert shown == sorted(shown)
        # Beyond the horizon a life reads in words, never as hours or a date.
        if row["beyond_horizon"]:
            assert row["rul_p10_h"] is None and row["rul_p10_date"] is None
            assert row["life_text"] == "beyond 5 years" and row["action"] == "none"
    assert any(r["beyond_horizon"] for r in rows) and any(r["rul_p10_date"] for r in rows)


def test_filter_sort_search_page(as_role: Any) -> None:
    c, _ = as_role("viewer")
    rows = c.get("/api/assets?health=CD").json
    assert rows and all(r["health"] in "CD" for r in rows)
    rows = c.get("/api/assets?site=Kobe+Yard&sort=vel_rms&order=desc").json
    assert rows and {r["site"] for r in rows} == {"Kobe Yard"}
    v = [r["vel_rms"] for r in rows]
    assert v == sorted(v, reverse=True)
    assert [r["id"] for r in c.get("/api/assets?q=as-00007").json] == ["AS-00007"]
    page = c.get("/api/assets?sort=id&offset=10&limit=5")
    assert [r["id"] for r in page.json] == [f"AS-{i:05d}" for i in range(11, 16)]
    assert page.headers["X-Total-Count"] == "60"
    html = c.get("/?q=AS-00007").get_data(as_text=True)
    assert "AS-00007" in html and "AS-00008" not in html
    # Keys the page does not know are ignored, not passed on to its links (was a 500).
    for extra in ("format=json", "_external=1", "_anchor=x", "_scheme=javascript"):
        resp = c.get("/?q=AS-00007&" + extra)
        assert resp.status_code == 200, extra
        assert "AS-00007" in resp.get_data(as_text=True)


def test_summary_tiles(as_role: Any) -> None:
    c, _ = as_role("viewer")
    s = c.get("/api/summary").json
    assert s["assets"] == 60 and set(s["due"]) == {"2", "4", "8"}
    assert s["due"]["2"] <= s["due"]["4"] <= s["due"]["8"]
    assert sum(s["zones"].values()) == 60


def test_csv_everywhere(as_role: Any) -> None:
    c, _ = as_role("admin")
    r = c.get("/api/assets?format=csv")
    assert r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert tuple(rows[0]) == ASSET_COLUMNS and len(rows) == 61
    for t in (
        "assets",
        "nodes",
        "events",
        "service",
        "ledger",
        "windows",
        "jobs",
        "parts-demand",
        "unplanned",
        "users",
    ):
        r = c.get(f"/export/{t}.csv")
        assert r.status_code == 200 and r.mimetype == "text/csv", t
    assert c.get("/export/nope.csv").status_code == 404
    for url in (
        "/api/nodes",
        "/api/windows",
        "/api/parts-demand",
        "/api/events",
        "/api/service",
        "/api/ledger",
        "/api/assets/AS-00001/events",
        "/api/assets/AS-00001/parts",
    ):
        r = c.get(url + "?format=csv")
        assert r.status_code == 200 and r.mimetype == "text/csv", url


def test_record_replacement_changes_forecast(as_role: Any) -> None:
    c, tok = as_role("tech")
    worst = c.get("/api/assets?sort=rul_p50_h&limit=1").json[0]
    assert worst["forecast_status"] == "degrading"
    body = {
        "kind": "replacement",
        "note": "bearing noisy",
        "acted_on_warning": True,
        "downtime_avoided_h": 16,
    }
    parts_url = f"/api/assets/{worst['id']}/parts"
    keys = {"part", "name", "role", "since", "since_source"}  # as the store-backed fleet
    (before,) = c.get(parts_url).json
    assert keys <= before.keys() and before["since_source"] == "first_data"
    r = c.post(f"/api/assets/{worst['id']}/service", json=body, headers={"X-CSRF-Token": tok})
    assert r.status_code == 201
    assert c.get(parts_url).json[0]["since_source"] == "replacement"
    after = c.get(f"/api/assets/{worst['id']}").json  # recomputed by the gateway's engine
    assert after["forecast_status"] != "degrading"
    assert after["rul_p50_h"] is None or after["rul_p50_h"] > worst["rul_p50_h"]
    log = c.get(f"/api/assets/{worst['id']}/service").json
    assert log[0]["kind"] == "replacement" and log[0]["user"] == "tech"
    s = c.get("/api/summary").json
    assert s["downtime_avoided_h"] == 16 and s["warnings_acted_on"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "bogus"},
        {"kind": "inspection", "acted_on_warning": True, "downtime_avoided_h": "x"},
        {"kind": "inspection", "downtime_avoided_h": 3},
        {"kind": "replacement", "part": "not-this-part"},
        {"kind": "inspection", "date": "2999-12-31"},
        [],
    ],
)
def test_record_rejects_bad_input(as_role: Any, body: Any) -> None:
    c, tok = as_role("tech")
    r = c.post("/api/assets/AS-00001/service", json=body, headers={"X-CSRF-Token": tok})
    assert r.status_code == 400


def test_asset_history_bounded(as_role: Any) -> None:
    c, _ = as_role("viewer")
    h = c.get("/api/assets/AS-00003/history?days=365").json
    assert h["points"] > 1200 and len(h["vibration"]["t"]) <= 1200
    assert set(h["zones"]) == {"A", "B", "C"}
    assert c.get("/api/assets/NOPE").status_code == 404
    assert c.get("/assets/NOPE").status_code == 404


def test_pages_render(as_role: Any) -> None:
    c, _ = as_role("admin")
    for url in (
        "/",
        "/assets/AS-00001",
        "/planner",
        "/planner?site=Kobe+Yard",
        "/nodes",
        "/report/Kobe%20Yard",
        "/admin",
    ):
        r = c.get(url)
        assert r.status_code == 200, url
        assert b'<script src="http' not in r.data and b"https://" not in r.data
    rep = c.get("/report/Kobe%20Yard").get_data(as_text=True)
    assert "Recommendations" in rep and "runtime per day" in rep.lower()
    assert c.get("/report/Nowhere").status_code == 404
    assert "@media print" in c.get("/static/app.css").get_data(as_text=True)


def test_markup_in_names_is_escaped(as_role: Any, fleet: Any) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    fleet.update_asset("AS-00001", {"name": evil, "site": "Kobe Yard", "machine": "=HYPERLINK(1)"})
    c, _ = as_role("admin")
    for url in ("/?q=AS-00001", "/assets/AS-00001", "/admin", "/report/Kobe%20Yard"):
        html = c.get(url).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, url
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html, url
    out = c.get("/export/assets.csv").get_data(as_text=True)
    assert "'=HYPERLINK(1)" in out  # no formula injection into spreadsheets
    assert c.get("/api/assets/AS-00001").json["name"] == evil  # JSON carries the raw value


def test_admin_forms(as_role: Any, fleet: Any) -> None:
    c, tok = as_role("admin")
    r = c.post(
        "/admin/users",
        data={"name": "ops", "role": "technician", "password": "0123456789a", "csrf_token": tok},
    )
    assert r.status_code == 302 and fleet.get_user("ops")["role"] == "technician"
    r = c.post(
        "/admin/users", data={"name": "x", "role": "viewer", "password": "short", "csrf_token": tok}
    )
    assert r.status_code == 400
    r = c.post("/admin/users/ops", data={"role": "viewer", "csrf_token": tok})
    assert r.status_code == 302 and fleet.get_user("ops")["role"] == "viewer"
    assert (
        c.post("/admin/users/admin", data={"role": "viewer", "csrf_token": tok}).status_code == 400
    )
    r = c.post("/admin/assets/AS-00002", data={"name": "Renamed", "csrf_token": tok})
    assert r.status_code == 302 and fleet.asset("AS-00002")["name"] == "Renamed"
    r = c.post("/admin/nodes/nd-00003", data={"asset_id": "AS-00004", "csrf_token": tok})
    assert r.status_code == 302 and fleet.asset("AS-00004")["node_id"] == "nd-00003"


def test_report_and_ledger_json(as_role: Any) -> None:
    c, tok = as_role("tech")
    rep = c.get("/api/report/Kobe%20Yard?days=14").json
    assert rep["site"] == "Kobe Yard" and len(rep["runtime_per_day"]) == 14
    assert 0 < rep["utilisation"] <= 1 and set(rep["zones"]) == set("ABCD")
    assert all("due_ts" not in a for a in rep["assets"])
    body = {"kind": "inspection", "acted_on_warning": "on", "downtime_avoided_h": "4.5"}
    assert (
        c.post("/api/assets/AS-00004/service", json=body, headers={"X-CSRF-Token": tok}).status_code
        == 201
    )
    led = c.get("/api/ledger").json
    assert led[0]["asset_id"] == "AS-00004" and led[0]["downtime_avoided_h"] == 4.5
    assert led[0]["ts"].endswith("Z")


def test_static_assets_are_self_contained() -> None:
    """No CDN, font service or other download: the page works without internet."""
    import re
    from pathlib import Path

    import fleet_web

    root = Path(fleet_web.__file__).parent
    files = [*root.glob("static/*"), *root.glob("templates/*.html")]
    assert len(files) > 10
    for f in files:
        urls = re.findall(r"(?:https?:)?//[\w.-]+\.\w+", f.read_text())
        assert all("www.w3.org" in u for u in urls), (f.name, urls)
