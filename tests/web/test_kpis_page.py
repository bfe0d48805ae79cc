"""The KPI page, its JSON and CSV (fleet_web/kpis.py) through Flask's test client over the
shared test fleet: in the navigation, every figure beside its definition, too few events said
as such, an entry above its bound counted at its bound, and a customer's user sees only its
own customer."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from flask import Flask

from fleet_web.kpis import KPI_COLUMNS
from gateway import kpis
from gateway.store.api import ServiceEntry

from .conftest import login
from .test_tenancy import _client
from .test_tenancy import tenants as tenants


def test_page_api_and_csv(app: Flask, store: Any) -> None:
    asset = store.assets()[0].asset_id
    today = time.strftime("%Y-%m-%d", time.gmtime())
    # an entry stored past the ledger's checks (as before the bound existed)
    store.add_service_entry(
        ServiceEntry(asset, today, "replacement", acted_on_warning=True, downtime_avoided_h=500.0)
    )
    # a failure with its stop hours and invoice, beside the month's others (if any) without
    earlier = [e for e in store.service_log() if e.kind == "failure" and e.date[:7] == today[:7]]
    store.add_service_entry(ServiceEntry(asset, today, "failure", stop_h=12.0, repair_cost=800.0))
    c = app.test_client()
    login(c, "viewer")
    assert 'href="/kpis"' in c.get("/").get_data(as_text=True)
    html = c.get("/kpis").get_data(as_text=True)
    for text in kpis.DEFINITIONS.values():
        assert text.split(":")[0] in html
    assert 'id="kpi-table"' in html and "not enough evidence" in html
    j = c.get("/api/kpis?months=3").get_json()
    assert len(j["periods"]) == 3 and j["periods"][-1] == time.strftime("%Y-%m", time.gmtime())
    last = j["fleet"][-1]
    (line,) = [x for x in last["downtime_entries"] if x["asset_id"] == asset]
    assert (line["claimed_h"], line["over_bound"]) == (500.0, True)
    (entry,) = [r for r in c.get("/api/ledger").get_json() if r["asset_id"] == asset]
    assert line["bound_h"] == entry["bound_h"] < 500.0 and entry["needs_review"]  # the ledger's
    assert line["counted_h"] == 0.0  # left out until corrected, as the ledger page's total
    assert last["precision"]["value"] is None
    assert last["precision"]["why"].startswith("not enough evidence: ")
    reactive = last["revenue_reactive"]
    assert (reactive["n"], reactive["lacking"]) == (len(earlier) + 1, len(earlier))
    assert sum(reactive["amounts"].values()) == 800.0
    assert 'class="kpi-availability"' in html and "h stopped in" in html
    assert c.get("/api/kpis?end=2026-13").status_code == 400
    assert c.get("/api/kpis?customer=nobody").status_code == 404
    for url in ("/api/kpis?format=csv", "/export/kpis.csv"):
        rows = list(csv.reader(io.StringIO(c.get(url).get_data(as_text=True))))
        assert tuple(rows[0]) == KPI_COLUMNS and len(rows) > 10
        assert any(r[2] == "Availability (%)" and r[3] for r in rows)
    assert "to review" in html


def test_a_customer_sees_only_its_own(app: Flask, store: Any, tenants: dict[str, Any]) -> None:
    c, _ = _client(app, "acme-user")
    j = c.get("/api/kpis").get_json()
    assert [x["customer"] for x in j["customers"]] == ["acme"]
    assert j["customers"][0]["assets"] == len(tenants["mine"])
    assert c.get("/api/kpis?customer=globex").status_code == 404
    body = c.get("/kpis").get_data(as_text=True) + c.get("/export/kpis.csv").get_data(as_text=True)
    assert "globex" not in body and "Kobe Yard" not in body
    assert not any(a.asset_id in body for a in tenants["theirs"])
