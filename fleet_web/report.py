"""Customer report per site: printable utilisation, runtime per day, health, recommendations."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template

from .auth import fleet
from .data import Row
from .util import int_arg, json_response, public_row

bp = Blueprint("report", __name__)


def _report(site: str) -> Row:
    if site not in fleet().sites():
        abort(404)
    days = int_arg("days", 30, 1, 366)
    rep = fleet().site_report(site, days)
    recs = [
        r for r in rep["assets"] if r["health"] in ("C", "D") or r["forecast_status"] == "degrading"
    ]
    rep["recommendations"] = [
        {
            "asset_id": r["id"],
            "name": r["name"],
            "machine": r["machine"],
            "action": "Replace"
            if r["health"] == "D"
            else "Plan replacement"
            if r["health"] == "C"
            else "Inspect",
            "window_start": r["window_start"],
            "rul_p10_date": r["rul_p10_date"],
            "rul_p50_date": r["rul_p50_date"],
        }
        for r in sorted(recs, key=lambda r: r["rul_p10_h"] if r["rul_p10_h"] is not None else 1e18)
    ]
    return rep


@bp.get("/report/<site>")
def page(site: str) -> str:
    rep = _report(site)
    peak = max((p["runtime_h"] for p in rep["runtime_per_day"]), default=0) or 1
    return render_template("report.html", r=rep, peak=peak, sites=fleet().sites())


@bp.get("/api/report/<site>")
def api_report(site: str) -> Response:
    rep = _report(site)
    rep["assets"] = [public_row(a) for a in rep["assets"]]
    return json_response(rep)
