"""Downtime-avoided KPI: inputs bounded by the warning-to-repair time and 90 days, entries
over their bound left out until an admin corrects them, the tile links to the ledger page."""

from __future__ import annotations

from typing import Any

from fleet_web import create_app
from gateway.store.api import ServiceEntry

from .conftest import login


def _clients(store: Any) -> Any:
    app = create_app({"SECRET_KEY": "k"}, store=store)

    def make(name: str) -> tuple[Any, str]:
        c = app.test_client()
        return c, login(c, name)

    return make


def test_new_entries_are_bounded(sqlite_store: Any) -> None:
    c, tok = _clients(sqlite_store)("tech")
    h = {"X-CSRF-Token": tok}
    body: dict[str, Any] = {"kind": "replacement", "acted_on_warning": True}
    for hours, why in ((1e12, "90 days"), (2000, "at most"), (-1, ">= 0")):
        r = c.post("/api/assets/AS-00001/service", json={**body, "downtime_avoided_h": hours},
                   headers=h)  # fmt: skip
        assert r.status_code == 400 and why in r.json["detail"], (hours, r.json)
    # AS-00002 does not degrade: no warning on record, nothing can have been avoided.
    r = c.post("/api/assets/AS-00002/service", json={**body, "downtime_avoided_h": 3}, headers=h)
    assert r.status_code == 400 and "warning on record" in r.json["detail"]
    assert sqlite_store.service_log() == []
    r = c.post("/api/assets/AS-00001/service", json={**body, "downtime_avoided_h": 24}, headers=h)
    assert r.status_code == 201
    assert c.get("/api/summary").json["downtime_avoided_h"] == 24


def test_admin_corrects_an_absurd_entry(sqlite_store: Any) -> None:
    # Written before the bounds existed (or by another tool): 1e12 h.
    eid = sqlite_store.add_service_entry(
        ServiceEntry("AS-00004", "2024-01-05", "failure", by="ana", acted_on_warning=True,
                     downtime_avoided_h=1e12)
    )  # fmt: skip
    client = _clients(sqlite_store)
    viewer, _ = client("viewer")
    s = viewer.get("/api/summary").json
    assert s["downtime_avoided_h"] == 0 and s["to_review"] == 1
    html = viewer.get("/").get_data(as_text=True)
    assert 'href="/ledger"' in html and "/api/ledger" not in html and "1 to review" in html
    page = viewer.get("/ledger").get_data(as_text=True)
    assert "to review" in page and "none on record" in page and "Correct" not in page

    tech, tok = client("tech")
    form = {"csrf_token": tok, "downtime_avoided_h": "0", "acted_on_warning": "1"}
    assert tech.post(f"/ledger/{eid}", data=form).status_code == 403

    admin, tok = client("admin")
    form = {"csrf_token": tok, "downtime_avoided_h": "1e12", "acted_on_warning": "1"}
    r = admin.post(f"/ledger/{eid}", data=form)
    assert r.status_code == 400 and "90 days" in r.get_data(as_text=True)
    form["downtime_avoided_h"] = "5"  # still no warning before 2024-01-05 on record
    assert admin.post(f"/ledger/{eid}", data=form).status_code == 400
    form["downtime_avoided_h"] = "0"
    assert admin.post(f"/ledger/{eid}", data=form).status_code == 302
    (e,) = sqlite_store.service_log()
    assert e.downtime_avoided_h == 0 and e.acted_on_warning
    s = viewer.get("/api/summary").json
    assert s["to_review"] == 0 and s["warnings_acted_on"] == 1
    assert admin.post("/ledger/999", data={**form, "csrf_token": tok}).status_code == 404
