"""Admin: users (add, role, disable), asset names/sites, node assignment."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for

from gateway.domain import ROLES
from gateway.shifts import parse_shifts

from .auth import fleet, hash_password, requires
from .centre import sent_or
from .data import Row
from .exports import USER_COLUMNS
from .users import MIN_PASSWORD, USER_NAME_RULE, check_user_name
from .util import json_response, table

bp = Blueprint("admin", __name__)


def add_user(data: dict[str, Any]) -> Row:
    name, role, pw = data.get("name", ""), data.get("role", ""), data.get("password", "")
    if not all(isinstance(v, str) for v in (name, role, pw)):
        abort(400, "name, role and password must be strings")
    try:
        check_user_name(name)
    except ValueError:
        abort(400, USER_NAME_RULE)
    if role not in ROLES:
        abort(400, f"role must be one of {', '.join(ROLES)}")
    if len(pw) < MIN_PASSWORD:
        abort(400, f"password must have at least {MIN_PASSWORD} characters")
    if fleet().get_user(name):
        abort(409, "user exists")
    fleet().add_user(name, role, hash_password(pw))
    return {"name": name, "role": role}


@bp.get("/admin")
@requires("admin")
def page() -> str:
    f = fleet()
    assets = sorted(f.overview(), key=lambda r: r["id"])[:500]
    from zoneinfo import available_timezones

    from gateway.domain import ZONE_LIMITS

    return render_template(
        "admin.html",
        site_zones=sorted(f.site_zones().items()),
        site_shifts=f.site_shifts(),
        all_zones=sorted(available_timezones()),
        users=f.list_users(),
        roles=ROLES,
        assets=assets,
        nodes=f.nodes()[:500],
        groups=list(ZONE_LIMITS),
    )


@bp.get("/api/users")
@requires("admin")
def api_users() -> Response:
    return table(fleet().list_users(), "users", USER_COLUMNS)


@bp.post("/api/users")
@requires("admin")
def api_add_user() -> Response:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, "expected a JSON object")
    return json_response(add_user(data), 201)


@bp.post("/admin/users")
@requires("admin")
def form_add_user() -> Any:
    u = add_user(request.form.to_dict())
    flash(f"User {u['name']} added.")
    return redirect(url_for("admin.page"))


@bp.post("/admin/users/<name>")
@requires("admin")
def form_set_user(name: str) -> Any:
    if not fleet().get_user(name):
        abort(404)
    role = request.form.get("role") or None
    if role is not None and role not in ROLES:
        abort(400, "bad role")
    if name == g.user["name"] and (role not in (None, "admin") or request.form.get("disabled")):
        abort(400, "you cannot demote or disable yourself")
    fleet().set_user(name, role=role, disabled=bool(request.form.get("disabled")))
    flash(f"User {name} updated.")
    return redirect(url_for("admin.page"))


@bp.post("/admin/assets/<asset_id>")
@requires("admin")
def form_asset(asset_id: str) -> Any:
    if fleet().asset(asset_id) is None:
        abort(404)
    fields = {k: request.form.get(k, "")[:120] for k in ("name", "site", "machine")}
    for k in ("machine_group", "zones"):  # absent from the form = unchanged
        if k in request.form:
            fields[k] = request.form[k][:120]
    try:
        fleet().update_asset(asset_id, fields)
    except ValueError as e:
        abort(400, str(e))
    flash(sent_or(f"Asset {asset_id} updated."))
    return redirect(url_for("admin.page"))


@bp.post("/admin/sites/<site>")
@requires("admin")
def form_site(site: str) -> Any:
    if site not in fleet().site_zones():
        abort(404)
    tz = request.form.get("tz", "").strip()
    shifts = request.form.get("shifts")
    try:
        if shifts is not None:
            parse_shifts(shifts)  # refused before anything is written
        fleet().set_site_zone(site, tz)
        if shifts is not None:  # the form's optional field (gateway/shifts.py)
            fleet().set_site_shifts(site, shifts.strip()[:200])
    except ValueError as e:
        abort(400, str(e))
    flash(sent_or(f"Site {site}: times are shown and typed in {tz}."))
    return redirect(url_for("admin.page"))


@bp.post("/admin/nodes/<node_id>")
@requires("admin")
def form_node(node_id: str) -> Any:
    target = request.form.get("asset_id", "").strip() or None
    if target is not None and fleet().asset(target) is None:
        abort(400, "unknown asset")
    if not any(n["id"] == node_id for n in fleet().nodes()):
        abort(404)
    try:
        fleet().assign_node(node_id, target)
    except ValueError as e:
        abort(400, str(e))
    flash(sent_or(f"Node {node_id} assigned to {target or 'nothing'}."))
    return redirect(url_for("admin.page"))
