"""The Parts page and its API over the shared test fleet: roles (viewers read, technicians
count stock, admins edit the price list), form errors with their reason and nothing written,
the JSON/CSV answers, and what a customer's user sees (its machines' reservations only)."""

from __future__ import annotations

import csv
import html
import io
import time
from typing import Any

from flask import Flask

from fleet_web.auth import hash_password
from gateway.store.api import CatalogPart, User

from .conftest import login
from .test_tenancy import CUSTOMER_OF_SITE, PASSWORD, tag_sites


def _books(store: Any) -> dict[str, str]:
    """Catalog the part numbers the outlook asks for, stock one, reserve for two assets."""
    store.put_catalog_part(CatalogPart("BRG-1", "test bearing", 20.0, "EUR", 14.0, 1.0))
    store.set_stock("BRG-1", "main", 2, "setup")
    by_site: dict[str, str] = {}
    for a in store.assets():
        by_site.setdefault(a.site, a.asset_id)
    need = time.time() + 20 * 86400
    for aid in by_site.values():
        store.reserve_parts(f"PR-{aid}", [("BRG-1", 1)], "setup", time.time(), aid, need)
    return by_site


def test_viewer_reads_and_cannot_write(app: Flask, store: Any, as_role: Any) -> None:
    _books(store)
    c, tok = as_role("viewer")
    page = c.get("/parts").get_data(as_text=True)
    assert 'href="/parts"' in page  # in the navigation
    for table in ("parts-demand", "parts-stock", "parts-reservations", "parts-catalog"):
        assert f'id="{table}"' in page
    assert 'id="stock-form"' not in page and 'id="catalog-form"' not in page
    r = c.post("/parts/stock", data={"part_number": "BRG-1", "warehouse": "main", "count": "9",
                                     "csrf_token": tok})  # fmt: skip
    assert r.status_code == 403
    assert [s.on_hand for s in store.stock()] == [2]


def test_api_json_and_csv(app: Flask, store: Any, as_role: Any) -> None:
    _books(store)
    c, _ = as_role("viewer")
    plan = {r["part_number"]: r for r in c.get("/api/parts/demand").get_json()}
    brg = plan["BRG-1"]
    assert brg["committed_4w"] == 3 and brg["on_hand"] == 2 and brg["shortage"] == 1
    assert brg["advice"].startswith("order ")
    assert sum(n["qty"] for n in brg["needs"] if n["source"] == "committed") == 3
    assert {n["proposal_id"] for n in brg["needs"]} >= {r.proposal_id for r in store.reservations()}
    # every part number the outlook asks for is in the plan (as forecast or covered)
    wanted = {p["part"] for r in c.get("/api/assets").get_json() for p in r["parts_needed"]}
    assert wanted <= set(plan)
    stock = c.get("/api/parts/stock").get_json()
    assert [(s["part_number"], s["warehouse"], s["on_hand"], s["reserved"]) for s in stock] == [
        ("BRG-1", "main", 2, 2)
    ]
    text = c.get("/api/parts/demand?format=csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0].keys() >= {"part_number", "committed_12w", "forecast_12w", "advice"}
    res = c.get("/api/parts/reservations?format=csv").get_data(as_text=True)
    assert len(list(csv.DictReader(io.StringIO(res)))) == 3
    for name in ("parts-plan", "parts-stock", "parts-catalog", "parts-reservations"):
        assert c.get(f"/export/{name}.csv").status_code == 200


def test_technician_counts_and_moves_stock(app: Flask, store: Any, as_role: Any) -> None:
    _books(store)
    c, tok = as_role("tech")
    assert 'id="stock-form"' in c.get("/parts").get_data(as_text=True)
    form = {"part_number": "BRG-1", "warehouse": "van-3", "mode": "set", "count": "4",
            "csrf_token": tok}  # fmt: skip
    assert c.post("/parts/stock", data=form).status_code == 302
    assert c.post("/parts/stock", data={**form, "mode": "adjust", "count": "-1"}).status_code == 302
    assert {s.warehouse: s.on_hand for s in store.stock()} == {"main": 2, "van-3": 3}
    assert {s.updated_by for s in store.stock() if s.warehouse == "van-3"} == {"tech"}
    bad = [
        ({"count": "two"}, "count must be a whole number of pieces, got 'two'"),
        ({"count": "1.5"}, "whole number"),
        ({"count": "-1"}, "pieces on hand must be >= 0"),
        ({"mode": "adjust", "count": "-9"}, "only 3 on hand"),
        ({"part_number": "NOPE"}, "unknown part number"),
        ({"warehouse": " "}, "warehouse must be a non-empty name"),
        ({"mode": "steal"}, "mode must be set"),
    ]
    for change, reason in bad:
        r = c.post("/parts/stock", data={**form, **change})
        assert r.status_code == 400 and reason in html.unescape(r.get_data(as_text=True)), (
            change,
            r.status_code,
        )
    assert {s.warehouse: s.on_hand for s in store.stock()} == {"main": 2, "van-3": 3}
    r = c.post("/parts/catalog", data={"part_number": "X", "unit_price": "1",
                                       "lead_time_days": "1", "csrf_token": tok})  # fmt: skip
    assert r.status_code == 403  # the price list is an admin's


def test_admin_edits_the_price_list(app: Flask, store: Any, as_role: Any) -> None:
    c, tok = as_role("admin")
    assert 'id="catalog-form"' in c.get("/parts").get_data(as_text=True)
    form = {"part_number": "6316 M/C3", "description": "pump bearing", "unit_price": "412.5",
            "currency": "jpy", "lead_time_days": "21", "labour_h": "3", "safety_stock": "1",
            "csrf_token": tok}  # fmt: skip
    assert c.post("/parts/catalog", data=form).status_code == 302
    assert store.catalog_part("6316 M/C3") == CatalogPart(
        "6316 M/C3", "pump bearing", 412.5, "JPY", 21.0, 3.0, 1
    )
    bad = [
        ({"unit_price": "cheap"}, "unit price must be a number, got 'cheap'"),
        ({"unit_price": "inf"}, "unit price must be a finite number"),
        ({"unit_price": "-1"}, "unit price must be a finite number >= 0"),
        ({"lead_time_days": ""}, "lead time (days) must be a number"),
        ({"currency": "EURO"}, "currency must be a three-letter code"),
        ({"safety_stock": "0.5"}, "safety stock must be a whole number"),
        ({"part_number": ""}, "part number must be non-empty"),
    ]
    for change, reason in bad:
        r = c.post("/parts/catalog", data={**form, **change, "part_number": change.get(
            "part_number", "NEW-1")})  # fmt: skip
        assert r.status_code == 400 and reason in html.unescape(r.get_data(as_text=True)), change
    assert [p.part_number for p in store.catalog()] == ["6316 M/C3"]


def test_customer_sees_only_its_machines_reservations(app: Flask, store: Any) -> None:
    tag_sites(store)
    by_site = _books(store)
    store.upsert_user(User("acme-user", hash_password(PASSWORD), "viewer", customer="acme"))
    c = app.test_client()
    login(c, "acme-user", PASSWORD)
    page = c.get("/parts").get_data(as_text=True)
    assert "Parts held for your machines" in page
    assert 'id="parts-stock"' not in page and 'id="parts-catalog"' not in page
    assert "20.00" not in page and "<th>Where</th>" not in page
    mine = {aid for site, aid in by_site.items() if CUSTOMER_OF_SITE[site] == "acme"}
    got = {r["asset_id"] for r in c.get("/api/parts/reservations").get_json()}
    assert got == mine and mine
    for api in ("/api/parts/stock", "/api/parts/demand", "/api/parts/catalog"):
        assert c.get(api).status_code == 403
    assert c.get("/export/parts-stock.csv").get_data(as_text=True).count("\n") == 1  # header
