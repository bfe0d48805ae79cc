"""The fleet page over the real SQLite store and gateway.forecast (no in-memory fleet)."""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any

from fleet_web import create_app
from fleet_web.users import main as user_main
from gateway.store.api import ServiceEntry, User

from .conftest import gateway_step, login


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
    assert a["service_due"] and a["rul_p10_date"]
    # Zone C rising 0.015 mm/s per running hour: zone D (4.5 mm/s) comes before the first
    # planned stop the part can make, so an unplanned stop before then, with the date shown.
    assert a["health"] == "C" and a["action"] == "unplanned_stop" and a["zone_d_at"]
    assert "reaches zone D (4.5 mm/s) in about" in a["action_text"]
    assert a["pace"]["zone"] == "D" and a["pace"]["day"] == a["service_due"]
    page = c.get("/assets/AS-00001").get_data(as_text=True)
    assert "Pace toward zone D" in page
    # Its part arrives after the stop-by date: the order-by date has passed, and the page says
    # so instead of asking for an order by a past date; a planned job keeps its order-by date.
    assert a["order_late"] and a["order_by"] < a["outlook_at"]
    assert 'id="order-late"' in page and "has passed" in page and " Order by " not in page
    planned = next(r for r in rows if r["action"] == "plan" and r["order_by"])
    assert not planned["order_late"]
    page = c.get(f"/assets/{planned['id']}").get_data(as_text=True)
    assert " Order by " in page and 'id="order-late"' not in page
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


def _login_form(c: Any, name: str, password: str) -> Any:
    page = c.get("/login").get_data(as_text=True)
    tok = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert tok
    data = {"username": name, "password": password, "csrf_token": tok.group(1)}
    return c.post("/login", data=data)


def test_admin_disables_user_in_store(sqlite_store: Any) -> None:
    before = sqlite_store.user("viewer")
    session, _ = _client(sqlite_store, "viewer")  # logged in before being disabled
    assert session.get("/api/assets").status_code == 200
    c, tok = _client(sqlite_store, "admin")
    r = c.post("/admin/users/viewer", data={"role": "viewer", "disabled": "1", "csrf_token": tok})
    assert r.status_code == 302
    u = sqlite_store.user("viewer")
    assert u.disabled and u.password_hash == before.password_hash and u.role == "viewer"
    users = {x["name"]: x for x in c.get("/api/users").json}
    assert users["viewer"]["disabled"] is True and users["tech"]["disabled"] is False
    assert "password_hash" not in users["viewer"]
    assert session.get("/api/assets").status_code == 401  # its session ended
    # The right password is refused with the same answer as a wrong one.
    v = create_app({"SECRET_KEY": "k"}, store=sqlite_store).test_client()
    right = _login_form(v, "viewer", "viewer-pass-123")
    wrong = _login_form(v, "viewer", "not-the-password")
    assert right.status_code == wrong.status_code == 401
    assert right.get_data(as_text=True) == wrong.get_data(as_text=True)
    # Re-enabling keeps the password: the user can log in again.
    r = c.post("/admin/users/viewer", data={"role": "viewer", "csrf_token": tok})
    assert r.status_code == 302 and not sqlite_store.user("viewer").disabled
    assert _login_form(v, "viewer", "viewer-pass-123").status_code == 302


def test_disabled_user_counts_towards_lockout(sqlite_store: Any) -> None:
    sqlite_store.upsert_user(dataclasses.replace(sqlite_store.user("viewer"), disabled=True))
    v = create_app({"SECRET_KEY": "k"}, store=sqlite_store).test_client()
    for _ in range(5):
        assert _login_form(v, "viewer", "viewer-pass-123").status_code == 401
    assert _login_form(v, "viewer", "viewer-pass-123").status_code == 429


def test_disabled_user_requires_csrf_to_log_in(sqlite_store: Any) -> None:
    v = create_app({"SECRET_KEY": "k"}, store=sqlite_store).test_client()
    v.get("/login")
    data = {"username": "viewer", "password": "viewer-pass-123"}
    assert v.post("/login", data=data).status_code == 400


def test_ledger_uses_service_entry_fields(sqlite_store: Any) -> None:
    c, tok = _client(sqlite_store)
    h = {"X-CSRF-Token": tok}
    body = {"kind": "inspection", "note": "loose foot", "acted_on_warning": True,
            "downtime_avoided_h": 4.5}  # fmt: skip
    # AS-00004 degrades: the synthetic gateway raised a baseline-change warning for it.
    r = c.post("/api/assets/AS-00004/service", json=body, headers=h)
    assert r.status_code == 201 and r.json["acted_on_warning"] and r.json["note"] == "loose foot"
    # Hours without acting on a warning are refused, not silently dropped.
    body = {"kind": "inspection", "note": "routine", "downtime_avoided_h": 9}
    r = c.post("/api/assets/AS-00003/service", json=body, headers=h)
    assert r.status_code == 400 and "warning" in r.get_data(as_text=True)
    body = {"kind": "inspection", "note": "routine"}
    assert c.post("/api/assets/AS-00003/service", json=body, headers=h).status_code == 201
    entries = {e.finding: e for e in sqlite_store.service_log()}
    acted, routine = entries["loose foot"], entries["routine"]
    assert acted.acted_on_warning and acted.downtime_avoided_h == 4.5 and acted.by == "tech"
    assert not routine.acted_on_warning and routine.downtime_avoided_h == 0.0
    # An entry written straight to the store (gateway CLI, another tool) is in the ledger too,
    # but one that claims hours without a warning on record is only counted once reviewed.
    sqlite_store.add_service_entry(
        ServiceEntry("AS-00004", "2024-01-05", "failure", finding="seized", by="ana",
                     acted_on_warning=True, downtime_avoided_h=12.0)
    )  # fmt: skip
    ledger = c.get("/api/ledger").json
    assert {(e["asset_id"], e["note"], e["downtime_avoided_h"]) for e in ledger} == {
        ("AS-00004", "loose foot", 4.5),
        ("AS-00004", "seized", 12.0),
    }
    assert {e["note"]: e["needs_review"] for e in ledger} == {"loose foot": False, "seized": True}
    assert all("[kizashi:" not in e["note"] for e in c.get("/api/service").json)
    summary = c.get("/api/summary").json
    assert summary["downtime_avoided_h"] == 4.5 and summary["warnings_acted_on"] == 2
    assert summary["to_review"] == 1
    assert "loose foot" in c.get("/export/ledger.csv").get_data(as_text=True)


def test_part_since_is_latest_replacement_or_first_data(sqlite_store: Any) -> None:
    c, tok = _client(sqlite_store)
    first = sqlite_store.hourly_history("AS-00005", 0.0, 1e15)[0].hour
    (p,) = c.get("/api/assets/AS-00005/parts").json
    assert p["part"] == "6205-2RS" and p["since_source"] == "first_data"
    assert p["since"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(first))
    sqlite_store.add_service_entry(ServiceEntry("AS-00005", "2020-01-01", "replacement", "brg"))
    sqlite_store.add_service_entry(ServiceEntry("AS-00005", "2021-03-04", "replacement", "brg"))
    sqlite_store.add_service_entry(ServiceEntry("AS-00005", "2022-01-01", "inspection", "brg"))
    sqlite_store.add_service_entry(ServiceEntry("AS-00005", "2023-01-01", "replacement", "xyz"))
    (p,) = c.get("/api/assets/AS-00005/parts").json
    assert (p["since"], p["since_source"]) == ("2021-03-04T00:00:00Z", "replacement")
    # By part number, too (what the page's service form may send).
    body = {"kind": "replacement", "part": "6205-2RS"}
    r = c.post("/api/assets/AS-00005/service", json=body, headers={"X-CSRF-Token": tok})
    assert r.status_code == 201
    (p,) = c.get("/api/assets/AS-00005/parts").json
    assert p["since"] == r.json["date"] + "T00:00:00Z" and p["since_source"] == "replacement"
    page = c.get("/assets/AS-00005").get_data(as_text=True)
    # Shown in the site's zone (UTC here), with its offset in the machine-readable attribute.
    assert f'<td>installed</td><td><time datetime="{p["since"][:10]}T00:00:00+00:00">' in page


def test_service_entry_rules(sqlite_store: Any) -> None:
    """Wrong date, unknown part, ambiguous part: a clear 400 and nothing stored."""
    c, tok = _client(sqlite_store)
    h = {"X-CSRF-Token": tok}
    url = "/api/assets/AS-00006/service"
    before = len(sqlite_store.service_log())
    bad = [
        ({"kind": "replacement", "date": "2999-01-01"}, "in the future"),
        ({"kind": "replacement", "date": "05/01/2024"}, "YYYY-MM-DD"),
        ({"kind": "replacement", "date": 20240105}, "date must be"),
        ({"kind": "replacement", "part": "6205"}, "has no part '6205'"),
        ({"kind": "failure", "downtime_avoided_h": -1, "acted_on_warning": True}, ">= 0"),
    ]
    for body, reason in bad:
        r = c.post(url, json=body, headers=h)
        assert r.status_code == 400 and reason in r.get_data(as_text=True), (body, r.data)
    assert len(sqlite_store.service_log()) == before
    # A backdated replacement by part number: stored under the part id, wear reset at that date.
    r = c.post(url, json={"kind": "replacement", "part": "6205-2RS", "date": "2024-02-03"},
               headers=h)  # fmt: skip
    assert r.status_code == 201 and r.json["date"] == "2024-02-03"
    (p,) = c.get("/api/assets/AS-00006/parts").json
    assert (p["since"], p["since_source"]) == ("2024-02-03T00:00:00Z", "replacement")
    assert sqlite_store.service_log("AS-00006")[-1].part_id == r.json["part"] != "6205-2RS"
    # With two parts a replacement must say which; an inspection need not.
    a = sqlite_store.asset("AS-00006")
    extra = dataclasses.replace(a.parts[0], part_id="fan", name="Fan bearing", part_number="")
    sqlite_store.upsert_asset(dataclasses.replace(a, parts=(*a.parts, extra)))
    r = c.post(url, json={"kind": "replacement"}, headers=h)
    assert r.status_code == 400 and "name one" in r.get_data(as_text=True)
    assert c.post(url, json={"kind": "inspection"}, headers=h).status_code == 201
    assert c.post(url, json={"kind": "failure", "part": "fan"}, headers=h).status_code == 201
    page = c.get("/assets/AS-00006").get_data(as_text=True)
    assert '<option value="fan">fan (Fan bearing)</option>' in page and 'type="date"' in page


def test_stop_hours_and_repair_cost(sqlite_store: Any) -> None:
    """A failure's stop hours and invoice: stored when given, a clear 400 when not a number,
    negative, not finite or too long, and absent or empty means not recorded."""
    c, tok = _client(sqlite_store)
    h = {"X-CSRF-Token": tok}
    url = "/api/assets/AS-00005/service"
    before = len(sqlite_store.service_log())
    bad = [
        ({"kind": "failure", "stop_h": "long"}, "stop_h must be a number"),
        ({"kind": "failure", "stop_h": True}, "stop_h must be a number"),
        ({"kind": "failure", "stop_h": -2}, "stop_h (hours the machine stood still) must be"),
        ({"kind": "failure", "stop_h": "nan"}, "finite number >= 0"),
        ({"kind": "failure", "stop_h": 2161}, "more than 2160 h"),
        ({"kind": "failure", "repair_cost": [1]}, "repair_cost must be a number"),
        ({"kind": "failure", "repair_cost": -10}, "repair_cost (what the job was invoiced)"),
        ({"kind": "failure", "repair_cost": "inf"}, "finite amount >= 0"),
    ]
    for body, reason in bad:
        r = c.post(url, json=body, headers=h)
        assert r.status_code == 400 and reason in r.get_data(as_text=True), (body, r.data)
    assert len(sqlite_store.service_log()) == before  # nothing stored
    r = c.post(url, json={"kind": "failure", "stop_h": 30.5, "repair_cost": 1800}, headers=h)
    assert r.status_code == 201 and (r.json["stop_h"], r.json["repair_cost"]) == (30.5, 1800.0)
    r = c.post(url, json={"kind": "inspection", "stop_h": None, "repair_cost": ""}, headers=h)
    assert r.status_code == 201 and (r.json["stop_h"], r.json["repair_cost"]) == (None, None)
    page = c.get("/assets/AS-00005").get_data(as_text=True)
    assert 'name="stop_h"' in page and 'name="repair_cost"' in page
    form = {"kind": "failure", "stop_h": "4", "repair_cost": "", "csrf_token": tok}
    r = c.post("/assets/AS-00005/service", data=form)
    assert r.status_code in (302, 303)
    got = [(e.kind, e.stop_h, e.repair_cost) for e in sqlite_store.service_log("AS-00005")]
    assert got[-3:] == [("failure", 30.5, 1800.0), ("inspection", None, None),
                        ("failure", 4.0, None)]  # fmt: skip
    csv_head = c.get(url + "?format=csv").get_data(as_text=True).splitlines()[0]
    assert csv_head.endswith("stop_h,repair_cost")


def _report(store: Any, node: str, seq: int, vel_mm_s: float, n: int = 12) -> None:
    """`n` more running reports from a node, the last one now, at the given velocity RMS (all
    axes): the zone follows the median of the recent running readings, not one point."""
    from gateway.store.api import FrameRecord, WriteBatch

    now = time.time()
    v = int(vel_mm_s * 100)
    store.write_batch(WriteBatch(frames=[FrameRecord(
        node_id=node, boot_id=1, seq=seq + k, kind="report", node_time=int(now), recv_time=now,
        ts=now - (n - 1 - k) * 60, payload=b"", flags=1, dropped=0,
        runtime_s=3_600_000 + 900 * 3600 + k * 60, starts=1100, acc_rms_mg=(v * 3,) * 3,
        vel_rms_mm_s_x100=(v, v, v), peak_mg=v * 9, kurtosis_x100=20, temp_c_x10=450,
    ) for k in range(n)]))  # fmt: skip


def test_measured_zone_drives_the_plan(sqlite_store: Any) -> None:
    """Zone C books the first planned stop the part can make; zone D needs an unplanned stop,
    even while the wear forecast sees no trend (ISO 10816/20816 zone guidance)."""
    c, _ = _client(sqlite_store)  # AS-00008 and AS-00009 are the steady ones (synth.py)
    calm = c.get("/api/assets/AS-00008").json
    assert calm["health"] == "A" and calm["window_start"] is None and calm["plan_reason"] is None
    windows = sorted((w for w in sqlite_store.windows(calm["site"])), key=lambda w: w.start)
    lead_s = 5 * 86400  # the part's lead time in the synthetic registry
    first = next(w for w in windows if w.start >= time.time() + lead_s)
    _report(sqlite_store, "nd-00008", 24 * 40 + 1, 3.5)  # group 2 rigid: zone C is 2.8-4.5
    _report(sqlite_store, "nd-00009", 24 * 40 + 1, 6.0)  # zone D
    gateway_step(sqlite_store)  # the gateway's outlook task
    c, _ = _client(sqlite_store)  # a fresh page process: no cached snapshot
    zc = c.get("/api/assets/AS-00008").json
    assert (zc["health"], zc["plan"], zc["plan_reason"]) == ("C", "planned", "zone_C")
    assert zc["window_start"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(first.start))
    zd = c.get("/api/assets/AS-00009").json
    assert (zd["health"], zd["plan"], zd["plan_reason"]) == ("D", "unplanned_stop_needed", "zone_D")
    assert zd["window_start"] is None and zd["service_due"]
    (u,) = [r for r in c.get("/api/unplanned").json if r["asset_id"] == "AS-00009"]
    assert "zone D" in u["reason"] and u["stop_by"] == zd["service_due"]
    jobs = [j for w in c.get("/api/windows").json for j in w["jobs"]]
    assert {"asset_id": "AS-00008", "kind": "remedial action (zone C)"}.items() <= next(
        j for j in jobs if j["asset_id"] == "AS-00008"
    ).items()
    # No bearing signs (kurtosis 0.2): remedial action first, and no bearing booked for it.
    job = next(j for j in jobs if j["asset_id"] == "AS-00008")
    assert job["part"] is None and job["parts_needed"] == []
    planner = c.get("/planner").get_data(as_text=True)
    assert "Unplanned stops needed" in planner and "Pump 9" in planner
    overview = c.get("/").get_data(as_text=True)
    assert "unplanned stop by " + zd["service_due"] in overview


def test_asset_own_zone_limits(sqlite_store: Any) -> None:
    a = sqlite_store.asset("AS-00008")
    c, _ = _client(sqlite_store)
    before = c.get("/api/assets/AS-00008").json
    assert before["zone_source"] == "group2_rigid" and before["zones"]["C"] == 4.5
    sqlite_store.upsert_asset(dataclasses.replace(a, zone_limits=(0.1, 0.2, 0.3)))
    gateway_step(sqlite_store)  # the gateway re-judges a registry change (e.g. from the CLI)
    c, _ = _client(sqlite_store)
    after = c.get("/api/assets/AS-00008").json
    assert after["zone_source"] == "asset" and after["zones"] == {"A": 0.1, "B": 0.2, "C": 0.3}
    assert after["health"] == "D" and after["plan_reason"] == "zone_D"


def test_admin_sets_group_and_own_limits(sqlite_store: Any) -> None:
    c, tok = _client(sqlite_store, "admin")
    form = {"name": "Pump 8", "site": "", "machine": "", "csrf_token": tok}
    page = c.get("/admin").get_data(as_text=True)
    assert 'name="machine_group"' in page and "<option selected>group2_rigid</option>" in page
    r = c.post(
        "/admin/assets/AS-00008", data={**form, "machine_group": "class_I", "zones": "0.1,0.2,0.3"}
    )
    assert r.status_code == 302
    a = sqlite_store.asset("AS-00008")
    assert a.machine_group == "class_I" and a.zone_limits == (0.1, 0.2, 0.3)
    assert c.get("/api/assets/AS-00008").json["health"] == "D"  # re-judged at once
    for bad in ({"machine_group": "group9"}, {"zones": "3,2,1"}, {"zones": "fast"}):
        r = c.post("/admin/assets/AS-00008", data={**form, **bad})
        assert r.status_code == 400, bad
    r = c.post("/admin/assets/AS-00008", data={**form, "zones": ""})  # back to the group's
    assert r.status_code == 302 and sqlite_store.asset("AS-00008").zone_limits is None
    assert sqlite_store.asset("AS-00008").machine_group == "class_I"


def test_user_command(sqlite_store: Any, capsys: Any, monkeypatch: Any) -> None:
    assert (
        user_main(
            ["add", "ana", "--role", "technician", "--password", "0123456789x"], store=sqlite_store
        )
        == 0
    )
    u = sqlite_store.user("ana")
    assert isinstance(u, User) and u.role == "technician" and u.password_hash.startswith("scrypt:")
    # A new password for a disabled user keeps it disabled.
    sqlite_store.upsert_user(dataclasses.replace(u, disabled=True))
    assert user_main(["add", "ana", "--password", "9876543210y"], store=sqlite_store) == 0
    u2 = sqlite_store.user("ana")
    assert u2.disabled and u2.password_hash != u.password_hash and u2.role == "viewer"
    assert user_main(["list"], store=sqlite_store) == 0
    assert "ana\tviewer\tdisabled\n" in capsys.readouterr().out
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


def test_nodes_page_shows_configuration_state(sqlite_store: Any) -> None:
    from gateway.store.api import NodeConfigState

    c, _ = _client(sqlite_store)
    node = c.get("/api/nodes").json[0]["id"]
    assert c.get("/api/nodes").json[0]["config_state"] is None  # never managed: no claim
    sqlite_store.set_node_config(
        NodeConfigState(
            node, "refused", 123, 45, {"report_s": 60}, time.time(), "rate_not_supported"
        )
    )
    row = next(n for n in c.get("/api/nodes").json if n["id"] == node)
    assert row["config_state"] == "refused" and row["config_reason"] == "rate_not_supported"
    assert "refused: rate_not_supported" in c.get("/nodes").get_data(as_text=True)
    csv = c.get("/api/nodes?format=csv").get_data(as_text=True)
    assert "config_state" in csv.splitlines()[0] and "rate_not_supported" in csv


def test_sensor_fault_shows_as_sensor_fault_never_healthy(sqlite_store: Any) -> None:
    """A zone D asset whose node then reports a sensor fault (zeros + flag): the page shows
    "sensor fault", no zone and no reading, never the zeros as a healthy machine."""
    from gateway.store.api import BirthRecord, FrameRecord, WriteBatch

    _report(sqlite_store, "nd-00009", 24 * 40 + 1, 6.0)
    now = time.time() + 1
    sqlite_store.write_batch(WriteBatch(frames=[FrameRecord(
        node_id="nd-00009", boot_id=1, seq=24 * 40 + 2, kind="report", node_time=int(now),
        recv_time=now, ts=now, payload=b"", flags=1 | 16, dropped=0,
        runtime_s=3_600_000 + 900 * 3600, starts=1100, acc_rms_mg=(0, 0, 0),
        vel_rms_mm_s_x100=(0, 0, 0), peak_mg=0, kurtosis_x100=0, temp_c_x10=450,
    )], births=[BirthRecord("nd-00009", 2, now, {
        "fw": "0.2.0", "board": "esp32", "sensor": "sim", "reset": "power_on",
        "heap_free": 41234, "heap_max_block": 30208, "temp_source": "ds18b20",
    })]))  # fmt: skip
    c, _ = _client(sqlite_store)
    a = c.get("/api/assets/AS-00009").json
    assert a["health"] == "sensor_fault" and a["vel_rms"] is None and a["readings"] is None
    page = c.get("/assets/AS-00009").get_data(as_text=True)
    assert "sensor fault" in page
    nodes = {n["id"]: n for n in c.get("/api/nodes").json}
    n = nodes["nd-00009"]
    assert (n["heap_free"], n["heap_max_block"], n["temp_source"]) == (41234, 30208, "ds18b20")
    assert n["simulated_sensor"] is True
    html = c.get("/nodes").get_data(as_text=True)
    assert "simulated" in html and "40 KB" in html


def test_nodes_page_shows_slot_and_last_update(sqlite_store: Any) -> None:
    from gateway.store.api import BirthRecord, EventRecord, WriteBatch

    c, _ = _client(sqlite_store)
    node = c.get("/api/nodes").json[0]["id"]
    info = {"fw": "0.2.0", "board": "rp2", "sensor": "adxl345", "slot": 2, "rollbacks": 1}
    ev = EventRecord(
        time.time(), node, "update_rolled_back", {"version": "0.3.0"}, None, None, "gateway"
    )
    sqlite_store.write_batch(
        WriteBatch(events=[ev], births=[BirthRecord(node, 99, time.time(), info)])
    )
    row = next(n for n in c.get("/api/nodes").json if n["id"] == node)
    assert (row["slot"], row["rollbacks"]) == (2, 1)
    assert (
        row["last_update"]["result"] == "rolled_back" and row["last_update"]["version"] == "0.3.0"
    )
    html = c.get("/nodes").get_data(as_text=True)
    assert "slot 2, 1 rollback" in html and "0.3.0 rolled back" in html
