"""Downtime-avoided ledger page: the entries behind the KPI tile, the bound each must respect,
and an admin's correction of an entry (hours or the acted-on-warning mark)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from gateway.service_entry import MAX_DOWNTIME_AVOIDED_H

from .auth import fleet, requires
from .centre import sent_or
from .data import Row

bp = Blueprint("ledger", __name__)


def totals(rows: list[Row]) -> Row:
    """The KPI: hours of the entries within their bound; the others wait for an admin."""
    counted = [r for r in rows if not r.get("needs_review")]
    return {
        "downtime_avoided_h": round(sum(float(r["downtime_avoided_h"] or 0) for r in counted), 1),
        "warnings_acted_on": len(rows),
        "to_review": len(rows) - len(counted),
    }


@bp.get("/ledger")
def page() -> str:
    rows = fleet().ledger()
    return render_template(
        "ledger.html", rows=rows, totals=totals(rows), max_h=MAX_DOWNTIME_AVOIDED_H
    )


@bp.post("/ledger/<int:entry_id>")
@requires("admin")
def correct(entry_id: int) -> Any:
    try:
        hours = float(request.form.get("downtime_avoided_h", ""))
    except ValueError:
        abort(400, "downtime avoided must be a number of hours")
    acted = request.form.get("acted_on_warning") in ("1", "on", "true")
    try:
        fleet().correct_ledger(entry_id, acted, hours, g.user["name"])
    except KeyError:
        abort(404)
    except ValueError as e:
        abort(400, str(e))
    flash(sent_or(f"Ledger entry {entry_id} corrected."))
    return redirect(url_for("ledger.page"))
