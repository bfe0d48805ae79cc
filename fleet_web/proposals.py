"""Proposals pages and API: the list, one proposal (the customer's page: the question, the
evidence with the chart, the risk, the stop, the priced lines, the downtime it avoids, and its
steps), making one from an asset's outlook, its steps, and the customers' terms.

Who may do what (docs/SERVICE.md "Proposals"): a technician or admin makes a proposal, sends
it, and marks it done; a customer's user accepts or declines its own customer's sent
proposals (its only write; tenancy.TenantFleet enforces whose), and the service team may
record a customer's answer given by phone (technician and up); an admin sets the terms.
Every step is recorded with who did it.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for

from .auth import fleet, requires, role_at_least, wants_json
from .data import Row
from .proposal_data import PROPOSAL_COLUMNS, STEPS, TERMS_COLUMNS
from .util import json_response, table

bp = Blueprint("proposals", __name__)
CHART_W, CHART_H = 640, 180


def is_customer() -> bool:
    return bool(g.user and g.user.get("customer"))


def may_step(step: str) -> bool:
    """Whether this user may try the step at all (whose proposal it is is tenancy's)."""
    if step in ("accept", "decline"):
        return is_customer() or role_at_least("technician")
    return role_at_least("technician")


def chart_svg(chart: Row | None) -> Row | None:
    """The proposal's stored chart as SVG coordinates (drawn on the server: a sent proposal
    shows the history it was sent with, printable without script)."""
    if not chart or not chart.get("t"):
        return None
    t, v, zones = chart["t"], chart["v"], list(chart.get("zones") or [])
    t0, t1 = min(t), max(t)
    top = max([*v, *(zones[-1:] or [0.0])]) * 1.1 or 1.0
    span = (t1 - t0) or 1.0

    def xy(ti: float, vi: float) -> tuple[float, float]:
        return (round((ti - t0) / span * CHART_W, 1), round(CHART_H - vi / top * CHART_H, 1))

    pts = " ".join(f"{x},{y}" for x, y in (xy(a, b) for a, b in zip(t, v, strict=True)))
    lines = [
        {"y": xy(t0, z)[1], "label": f"{name} {z:g} mm/s"}
        for name, z in zip(("A/B", "B/C", "C/D"), zones, strict=False)
        if math.isfinite(z) and z < top
    ]
    return {"w": CHART_W, "h": CHART_H, "points": pts, "zones": lines, "top": round(top, 2)}


def _answer(row: Row, status: int = 200) -> Any:
    if wants_json():
        return json_response(row, status)
    return redirect(url_for("proposals.page", proposal_id=row["id"]))


@bp.get("/proposals")
def index() -> str:
    state = request.args.get("state") or None
    rows = fleet().proposals(None, state)
    return render_template("proposals.html", rows=rows, state=state, customer=is_customer())


@bp.get("/proposals/<proposal_id>")
def page(proposal_id: str) -> str:
    row = fleet().proposal(proposal_id)
    if row is None:
        abort(404)
    steps = [s for s in STEPS if may_step(s)]
    return render_template(
        "proposal.html", p=row, c=row["content"], chart=chart_svg(row["content"].get("chart")),
        steps=steps, customer=is_customer(),
    )  # fmt: skip


# The page's rule is registered first (decorators apply bottom up): url_for, which the forms
# use, builds the first, and a form posted to the /api/ rule would be answered with JSON.
@bp.post("/api/assets/<asset_id>/proposals")
@bp.post("/assets/<asset_id>/proposals")
@requires("technician")
def make(asset_id: str) -> Any:
    if fleet().asset(asset_id) is None:
        abort(404)
    try:
        row = fleet().make_proposal(asset_id, g.user["name"])
    except KeyError:
        abort(404)
    except ValueError as e:
        abort(409, str(e))
    if not wants_json():
        flash(f"{row['id']} (revision {row['revision']}) drafted from the current outlook.")
    return _answer(row, 201)


@bp.post("/api/proposals/<proposal_id>/<step>")
@bp.post("/proposals/<proposal_id>/<step>")
def step(proposal_id: str, step: str) -> Any:
    if step not in STEPS:
        abort(404)
    if not may_step(step):
        abort(403)
    data = request.get_json(silent=True) if request.is_json else request.form
    note = str((data or {}).get("note", ""))[:500]
    if request.path.startswith("/api/"):  # the service-log entry unless "log_service": false
        log_service = (data or {}).get("log_service", True) is not False
    else:  # the form's checkbox
        log_service = request.form.get("log_service") == "1"
    try:
        row = fleet().proposal_step(proposal_id, step, g.user["name"], note, log_service)
    except KeyError:
        abort(404)
    except PermissionError:
        abort(403)
    except ValueError as e:
        abort(409, str(e))
    if not wants_json():
        flash(f"{row['id']} is {row['state']}.")
    return _answer(row)


@bp.get("/api/proposals")
def api_list() -> Response:
    rows = fleet().proposals(request.args.get("asset") or None, request.args.get("state") or None)
    if request.args.get("format") == "csv":
        return table(rows, "proposals", PROPOSAL_COLUMNS)
    return json_response(rows)


@bp.get("/api/proposals/<proposal_id>")
def api_one(proposal_id: str) -> Response:
    row = fleet().proposal(proposal_id)
    if row is None:
        abort(404)
    return json_response(row)


@bp.get("/terms")
@requires("admin")
def terms() -> str:
    return render_template(
        "terms.html", rows=fleet().customer_terms(), customers=fleet().customers()
    )


@bp.get("/api/terms")
@requires("admin")
def api_terms() -> Response:
    return table(fleet().customer_terms(), "terms", TERMS_COLUMNS)


@bp.post("/terms")
@requires("admin")
def set_terms() -> Any:
    f = request.form
    try:
        labour, down = float(f.get("labour_rate", "")), float(f.get("downtime_cost_h", ""))
    except ValueError:
        abort(400, "labour rate and downtime cost must be numbers")
    customer = f.get("customer", "").strip()
    try:
        fleet().set_terms(
            customer, f.get("currency", "").strip().upper(), labour, down, g.user["name"]
        )
    except ValueError as e:
        abort(400, str(e))
    flash(f"Terms of {customer or 'this gateway'} saved.")
    return redirect(url_for("proposals.terms"))


@bp.app_template_filter("money")
def money_filter(amount: float | None, currency: str | None) -> str:
    from gateway.proposal_text import money

    return money(amount, currency or "")


@bp.app_template_filter("sitedate")
def sitedate_filter(ts: float | None, tz: str) -> str:
    """'Wednesday 9 December 2026' on the proposal's site calendar ('–' without a date)."""
    from gateway.proposal_text import day

    return "–" if ts is None else day(float(ts), tz)
