"""Sensor nodes: firmware, births, resets, dropped frames, link quality, battery."""

from __future__ import annotations

from flask import Blueprint, Response, render_template

from .auth import fleet
from .util import table

bp = Blueprint("nodes", __name__)
NODE_COLUMNS = (
    "id",
    "asset_id",
    "site",
    "firmware",
    "slot",
    "rollbacks",
    "last_update",
    "sensor",
    "simulated_sensor",
    "temp_source",
    "heap_free",
    "heap_max_block",
    "last_birth",
    "last_seen",
    "reset_causes",
    "dropped_frames",
    "frames",
    "frames_lost",
    "ack_lag_s",
    "config_state",
    "config_reason",
    "rssi_dbm",
    "link_quality",
    "battery_v",
)


@bp.get("/nodes")
def page() -> str:
    rows = sorted(fleet().nodes(), key=lambda n: (n.get("site") or "", n["id"]))
    firmwares = sorted({str(n.get("firmware")) for n in rows})
    # Battery only where a node reports one (its birth); none of them: no column at all.
    any_battery = any(n.get("battery_v") is not None for n in rows)
    return render_template("nodes.html", nodes=rows, firmwares=firmwares, any_battery=any_battery)


@bp.get("/api/nodes")
def api_nodes() -> Response:
    return table(fleet().nodes(), "nodes", NODE_COLUMNS)
