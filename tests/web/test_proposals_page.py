"""Proposals on the fleet page (Flask test client over a real SQLite store): a technician
proposes an outlook's action and sends it; the customer's user sees it (never a draft, never
another customer's) and accepts or declines it on the page, its only write; accepting reserves
the part and books the job into the window; declining keeps the risk visible on the asset page
and the planner; the API and the CSV export; the terms page is an admin's."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from flask import Flask

from fleet_web.auth import hash_password
from gateway.store.api import CatalogPart, CustomerTerms, User

from .conftest import login
from .test_tenancy import CUSTOMER_OF_SITE, PASSWORD, tag_sites


@pytest.fixture
def world(app: Flask, store: Any) -> dict[str, Any]:
    tag_sites(store)
    h = hash_password(PASSWORD)
    store.upsert_user(User("acme-user", h, "viewer", customer="acme"))
    store.upsert_user(User("globex-user", h, "viewer", customer="globex"))
    store.put_catalog_part(
        CatalogPart("6205-2RS", "deep groove ball bearing", 18.5, "EUR", 5.0, 1.5)
    )
    store.set_stock("6205-2RS", "main", 4, "anna")
    store.put_terms(CustomerTerms("acme", "EUR", 80.0, 1200.0))
    acts = {o.asset_id: o for o in store.outlooks() if o.action == "plan" and o.window_id}
    sites = {a.asset_id: a.site for a in store.assets()}
    acme = sorted(a for a in acts if CUSTOMER_OF_SITE[sites[a]] == "acme")
    globex = sorted(a for a in acts if CUSTOMER_OF_SITE[sites[a]] == "globex")
    if not globex:  # the synthetic fleet planned nothing at Kobe: an unplanned stop there
        kobe = sorted(a for a, s in sites.items() if CUSTOMER_OF_SITE[s] == "globex")[0]
        o = dataclasses.replace(acts[acme[0]], asset_id=kobe, action="unplanned_stop",
                                window_id=None, window_start=None, window_end=None)  # fmt: skip
        store.write_outlooks([o])
        globex = [kobe]
    assert acme and globex
    return {"acme": acme, "globex": globex, "outlooks": acts}


def _client(app: Flask, name: str, pw: str | None = None) -> tuple[Any, str]:
    c = app.test_client()
    return c, login(c, name, pw)


def _make_and_send(app: Flask, asset_id: str) -> str:
    tech, tok = _client(app, "tech")
    r = tech.post(f"/assets/{asset_id}/proposals", data={"csrf_token": tok})
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    pid = r.headers["Location"].rsplit("/", 1)[-1]
    page = tech.get(f"/proposals/{pid}").get_data(as_text=True)
    assert 'id="send"' in page and 'data-state="draft"' in page
    r = tech.post(f"/proposals/{pid}/send", data={"csrf_token": tok})
    assert r.status_code == 302
    return pid


def test_propose_send_and_the_customer_accepts(
    app: Flask, store: Any, world: dict[str, Any]
) -> None:
    aid = world["acme"][0]
    tech, tok = _client(app, "tech")
    asset_page = tech.get(f"/assets/{aid}").get_data(as_text=True)
    assert 'id="propose"' in asset_page  # the outlook asks for work: the button is there
    r = tech.post(f"/api/assets/{aid}/proposals", headers={"X-CSRF-Token": tok})
    assert r.status_code == 201
    draft = r.get_json()
    pid = draft["id"]
    assert draft["state"] == "draft" and draft["customer"] == "acme"
    # the customer never sees a draft
    cust, ctok = _client(app, "acme-user", PASSWORD)
    assert cust.get(f"/proposals/{pid}").status_code == 404
    assert cust.get("/api/proposals").get_json() == []
    assert tech.post(f"/proposals/{pid}/send", data={"csrf_token": tok}).status_code == 302
    html = cust.get(f"/proposals/{pid}").get_data(as_text=True)
    assert 'data-state="sent"' in html and 'id="accept"' in html and 'id="decline"' in html
    q = re.search(r'id="proposal-question">([^<]+)<', html)
    assert q and q.group(1).startswith(("At the current pace", "The vibration of"))
    assert "Shall we replace it at the planned stop" in q.group(1)
    assert '<polyline class="series"' in html and 'id="proposal-lines"' in html
    assert 'id="send"' not in html and 'id="done"' not in html  # the customer's one write
    # another customer's user cannot see or answer it
    other, otok = _client(app, "globex-user", PASSWORD)
    assert other.get(f"/proposals/{pid}").status_code == 404
    assert other.post(f"/proposals/{pid}/accept", data={"csrf_token": otok}).status_code == 404
    assert other.post(f"/proposals/{pid}/send", data={"csrf_token": otok}).status_code == 403
    # a service-team viewer may not answer for the customer
    viewer, vtok = _client(app, "viewer")
    assert viewer.post(f"/proposals/{pid}/accept", data={"csrf_token": vtok}).status_code == 403
    assert viewer.post(f"/assets/{aid}/proposals", data={"csrf_token": vtok}).status_code == 403
    r = cust.post(f"/proposals/{pid}/accept", data={"csrf_token": ctok, "note": "ok, go"})
    assert r.status_code == 302
    p = store.proposal(pid)
    assert p.state == "accepted"
    steps = [(e.state, e.by) for e in store.proposal_events(pid)]
    assert steps == [("draft", "tech"), ("sent", "tech"), ("accepted", "acme-user")]
    held = store.reservations(pid)
    assert [(r.part_number, r.qty, r.state) for r in held] == [("6205-2RS", 1, "reserved")]
    # booked into its window on the planner
    jobs = [j for w in tech.get("/api/windows").get_json() if w["id"] == p.window_id
            for j in w["jobs"]]  # fmt: skip
    assert any(j["asset_id"] == aid and j.get("booked") and j["proposal_id"] == pid for j in jobs)
    assert f"booked: {pid} accepted" in tech.get("/planner").get_data(as_text=True)
    # the outlook moves on (no planned stop any more): the accepted job stays in its window
    o = store.outlooks([aid])[0]
    moved = dataclasses.replace(o, computed_at=o.computed_at + 1, action="unplanned_stop",
                                window_id=None, window_start=None, window_end=None)  # fmt: skip
    store.write_outlooks([moved])
    app.extensions["fleet"]._sync(force=True)
    jobs = [j for w in tech.get("/api/windows").get_json() if w["id"] == p.window_id
            for j in w["jobs"]]  # fmt: skip
    assert [(j["asset_id"], j["proposal_id"]) for j in jobs if j.get("booked")] == [(aid, pid)]
    # answering twice is refused with why
    r = cust.post(f"/api/proposals/{pid}/decline", headers={"X-CSRF-Token": ctok})
    assert r.status_code == 409 and "accepted" in r.get_json()["detail"]
    # done: the technician closes it; the part leaves the shelf
    r = tech.post(f"/api/proposals/{pid}/done", headers={"X-CSRF-Token": tok})
    assert r.status_code == 200 and r.get_json()["state"] == "done"
    logged = [e for e in store.service_log(aid) if e.finding == f"Done as proposed in {pid}."]
    assert [(e.kind, e.by, e.acted_on_warning) for e in logged] == [("replacement", "tech", True)]
    assert [x.state for x in store.reservations(pid)] == ["consumed"]


def test_decline_keeps_the_risk_visible(app: Flask, store: Any, world: dict[str, Any]) -> None:
    aid = world["acme"][0]
    pid = _make_and_send(app, aid)
    cust, ctok = _client(app, "acme-user", PASSWORD)
    r = cust.post(f"/proposals/{pid}/decline", data={"csrf_token": ctok, "note": "budget"})
    assert r.status_code == 302
    assert store.proposal(pid).state == "declined" and store.reservations(pid) == []
    tech, _ = _client(app, "tech")
    page = tech.get(f"/assets/{aid}").get_data(as_text=True)
    assert 'id="declined"' in page and "Declined by the customer on" in page
    assert "Make revision 2" in page  # a new outlook can be proposed again
    assert "declined by customer on" in tech.get("/planner").get_data(as_text=True)
    # the customer sees its own answer too
    assert 'id="declined"' in cust.get(f"/assets/{aid}").get_data(as_text=True)


def test_api_and_exports_honour_tenancy(app: Flask, store: Any, world: dict[str, Any]) -> None:
    mine = _make_and_send(app, world["acme"][0])
    theirs = _make_and_send(app, world["globex"][0])
    tech, _ = _client(app, "tech")
    assert {r["id"] for r in tech.get("/api/proposals").get_json()} == {mine, theirs}
    cust, _ = _client(app, "acme-user", PASSWORD)
    rows = cust.get("/api/proposals").get_json()
    assert [r["id"] for r in rows] == [mine] and rows[0]["content"]["lines"]
    assert cust.get(f"/api/proposals/{theirs}").status_code == 404
    csv_text = cust.get("/api/proposals?format=csv").get_data(as_text=True)
    header, *lines = csv_text.strip().splitlines()
    assert header.startswith("id,asset_id,site,customer,revision") and len(lines) == 1
    assert mine in lines[0] and theirs not in csv_text
    export = cust.get("/export/proposals.csv").get_data(as_text=True)
    assert mine in export and theirs not in export
    sent = tech.get("/api/proposals?state=sent").get_json()
    assert {r["id"] for r in sent} == {mine, theirs}


def test_terms_are_an_admins(app: Flask, store: Any) -> None:
    tech, tok = _client(app, "tech")
    assert tech.get("/terms").status_code == 403
    form = {"customer": "acme", "currency": "JPY", "labour_rate": "9000",
            "downtime_cost_h": "150000"}  # fmt: skip
    assert tech.post("/terms", data={**form, "csrf_token": tok}).status_code == 403
    admin, atok = _client(app, "admin")
    assert admin.post("/terms", data={**form, "csrf_token": atok}).status_code == 302
    assert store.customer_terms("acme").labour_rate == 9000.0
    bad = admin.post("/terms", data={**form, "currency": "euro", "csrf_token": atok})
    assert bad.status_code == 400 and "currency" in bad.get_data(as_text=True)
    assert 'id="terms"' in admin.get("/terms").get_data(as_text=True)


def test_nothing_to_propose_is_refused(app: Flask, store: Any, world: dict[str, Any]) -> None:
    quiet = next(o.asset_id for o in store.outlooks() if o.action == "none")
    tech, tok = _client(app, "tech")
    assert 'id="propose"' not in tech.get(f"/assets/{quiet}").get_data(as_text=True)
    r = tech.post(f"/api/assets/{quiet}/proposals", headers={"X-CSRF-Token": tok})
    assert r.status_code == 409 and "asks for no work" in r.get_json()["detail"]
