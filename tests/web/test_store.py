"""The fleet page over the real SQLite store and gateway.forecast (no in-memory fleet)."""

from __future__ import annotations

import re
from typing import Any

from fleet_web import create_app
from fleet_web.users import main as user_main
from gateway.store.api import User

from .conftest import login


def _client(store: Any, name: str = "tech") -> tuple[Any, str]:
    c = create_app({"SECRET_KEY": "k"}, store=store).test_client()
    return c, login(c, name)


def test_overview_and_asset_from_store(sqlite_store: Any) -> None:
    c, _ = _client(sqlite_store)
    rows = c.get("/api/assets?sort=id").json
    assert [r["id"] for r in rows][:2] == ["AS-00001", "AS-00002"] and len(rows) == 12
    a = rows[0]
    assert a["health"] in "ABCD" and a["last_seen"].endswith("Z") and a["runtime_h"] > 1000
    assert (
        a["forecast_status"] == "degrading" and a["rul_p10_h"] <= a["rul_p50_h"] <= a["rul_p90_h"]
    )
    assert a["window_start"] and a["rul_p10_date"]
    h = c.get("/api/assets/AS-00001/history?days=60").json
    assert len(h["vibration"]["t"]) == h["points"] > 900 and h["cone"]["t"]
    for url in (
        "/",
        "/assets/AS-00001",
        "/planner",
        "/nodes",
        "/report/Osaka%20Works",
        "/api/nodes",
        "/api/windows",
        "/api/parts-demand",
        "/export/assets.csv",
    ):
        assert c.get(url).status_code == 200, url
    nodes = c.get("/api/nodes").json
    assert nodes[0]["firmware"] == "1.4.2" and nodes[0]["reset_causes"] == {"power_on": 1}
    assert c.get("/api/parts-demand").json[0]["part"] == "6205-2RS"


def test_replacement_resets_forecast(sqlite_store: Any) -> None:
    c, tok = _client(sqlite_store)
    before = c.get("/api/assets/AS-00001").json
    body = {
        "kind": "replacement",
        "note": "DE bearing",
        "acted_on_warning": True,
        "downtime_avoided_h": 6,
    }
    r = c.post("/api/assets/AS-00001/service", json=body, headers={"X-CSRF-Token": tok})
    assert r.status_code == 201
    after = r.json["asset"]
    assert before["forecast_status"] == "degrading" and after["forecast_status"] != "degrading"
    log = sqlite_store.service_log("AS-00001")
    assert log[-1].kind == "replacement" and log[-1].by == "tech" and log[-1].part_id == "brg"
    assert c.get("/api/summary").json["downtime_avoided_h"] == 6
    assert c.get("/api/assets/AS-00001/service").json[0]["note"] == "DE bearing"


def test_admin_disables_user_in_store(sqlite_store: Any) -> None:
    c, tok = _client(sqlite_store, "admin")
    assert c.post(
        "/admin/users/viewer", data={"role": "viewer", "disabled": "1", "csrf_token": tok}
    )
    assert sqlite_store.user("viewer").password_hash.startswith("!")
    v = create_app({"SECRET_KEY": "k"}, store=sqlite_store).test_client()
    page = v.get("/login").get_data(as_text=True)
    tok2 = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert tok2
    data = {"username": "viewer", "password": "viewer-pass-123", "csrf_token": tok2.group(1)}
    assert v.post("/login", data=data).status_code == 401


def test_user_command(sqlite_store: Any, capsys: Any, monkeypatch: Any) -> None:
    assert (
        user_main(
            ["add", "ana", "--role", "technician", "--password", "0123456789x"], store=sqlite_store
        )
        == 0
    )
    u = sqlite_store.user("ana")
    assert isinstance(u, User) and u.role == "technician" and u.password_hash.startswith("scrypt:")
    monkeypatch.delenv("KIZASHI_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert user_main(["add", "bo", "--role", "viewer"], store=sqlite_store) == 0
    out = capsys.readouterr().out
    assert "generated password: " in out
    pw = out.split("generated password: ")[1].strip()
    c = create_app({"SECRET_KEY": "k"}, store=sqlite_store).test_client()
    login(c, "bo", pw)
    assert (
        user_main(["add", "cy", "--role", "boss", "--password", "0123456789x"], store=sqlite_store)
        == 2
    )
