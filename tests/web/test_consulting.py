"""The consulting report's pages, JSON and CSV (fleet_web/consulting.py) through Flask's test
client: over the shared test fleet, and over a store filled with frames of known starts and
running hours (the whole path: frames -> hourly rows -> report -> recommendation)."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from fleet_web import create_app
from fleet_web.consulting import CSV_COLUMNS
from gateway.store import open_store
from gateway.store.api import Asset, FrameRecord, Site, WriteBatch

from .conftest import add_users, login
from .test_tenancy import PASSWORD, tag_sites


def _viewer(app: Flask) -> FlaskClient:
    c = app.test_client()
    login(c, "viewer")
    return c


def test_the_page_is_in_the_navigation_with_its_charts(app: Flask) -> None:
    c = _viewer(app)
    assert 'href="/consulting"' in c.get("/").get_data(as_text=True)
    html = c.get("/consulting").get_data(as_text=True)
    for part in ('id="chart-shift"', 'id="chart-weekday"', 'id="chart-starts-1"',
                 'id="chart-zones-1"', 'id="chart-run-1"', 'id="thresholds"',
                 'id="changes"', 'id="proposals-note"', "<rect class=\"bar\""):  # fmt: skip
        assert part in html, part
    assert "Osaka Works" in html and "Kobe Yard" in html
    site = c.get("/consulting/Osaka%20Works")
    assert site.status_code == 200 and "Kobe Yard</h2>" not in site.get_data(as_text=True)
    assert c.get("/consulting/Nowhere").status_code == 404


def test_the_api_answers_the_report(app: Flask) -> None:
    c = _viewer(app)
    j = c.get("/api/consulting/Osaka%20Works?days=14&end=2030-01-31").get_json()
    assert j["scope"] == "Osaka Works" and j["days"] == 14
    assert (j["first_day"], j["last_day"]) == ("2030-01-18", "2030-01-31")
    assert j["previous"] == {"first_day": "2030-01-04", "last_day": "2030-01-17"}
    assert j["monitored_h"] == 0 and j["utilisation"] is None  # no data then: said as null
    now = c.get("/api/consulting/Osaka%20Works").get_json()
    assert now["days"] == 28 and now["monitored_h"] > 0
    site = now["sites"][0]
    assert site["tz"] and [s["hours"] for s in site["shifts"]] == ["06-14", "14-22", "22-06"]
    m = site["machines"][0]
    assert {"utilisation", "starts_per_day", "zone_h", "by_shift", "by_weekday"} <= set(m)
    assert (
        m["running_h"] + m["idle_h"] == m["monitored_h"]
        or abs(m["running_h"] + m["idle_h"] - m["monitored_h"]) <= 0.2
    )
    assert now["thresholds"]["notable_ratio"] == 3.0
    assert now["proposals"] == [] and "open actions" in now["proposals_note"]
    assert all(a["site"] == "Osaka Works" for a in now["open_actions"])


def test_shifts_and_period_are_checked(app: Flask) -> None:
    c = _viewer(app)
    j = c.get("/api/consulting?shifts=day=06-18,night=18-06").get_json()
    assert set(j["by_shift"]) == {"day", "night"}
    bad = c.get("/api/consulting?shifts=a=06-14,b=12-20")
    assert bad.status_code == 400 and "overlap" in bad.get_json()["detail"]
    assert c.get("/api/consulting?end=yesterday").status_code == 400
    assert c.get("/consulting?shifts=x").status_code == 400


def test_each_site_reports_its_own_shifts(app: Flask, as_role: Any) -> None:
    c, tok = as_role("admin")
    r = c.post("/admin/sites/Osaka%20Works", data={"tz": "Asia/Tokyo", "csrf_token": tok,
                                                   "shifts": "day=07-19,night=19-07"})  # fmt: skip
    assert r.status_code == 302
    bad = c.post("/admin/sites/Osaka%20Works", data={"tz": "Europe/Berlin", "csrf_token": tok,
                                                     "shifts": "a=06-14,b=10-18"})  # fmt: skip
    assert bad.status_code == 400 and "overlap" in bad.get_data(as_text=True)
    j = c.get("/api/consulting").get_json()
    shifts = {s["site"]: [x["name"] for x in s["shifts"]] for s in j["sites"]}
    assert shifts["Osaka Works"] == ["day", "night"]  # its own, in its own zone (not Berlin)
    assert shifts["Kobe Yard"] == ["early", "late", "night"]
    assert next(s for s in j["sites"] if s["site"] == "Osaka Works")["tz"] == "Asia/Tokyo"
    assert 'value="day=07-19,night=19-07"' in c.get("/admin").get_data(as_text=True)
    # ?shifts= asks for other shifts on every site of the report
    j = c.get("/api/consulting?shifts=a=00-12,b=12-24").get_json()
    assert {tuple(x["name"] for x in s["shifts"]) for s in j["sites"]} == {("a", "b")}


def test_csv_has_one_row_per_machine(app: Flask, store: Any) -> None:
    c = _viewer(app)
    r = c.get("/api/consulting?format=csv")
    assert r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert len(rows) == len(store.assets())


def test_a_customer_sees_only_its_own_report(app: Flask, store: Any) -> None:
    from fleet_web.auth import hash_password
    from gateway.store.api import User

    tag_sites(store)
    store.upsert_user(User("acme-user", hash_password(PASSWORD), "viewer", customer="acme"))
    c = app.test_client()
    login(c, "acme-user", PASSWORD)
    j = c.get("/api/consulting").get_json()
    assert j["scope"] == "acme"
    assert {s["site"] for s in j["sites"]} == {"Osaka Works", "Nagoya Plant"}
    assert c.get("/api/consulting?customer=globex").status_code == 404
    assert c.get("/api/consulting/Kobe%20Yard").status_code == 404
    assert "Kobe" not in c.get("/consulting").get_data(as_text=True)
    # the service team picks a customer
    v = _viewer(app)
    assert {s["site"] for s in v.get("/api/consulting?customer=globex").get_json()["sites"]} == {
        "Kobe Yard"
    }


def test_open_proposals_are_listed_for_their_customer_only(app: Flask, store: Any) -> None:
    from fleet_web.auth import hash_password
    from gateway.domain import PROPOSABLE_ACTIONS
    from gateway.proposals import Proposals
    from gateway.store.api import Proposal, User

    tag_sites(store)
    store.upsert_user(User("acme-user", hash_password(PASSWORD), "viewer", customer="acme"))
    svc = Proposals(store)
    sent = {}
    for o in store.outlooks():
        site = store.asset(o.asset_id).site
        if o.action in PROPOSABLE_ACTIONS and site not in sent:
            sent[site] = svc.send(svc.make(o.asset_id, "ken").proposal_id, "ken")
    assert "Osaka Works" in sent
    # the other customer's: written as the store takes any proposal (its outlook asks for none)
    kobe = next(a for a in store.assets() if a.site == "Kobe Yard")
    t = time.time()
    draft = store.add_proposal(
        Proposal("", kobe.asset_id, "Kobe Yard", "globex", 1, "draft", "plan", t, "ken", t,
                 content={"title": "GLOBEX-ONLY-PROPOSAL"})
    )  # fmt: skip
    sent["Kobe Yard"] = store.step_proposal(draft.proposal_id, "send", "ken", t)
    v = _viewer(app)
    j = v.get("/api/consulting").get_json()
    assert {p["proposal_id"] for p in j["proposals"]} == {p.proposal_id for p in sent.values()}
    assert all(p["state"] == "sent" and p["title"] for p in j["proposals"])
    covered = {p.asset_id for p in sent.values()}
    assert not covered & {a["asset_id"] for a in j["open_actions"]}  # listed once, as proposed
    c = app.test_client()
    login(c, "acme-user", PASSWORD)
    mine = c.get("/api/consulting").get_json()["proposals"]
    assert {p["site"] for p in mine} <= {"Osaka Works", "Nagoya Plant"} and mine
    html = c.get("/consulting").get_data(as_text=True)
    assert sent["Osaka Works"].proposal_id in html and "GLOBEX-ONLY" not in html
    assert "GLOBEX-ONLY" not in c.get("/api/consulting").get_data(as_text=True)


# ------------------------------------------------------------------ known answers, end to end

DAY = 86400


def _frames(node: str, start: float, days: int, starts_per_day: int) -> list[FrameRecord]:
    """A report every 10 minutes; the machine runs 06:00-22:00 UTC and starts
    `starts_per_day` times a day within those hours (each a stop of 10 minutes)."""
    out = []
    runtime = starts = 0
    running = False
    stops = {6 * 6 + 1 + 2 * k for k in range(starts_per_day - 1)}  # 10-minute slots
    for i in range(days * 144):
        t = start + i * 600
        slot = i % 144
        run = 36 <= slot < 132 and slot not in stops
        if run:
            runtime += 600
            starts += 0 if running else 1
        running = run
        out.append(
            FrameRecord(node, 1, i + 1, "report", int(t), t, t, b"", flags=int(run), dropped=0,
                        runtime_s=runtime, starts=starts, acc_rms_mg=(10, 10, 10),
                        vel_rms_mm_s_x100=(100, 80, 50) if run else (3, 3, 3), peak_mg=20,
                        kurtosis_x100=300, temp_c_x10=300)
        )  # fmt: skip
    return out


def test_frames_of_known_starts_make_the_recommendation(tmp_path: Path) -> None:
    st = open_store(str(tmp_path / "k.db"))
    st.set_site(Site("Plant", "UTC"))
    start = 1_780_000_000 // DAY * DAY  # a UTC midnight in 2026
    for n, (aid, name) in enumerate((("P1", "Press 1"), ("P2", "Press 2"))):
        st.upsert_asset(Asset(aid, "Plant", name, f"n{n}", description=name))
    st.write_batch(WriteBatch(frames=_frames("n0", start, 10, 6)))
    st.write_batch(WriteBatch(frames=_frames("n1", start, 10, 40)))
    add_users(st)
    app = create_app(
        {"SECRET_KEY": "t", "TESTING": True, "CLOCK": lambda: start + 10 * DAY - 1}, store=st
    )
    c = _viewer(app)
    j = c.get("/api/consulting/Plant?days=10").get_json()
    m = {x["asset_id"]: x for x in j["sites"][0]["machines"]}
    assert m["P1"]["starts_per_day"] == 6 and m["P2"]["starts_per_day"] == 40
    assert m["P1"]["by_shift"]["night"]["running_h"] == 0
    # 16 h a day less the 10-minute stops (the first day's first report starts the counter)
    assert abs(m["P1"]["running_h"] - 10 * (16 - 5 / 6)) < 0.5
    texts = [r["text"] for r in j["recommendations"] if r["kind"] == "start_stop"]
    assert texts == [
        "Press 2 starts 40 times a day against 6 for Press 1 (more on 10 of 10 full days)."
    ]
    st.close()
