"""Parts page: what to order by when (demand split into committed and forecast), stock per
warehouse, the parts held for proposals, and the price list; its JSON/CSV API.

Roles: every service-team user reads; a technician also counts and moves stock; an admin
also edits the price list. A customer's user sees only the parts held for its own machines
(tenancy.TenantFleet: no stock, prices or demand), and the stock, demand and price-list API
answer it 403.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for

from gateway.parts import HORIZONS

from .auth import fleet, requires
from .parts_data import (
    CATALOG_COLUMNS,
    DEMAND_COLUMNS,
    RESERVATION_COLUMNS,
    STOCK_COLUMNS,
    catalog_part_of,
    pieces,
)
from .util import table

bp = Blueprint("parts", __name__)


def is_customer() -> bool:
    return bool(g.user and g.user.get("customer"))


def _service_team_only() -> None:
    if is_customer():
        abort(403, "stock, prices and parts demand are the service team's")


@bp.get("/parts")
def page() -> str:
    f = fleet()
    show_all = request.args.get("reservations") == "all"
    return render_template(
        "parts.html",
        customer=is_customer(),
        plan=f.parts_plan(),
        stock=f.parts_stock(),
        catalog=f.parts_catalog(),
        reservations=f.parts_reservations(open_only=not show_all),
        show_all=show_all,
        horizons=HORIZONS,
    )


@bp.post("/parts/stock")
@requires("technician")
def form_stock() -> Any:
    """A stock take (mode=set: the pieces counted) or a movement (mode=adjust: +received,
    -taken). Refused with the reason; nothing is changed then."""
    form = request.form
    part, warehouse = form.get("part_number", ""), form.get("warehouse", "").strip()
    mode = form.get("mode", "set")
    if mode not in ("set", "adjust"):
        abort(400, "mode must be set (a count) or adjust (+received / -taken)")
    try:
        count = pieces(form.get("count", ""), "count" if mode == "set" else "change")
        change = fleet().set_stock if mode == "set" else fleet().adjust_stock
        row = change(part, warehouse, count, g.user["name"])
    except ValueError as e:
        abort(400, str(e))
    flash(f"{row['part_number']} at {row['warehouse']}: {row['on_hand']} on hand.")
    return redirect(url_for("parts.page"))


@bp.post("/parts/catalog")
@requires("admin")
def form_catalog() -> Any:
    try:
        part = catalog_part_of(dict(request.form))
        fleet().put_catalog_part(part)
    except ValueError as e:
        abort(400, str(e))
    flash(f"Price list: {part.part_number} saved.")
    return redirect(url_for("parts.page"))


@bp.get("/api/parts/demand")
def api_demand() -> Response:
    _service_team_only()
    return table(fleet().parts_plan(), "parts-demand-plan", DEMAND_COLUMNS)


@bp.get("/api/parts/stock")
def api_stock() -> Response:
    _service_team_only()
    return table(fleet().parts_stock(), "parts-stock", STOCK_COLUMNS)


@bp.get("/api/parts/catalog")
def api_catalog() -> Response:
    _service_team_only()
    return table(fleet().parts_catalog(), "parts-catalog", CATALOG_COLUMNS)


@bp.get("/api/parts/reservations")
def api_reservations() -> Response:
    """Open reservations (?state=all: every state); a customer's user: its machines' only."""
    rows = fleet().parts_reservations(open_only=request.args.get("state") != "all")
    return table(
        [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
        "parts-reservations",
        RESERVATION_COLUMNS,
    )
