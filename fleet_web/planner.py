"""Service planner: maintenance windows per site with proposed jobs; parts demand."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from .auth import fleet
from .data import Row
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


@bp.get("/planner")
def page() -> str:
    site = request.args.get("site") or None
    return render_template(
        "planner.html",
        windows=fleet().windows(site),
        demand=demand(),
        sites=fleet().sites(),
        site=site,
        horizons=HORIZONS,
    )


@bp.get("/api/windows")
def api_windows() -> Response:
    rows = fleet().windows(request.args.get("site") or None)
    if request.args.get("format") == "csv":
        jobs = [
            {"window_id": w["id"], "site": w["site"], "start": w["start"], "end": w["end"], **j}
            for w in rows
            for j in w["jobs"]
        ]
        return table(jobs, "jobs")
    return table(rows, "windows")


@bp.get("/api/parts-demand")
def api_parts_demand() -> Response:
    return table(demand(), "parts-demand", ["part", *(f"weeks_{h}" for h in HORIZONS)])
