"""The KPI page, its JSON and CSV (docs/SERVICE.md "KPIs").

The figures are gateway/kpis.py's over the inputs gateway/kpi_report.py reads; this module picks
the assets the user may see (`auth.fleet()` is already the tenant's view, so a customer's user
gets its own machines only), the months (`?months=6`, `?end=YYYY-MM`, default the current
month) and the customer (`?customer=`, the fleet server's tags), and renders.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, render_template, request

from gateway import kpis

from .auth import fleet
from .data import Row
from .report import _now
from .util import csv_response, int_arg, json_response

bp = Blueprint("kpis", __name__)

KPI_COLUMNS = ("period", "customer", "kpi", "value", "events", "note")
# The rows of the CSV and the page's table, in order: (key, label).
FLEET_ROWS = (
    ("warnings", "Warnings raised"),
    ("precision", "Confirmed at inspection (precision)"),
    ("missed_failures", "Missed failures"),
    ("lead_time_days", "Median lead time, warning to action (days)"),
    ("proposals_sent", "Proposals sent"),
    ("proposals_accepted", "Proposals accepted"),
    ("acceptance_rate", "Acceptance rate"),
    ("revenue_proactive", "Revenue from proactive work"),
    ("revenue_reactive", "Revenue from reactive repairs"),
    ("downtime_avoided_h", "Downtime avoided (h)"),
    ("downtime_booked_h", "Downtime to be avoided, booked (h)"),
)
DEFINITION_OF = {
    "warnings": "warnings", "precision": "precision", "missed_failures": "missed",
    "lead_time_days": "lead_time", "proposals_sent": "proposals",
    "proposals_accepted": "proposals", "acceptance_rate": "proposals",
    "revenue_proactive": "revenue", "revenue_reactive": "revenue",
    "downtime_avoided_h": "downtime", "downtime_booked_h": "downtime",
}  # fmt: skip


def _periods() -> list[kpis.Period]:
    count = int_arg("months", 6, 1, 24)
    text = request.args.get("end", "").strip()
    try:
        last = kpis.month(text) if text else kpis.month(kpis.month_of(_now()))
    except ValueError as e:
        abort(400, str(e))
    return kpis.months(last.start, count)


def _scope() -> tuple[str, list[str]]:
    """(scope name, asset ids): one customer's machines, or every machine the user sees."""
    rows = fleet().overview()
    tags = fleet().site_customers()
    customer = request.args.get("customer", "").strip()
    if customer:
        rows = [r for r in rows if tags.get(str(r["site"])) == customer]
        if not rows:
            abort(404, "no such customer")
        return customer, [str(r["id"]) for r in rows]
    return "All machines", [str(r["id"]) for r in rows]


def build() -> tuple[str, dict[str, Any]]:
    scope, ids = _scope()
    periods = _periods()
    inp = fleet().kpi_inputs(ids, periods[0].start, periods[-1].end)
    return scope, kpis.report(inp, periods)


def cell(k: Row, key: str) -> tuple[Any, int | None, str]:
    """(value, events, note) of one figure of a period's KPIs: what the CSV and page show."""
    v = k[key]
    if key == "revenue_proactive":
        return v["text"], None, ""
    if isinstance(v, dict):
        value = v["value"]
        if key in ("precision", "acceptance_rate") and value is not None:
            value = round(value * 100, 1)
        return value, v["n"], v["why"] or v["text"]
    if key == "downtime_avoided_h":
        over = k["downtime_over_bound"]
        note = f"{over} entr{'y' if over == 1 else 'ies'} above the bound left out, to review"
        return v, len(k["downtime_entries"]), note if over else ""
    if key == "downtime_booked_h":
        return v, len(k["downtime_booked"]), "not counted until done"
    return v, None, ""


def csv_rows(rep: dict[str, Any]) -> list[Row]:
    out: list[Row] = []

    def add(k: Row, customer: str) -> None:
        for key, label in FLEET_ROWS:
            value, n, note = cell(k, key)
            if key in ("precision", "acceptance_rate") and value is not None:
                label += " (%)"
            if key == "precision":
                note = (note + f"; {k['not_judged']} not judged yet").lstrip("; ")
            out.append({"period": k["period"], "customer": customer, "kpi": label,
                        "value": value, "events": n, "note": note})  # fmt: skip

    for k in rep["fleet"]:
        add(k, "")
    for c in rep["customers"]:
        add(c["kpis"], c["customer"])
        last = c["kpis"]["period"]
        avail = c["availability"]
        pct = None if avail["value"] is None else round(avail["value"] * 100, 2)
        for label, value, f in (
            ("Availability (%)", pct, avail),
            ("MTBF (h)", c["mtbf_h"]["value"], c["mtbf_h"]),
        ):
            note = "; ".join(x for x in (f["text"], f["why"]) if x)
            out.append({"period": last, "customer": c["customer"], "kpi": label,
                        "value": value, "events": f["n"], "note": note})  # fmt: skip
        for m in c["service_revenue"]:
            out.append({"period": m["period"], "customer": c["customer"],
                        "kpi": "Service revenue", "value": m["text"], "events": None,
                        "note": ""})  # fmt: skip
        out.append({"period": last, "customer": c["customer"], "kpi": "Open risk (machines)",
                    "value": len(c["open_risk"]), "events": None, "note": ""})  # fmt: skip
    return out


def export_rows() -> list[Row]:
    """`/export/kpis.csv`: the default months over every machine the user sees."""
    return csv_rows(build()[1])


@bp.get("/kpis")
def page() -> str:
    scope, rep = build()
    tags = fleet().site_customers()
    names = {str(r["id"]): str(r["name"]) for r in fleet().overview()}
    return render_template(
        "kpis.html", scope=scope, rep=rep, rows=FLEET_ROWS, cell=cell, names=names,
        definition_of=DEFINITION_OF, customers=sorted(set(tags.values())), now=_now(),
    )  # fmt: skip


@bp.get("/api/kpis")
def api() -> Response:
    scope, rep = build()
    if request.args.get("format") == "csv":
        return csv_response(csv_rows(rep), KPI_COLUMNS, "kpis")
    return json_response({"scope": scope, **rep})
