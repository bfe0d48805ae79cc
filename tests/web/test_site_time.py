"""Local time on the page: an admin sets a site's zone, windows are typed and shown in it
(Tokyo: no DST; Berlin: DST), readings and charts carry the zone."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fleet_web import create_app

from .conftest import login


def _clients(store: Any) -> Any:
    app = create_app({"SECRET_KEY": "k"}, store=store)

    def make(name: str) -> tuple[Any, str]:
        c = app.test_client()
        return c, login(c, name)

    return make


def utc(*a: int) -> float:
    return dt.datetime(*a, tzinfo=dt.UTC).timestamp()


def test_site_zone_windows_and_labels(sqlite_store: Any) -> None:
    client = _clients(sqlite_store)
    admin, tok = client("admin")
    page = admin.get("/admin").get_data(as_text=True)
    assert "Osaka Works" in page and 'value="UTC"' in page  # default UTC, visibly
    r = admin.post("/admin/sites/Osaka Works", data={"csrf_token": tok, "tz": "Tokyo"})
    assert r.status_code == 400 and "unknown time zone" in r.get_data(as_text=True)
    for site, tz in (("Osaka Works", "Asia/Tokyo"), ("Nagoya Plant", "Europe/Berlin")):
        r = admin.post(f"/admin/sites/{site}", data={"csrf_token": tok, "tz": tz})
        assert r.status_code == 302
    assert (
        admin.post("/admin/sites/Nowhere", data={"csrf_token": tok, "tz": "UTC"}).status_code == 404
    )

    tech, tok = client("tech")
    form = {"csrf_token": tok, "site": "Osaka Works", "day": "2026-12-05", "from": "08:00",
            "to": "16:00", "note": "JST stop"}  # fmt: skip
    assert tech.post("/planner/windows", data=form).status_code == 302
    (w,) = [w for w in sqlite_store.windows("Osaka Works") if w.note == "JST stop"]
    assert (w.start, w.end) == (utc(2026, 12, 4, 23), utc(2026, 12, 5, 7))
    # A night stop at the Berlin site across the spring-forward night: 22:00 -> 06:00 CEST.
    form.update(
        site="Nagoya Plant", day="2027-03-27", note="night", **{"from": "22:00", "to": "06:00"}
    )
    assert tech.post("/planner/windows", data=form).status_code == 302
    (n,) = [w for w in sqlite_store.windows("Nagoya Plant") if w.note == "night"]
    assert (n.start, n.end) == (utc(2027, 3, 27, 21), utc(2027, 3, 28, 4))
    form.update(day="2027-03-28", note="gap", **{"from": "02:30", "to": "05:00"})
    r = tech.post("/planner/windows", data=form)
    assert r.status_code == 400 and "does not exist" in r.get_data(as_text=True)

    viewer, _ = client("viewer")
    planner = viewer.get("/planner").get_data(as_text=True)
    assert "2026-12-05 08:00–16:00 JST" in planner
    assert "2027-03-27 22:00–2027-03-28 06:00 CET/CEST" in planner
    assert 'datetime="2026-12-05T08:00:00+09:00"' in planner
    asset = viewer.get("/assets/AS-00001").get_data(as_text=True)  # an Osaka asset
    assert "times: Asia/Tokyo (JST)" in asset and " JST</time>" in asset
    assert viewer.get("/api/assets/AS-00001/history").json["tz"] == "Asia/Tokyo"
    assert viewer.get("/api/assets/AS-00002/history").json["tz"] == "Europe/Berlin"
    # The API: ISO 8601 with the site's offset, and the zone of each asset.
    a = viewer.get("/api/assets/AS-00001").json
    assert a["tz"] == "Asia/Tokyo" and a["last_seen"].endswith("+09:00")
    wins = viewer.get("/api/windows?site=Osaka+Works").json
    jst = next(w for w in wins if w["note"] == "JST stop")
    assert (jst["start"], jst["end"]) == ("2026-12-05T08:00:00+09:00", "2026-12-05T16:00:00+09:00")
    berlin = viewer.get("/api/assets/AS-00002").json
    assert berlin["last_seen"][-6:] in ("+01:00", "+02:00")
    events = viewer.get("/api/assets/AS-00001/events").json
    assert all(e["ts"].endswith("+09:00") for e in events)
    overview = viewer.get("/").get_data(as_text=True)
    assert " JST</time>" in overview and (" CET</time>" in overview or " CEST</time>" in overview)
