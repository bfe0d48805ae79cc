"""The fleet server's commands to its site gateways (fleet_web/centre.py): what was asked of
which site, and whether the site applied it or refused it (with the site's reason)."""

from __future__ import annotations

from flask import Blueprint, Response, render_template

from .auth import fleet, requires
from .util import int_arg, json_response

bp = Blueprint("commands", __name__)


@bp.get("/commands")
@requires("technician")
def page() -> str:
    rows = fleet().commands(int_arg("limit", 200, 1, 1000))
    return render_template("commands.html", rows=rows)


@bp.get("/api/commands")
@requires("technician")
def api_commands() -> Response:
    return json_response(fleet().commands(int_arg("limit", 200, 1, 1000)))
