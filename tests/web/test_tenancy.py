"""Tenancy on the fleet page (docs/FLEET.md): a customer's user sees only its customer's sites.

The matrix walks every route of app.url_map with the other customer's asset, node, site, entry,
window and user in its path parameters, by GET and POST (form and JSON), as a customer's user:
no answer may name anything of the other customer, and no write may change the store."""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from fleet_web import ops
from fleet_web.auth import hash_password
from gateway.proposals import Proposals
from gateway.store.api import EventRecord, ServiceEntry, User, WriteBatch

from .conftest import login

CUSTOMER_OF_SITE = {"Osaka Works": "acme", "Nagoya Plant": "acme", "Kobe Yard": "globex"}
ORIGIN_OF_CUSTOMER = {"acme": "gw-acme", "globex": "gw-globex"}
PASSWORD = "customer-pass-123"
SECRET_NOTE = "GLOBEX-ONLY-FINDING"


def tag_sites(store: Any) -> None:
    """The tags the fleet server's applier writes (gateway/store/uplink_sql.py)."""
    for customer, origin in ORIGIN_OF_CUSTOMER.items():
        store.set_origin(origin, customer)
    with store._lock, store._transaction():
        for site, customer in CUSTOMER_OF_SITE.items():
            store._claim("site", site, ORIGIN_OF_CUSTOMER[customer])


@pytest.fixture
def tenants(app: Flask, store: Any) -> dict[str, Any]:
    tag_sites(store)
    h = hash_password(PASSWORD)
    store.upsert_user(User("acme-user", h, "viewer", customer="acme"))
    store.upsert_user(User("globex-user", h, "viewer", customer="globex"))
    mine = {a.asset_id for a in store.assets() if CUSTOMER_OF_SITE[a.site] == "acme"}
    theirs = [a for a in store.assets() if CUSTOMER_OF_SITE[a.site] == "globex"]
    day = "2026-01-10"
    for a in store.assets()[:6]:
        note = SECRET_NOTE if a.site == "Kobe Yard" else "acme note"
        store.add_service_entry(
            ServiceEntry(a.asset_id, day, "replacement", "brg", note, "ken", None, True, 2.0)
        )
    ts = max(s.ts for s in store.latest_states())
    alarms = [EventRecord(ts, a.node_id or "", "alarm_danger", {"zone": "D"}) for a in theirs]
    store.write_batch(WriteBatch(events=alarms))
    entries = {e.entry_id for e in store.service_log() if e.finding == SECRET_NOTE}
    return {
        "proposal": _their_sent_proposal(store, theirs[0].asset_id),
        "mine": mine,
        "theirs": theirs,
        "entries": entries,
        "windows": {w.window_id for w in store.windows("Kobe Yard")},
    }


def _their_sent_proposal(store: Any, asset_id: str) -> str:
    """A proposal sent to the other customer (globex): accept/decline/send/done on it, and
    reading it, must all fail for acme's user (docs/SERVICE.md "Proposals")."""
    template = next(o for o in store.outlooks() if o.action == "plan")
    store.write_outlooks([
        dataclasses.replace(template, asset_id=asset_id, action="unplanned_stop", window_id=None,
                            window_start=None, window_end=None)
    ])  # fmt: skip
    svc = Proposals(store)
    return svc.send(svc.make(asset_id, "ken").proposal_id, "ken").proposal_id


def _client(app: Flask, name: str) -> tuple[FlaskClient, str]:
    c = app.test_client()
    return c, login(c, name, PASSWORD)


def _forbidden_words(t: dict[str, Any]) -> list[str]:
    words = ["Kobe Yard", "Kobe%20Yard", SECRET_NOTE, "globex"]
    for a in t["theirs"]:
        words += [a.asset_id, a.node_id]
    return words


def _state(store: Any) -> tuple[Any, ...]:
    return (
        [(e.entry_id, e.acted_on_warning, e.downtime_avoided_h) for e in store.service_log()],
        store.windows(),
        store.assets(),
        store.sites(),
        [(u.name, u.role, u.disabled, u.customer) for u in store.users()],
        [(p.proposal_id, p.state, p.followup) for p in store.proposals()],
        store.reservations(),
        store.all_terms(),
        store.last_outbox_id(),
    )


def test_customer_sees_its_own_sites(app: Flask, store: Any, tenants: dict[str, Any]) -> None:
    c, _ = _client(app, "acme-user")
    rows = c.get("/api/assets").get_json()
    assert {r["id"] for r in rows} == tenants["mine"] and rows
    assert set(c.get("/api/sites").get_json()) == {"Osaka Works", "Nagoya Plant"}
    own = sorted(tenants["mine"])[0]
    assert c.get(f"/assets/{own}").status_code == 200
    assert c.get(f"/api/assets/{own}/history").status_code == 200
    assert c.get("/api/service").get_json() and c.get("/report/Osaka%20Works").status_code == 200
    g, _ = _client(app, "globex-user")
    assert {r["site"] for r in g.get("/api/assets").get_json()} == {"Kobe Yard"}
    # a service-team viewer sees every site
    v = app.test_client()
    login(v, "viewer")
    assert {r["site"] for r in v.get("/api/assets").get_json()} == set(CUSTOMER_OF_SITE)


def _customer_options(page: str) -> list[str]:
    m = re.search(r'<select name="customer"[^>]*>(.*?)</select>', page, re.S)
    return [] if m is None else re.findall(r"<option[^>]*>([^<]*)</option>", m[1])


def test_customer_filter_on_the_overview(app: Flask, store: Any, tenants: dict[str, Any]) -> None:
    """The overview's customer control: every customer for the service team, filtering the
    rows; a customer's user is offered only its own customer and never sees another's."""
    v = app.test_client()
    login(v, "viewer")
    assert _customer_options(v.get("/").get_data(as_text=True)) == [
        "All customers",
        "acme",
        "globex",
    ]
    page = v.get("/?customer=globex").get_data(as_text=True)
    assert "Kobe Yard" in page and "Osaka Works" not in page.split('id="asset-rows"')[1]
    assert "selected>globex</option>" in page
    rows = v.get("/api/assets?customer=acme").get_json()
    assert {r["id"] for r in rows} == tenants["mine"]
    c, _ = _client(app, "acme-user")
    page = c.get("/").get_data(as_text=True)
    assert _customer_options(page) == ["All customers", "acme"] and "globex" not in page
    mine = c.get("/?customer=acme").get_data(as_text=True).split('id="asset-rows"')[1]
    assert all(a in mine for a in sorted(tenants["mine"])[:3])
    theirs = c.get("/?customer=globex").get_data(as_text=True)
    assert "No assets match." in theirs and "Kobe Yard" not in theirs
    assert c.get("/api/assets?customer=globex").get_json() == []


def test_customer_users_are_viewers_only(store: Any) -> None:
    with pytest.raises(ValueError, match="viewer"):
        store.upsert_user(User("acme-admin", "x", "admin", customer="acme"))


def test_no_route_reaches_another_customers_data(
    app: Flask, store: Any, tenants: dict[str, Any]
) -> None:
    c, tok = _client(app, "acme-user")
    theirs = tenants["theirs"][0]
    params = {
        "asset_id": theirs.asset_id,
        "site": "Kobe Yard",
        "node_id": theirs.node_id,
        "entry_id": str(min(tenants["entries"])),
        "name": "globex-user",
        "filename": "app.js",
        "proposal_id": tenants["proposal"],
        "step": "accept",
    }
    before = _state(store)
    words = _forbidden_words(tenants)
    leaks: list[str] = []
    tried = 0
    hdr = {"X-CSRF-Token": tok}
    body = {"kind": "inspection", "note": "x", "role": "admin", "tz": "UTC", "site": "Kobe Yard",
            "start": "2030-01-01T08:00", "end": "2030-01-01T10:00", "csrf_token": tok,
            "acted_on_warning": "1", "downtime_avoided_h": "1", "asset_id": theirs.asset_id,
            "name": "x-user", "password": "long-password-123"}  # fmt: skip
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "auth.logout", "auth.login"):
            continue
        path = re.sub(
            r"<(?:[^:>]+:)?([^>]+)>", lambda m: quote(params[m.group(1)], safe=""), rule.rule
        )
        paths = [path]
        if "<step>" in rule.rule:  # every step of the other customer's proposal
            paths = [
                path.rsplit("/", 1)[0] + "/" + s for s in ("send", "accept", "decline", "done")
            ]
        if rule.endpoint == "ops.export":
            with app.test_request_context():
                paths = [f"/export/{n}.csv" for n in ops._tables()]  # every export there is
        # asset ids go in paths; the other customer's site and name in the filters
        queries: list[dict[str, str]] = [{}, {"site": "Kobe Yard"}, {"customer": "globex"}]
        methods = rule.methods or set()
        for p in paths:
            for q in queries:
                calls = []
                if "GET" in methods:
                    calls.append(lambda p=p, q=q: c.get(p, query_string=q))
                if "POST" in methods:
                    calls.append(lambda p=p: c.post(p, data=body))
                    calls.append(lambda p=p: c.post(p, json=body, headers=hdr))
                for call in calls:
                    r = call()
                    tried += 1
                    text = r.get_data(as_text=True)
                    for w in words:  # (a query's own value echoed in links is no leak)
                        if w in text and w not in q.values():
                            leaks.append(f"{r.request.method} {p} {q}: {w} ({r.status_code})")
    assert tried > 80
    assert not leaks, leaks[:20]
    assert _state(store) == before
