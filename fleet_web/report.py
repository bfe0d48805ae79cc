"""Customer report per site: utilisation, runtime per day, health and the recommended actions.

The report says what the overview says: its actions, dates and windows are the overview rows'
own fields (the gateway's one judgement per asset), never recomputed here. Days are the site's
calendar days in its time zone. Utilisation is running hours over monitored hours (hours with
readings), so a site monitored for 3 days is not averaged over 30.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from gateway import sitetime

from .adapter import part_to_fit
from .auth import fleet
from .data import Row
from .exports import REPORT_COLUMNS
from .sitefmt import tz_of
from .util import csv_response, int_arg, json_response, public_row

bp = Blueprint("report", __name__)
HOUR = 3600.0

# The outlook's actions that ask the customer for work (gateway/outlook/judgement.py); the
# words are the outlook's own `action_text`, the date its `service_due` (need-by).
TO_DO = ("plan", "unplanned_stop", "stop_now")


def _now() -> float:
    clock = getattr(fleet(), "clock", None)
    return float(clock() if callable(clock) else time.time())


def _days() -> int:
    return int_arg("days", 30, 1, 366)


def action_of(r: Row) -> str | None:
    """The overview row's recommendation in words; None when nothing is to be done."""
    if r.get("action") not in TO_DO:
        return None
    return str(r.get("action_text") or r["action"].replace("_", " "))


def _runtime(site: str, rows: list[Row], days: int, tz: str) -> tuple[list[Row], float, float]:
    """(runtime per local day from the first monitored day, running hours, monitored hours)."""
    now = _now()
    today = dt.date.fromisoformat(sitetime.date_at(now, tz) or "1970-01-01")
    first = today - dt.timedelta(days=days - 1)
    start = dt.datetime(first.year, first.month, first.day, tzinfo=sitetime.zone(tz)).timestamp()
    per_day: dict[str, float] = {}
    running = monitored = 0.0
    for r in rows:
        h = fleet().history(r["id"], start - HOUR, now + HOUR)
        prev = None
        for t, run in zip(h["t"], h["runtime_h"], strict=True):
            if t >= start:
                monitored += 1.0  # an hour with readings
                day = sitetime.date_at(t, tz) or ""
                per_day.setdefault(day, 0.0)
                if prev is not None and run >= prev:
                    step = min(run - prev, 1.0)  # at most the hour itself
                    per_day[day] += step
                    running += step
            prev = run
    out = []
    if per_day:
        d = dt.date.fromisoformat(min(per_day))
        while d <= today:
            key = d.isoformat()
            out.append({"date": key, "runtime_h": round(per_day.get(key, 0.0), 1)})
            d += dt.timedelta(days=1)
    return out, running, monitored


def build(site: str, days: int) -> Row:
    if site not in fleet().sites():
        abort(404)
    tz = tz_of(site)
    rows = sorted((r for r in fleet().overview() if r["site"] == site), key=lambda r: r["id"])
    per_day, running, monitored = _runtime(site, rows, days, tz)
    recs = [r for r in rows if action_of(r)]
    recs.sort(key=lambda r: (r.get("service_due") or "9999", r["id"]))
    return {
        "site": site,
        "tz": tz,
        "days": days,
        "generated": sitetime.iso_at(_now(), tz),
        "assets": rows,
        "monitored_days": len(per_day),
        "monitored_h": monitored,
        "running_h": round(running, 1),
        # None (said as "not enough data") before a single monitored hour.
        "utilisation": round(running / monitored, 3) if monitored else None,
        "runtime_per_day": per_day,
        "zones": {z: sum(1 for r in rows if r["health"] == z) for z in "ABCD"},
        "recommendations": [
            {
                "asset_id": r["id"],
                "name": r["name"],
                "machine": r["machine"],
                "health": r["health"],
                "action": action_of(r),
                "service_due": r.get("service_due"),
                "window_start": r.get("window_start"),
                "window_end": r.get("window_end"),
                "part": part_to_fit(r),
                "rul_p10_date": r.get("rul_p10_date"),
            }
            for r in recs
        ],
    }


@bp.get("/report")
def index() -> Any:
    sites = fleet().sites()
    if not sites:
        abort(404, "no sites yet")
    return redirect(url_for("report.page", site=sites[0]))


@bp.get("/report/<site>")
def page(site: str) -> str:
    rep = build(site, _days())
    peak = max((p["runtime_h"] for p in rep["runtime_per_day"]), default=0) or 1
    return render_template("report.html", r=rep, peak=peak, sites=fleet().sites())


@bp.get("/api/report/<site>")
def api_report(site: str) -> Response:
    rep = build(site, _days())
    if request.args.get("format") == "csv":
        return csv_response(rep["assets"], REPORT_COLUMNS, f"report-{site}")
    rep["assets"] = [public_row(a) for a in rep["assets"]]
    return json_response(rep)
