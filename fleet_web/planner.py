"""Service planner: maintenance windows per site with proposed jobs; parts demand."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from gateway.sitetime import parse_local

from .auth import fleet, requires
from .centre import sent_or
from .data import Row
from .exports import JOB_COLUMNS, UNPLANNED_COLUMNS, WINDOW_COLUMNS
from .sitefmt import span, tz_of
from .util import table

bp = Blueprint("planner", __name__)
HORIZONS = (4, 8, 12)


def demand() -> list[Row]:
    """Parts demand for 4/8/12 weeks as one row per part."""
    by_part: dict[str, Row] = {}
    for w in HORIZONS:
        for r in fleet().parts_demand(w):
            row = by_part.setdefault(
                r["part"], {"part": r["part"], **{f"weeks_{h}": 0 for h in HORIZONS}}
            )
            row[f"weeks_{w}"] = r["quantity"]
    return sorted(by_part.values(), key=lambda r: (-r["weeks_12"], r["part"]))


def unplanned(site: str | None) -> list[Row]:
    """Assets the gateway's outlook says need a stop outside the planned windows (zone D: now;
    else by a date never after the P10 risk date), most urgent first, with the suspected fault,
    the part and when to order it."""
    rows = [
        {"asset_id": r["id"], "name": r["name"], "site": r["site"], "machine": r["machine"],
         "health": r["health"], "action": r["action"], "reason": r["action_text"],
         "fault": r["fault"], "stop_by": r.get("service_due"), "need_by": r["need_by"],
         "order_by": r["order_by"], "lead_time_days": r["lead_time_days"],
         "part": r["part_number"] if r["parts_needed"] else "",
         "rul_p10_date": r.get("rul_p10_date")}
        for r in fleet().overview()
        if r.get("action") in ("unplanned_stop", "stop_now")
        and (site is None or r["site"] == site)
    ]  # fmt: skip
    return sorted(rows, key=lambda r: (r["need_by"] or "9999", r["asset_id"]))


@bp.get("/planner")
def page() -> str:
    site = request.args.get("site") or None
    return render_template(
        "planner.html",
        unplanned=unplanned(site),
        proposal_of=fleet().proposal_status(),
        windows=fleet().windows(site),
        demand=demand(),
        sites=fleet().sites(),
        site=site,
        horizons=HORIZONS,
    )


@bp.post("/planner/windows")
@requires("technician")
def form_add_window() -> Any:
    """A planned stop typed in the site's wall clock: day, from, to (to <= from: next day)."""
    f = request.form
    site = f.get("site", "")
    if site not in fleet().site_zones():
        abort(400, "unknown site")
    tz = tz_of(site)
    day, t_from, t_to = f.get("day", ""), f.get("from", ""), f.get("to", "")
    try:
        start = parse_local(f"{day}T{t_from}", tz)
        end = parse_local(f"{day}T{t_to}", tz)
        if end <= start:  # a night shift stop: ends the next morning
            from datetime import date, timedelta

            nxt = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
            end = parse_local(f"{nxt}T{t_to}", tz)
        fleet().add_window(site, start, end, f.get("note", "")[:200])
    except ValueError as e:
        abort(400, str(e))
    flash(sent_or(f"Planned stop added at {site}: {span(start, end, site)}."))
    return redirect(url_for("planner.page", site=site))


@bp.get("/api/windows")
def api_windows() -> Response:
    rows = fleet().windows(request.args.get("site") or None)
    if request.args.get("format") == "csv":
        jobs = [
            {"window_id": w["id"], "site": w["site"], "start": w["start"], "end": w["end"], **j}
            for w in rows
            for j in w["jobs"]
        ]
        return table(jobs, "jobs", JOB_COLUMNS)
    if request.args.get("format") == "csv":
        return table(rows, "windows", WINDOW_COLUMNS)
    return table(rows, "windows")  # JSON: each window with its jobs


@bp.get("/api/unplanned")
def api_unplanned() -> Response:
    return table(unplanned(request.args.get("site") or None), "unplanned", UNPLANNED_COLUMNS)


@bp.get("/api/parts-demand")
def api_parts_demand() -> Response:
    return table(demand(), "parts-demand", ["part", *(f"weeks_{h}" for h in HORIZONS)])
