"""Asset page: vibration history with zone bands and forecast cone, events, service, parts."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for

from gateway.domain import SERVICE_KINDS
from gateway.sitetime import abbrev, date_at, iso_at

from .auth import fleet, requires
from .centre import sent_or
from .data import Row
from .exports import EVENT_COLUMNS, PART_COLUMNS, SERVICE_COLUMNS
from .sitefmt import tz_of
from .util import cache, downsample, int_arg, iso, json_response, public_row, table

bp = Blueprint("asset", __name__)
MAX_POINTS = 1200
EVENT_SCAN = 500  # recent events read for the asset page (housekeeping filtered out of them)
DAY = 86400.0


def _asset(asset_id: str) -> Row:
    a = fleet().asset(asset_id)
    if a is None:
        abort(404)
    return a


def _now() -> float:
    f = fleet()
    clock = getattr(f, "clock", None)
    return float(clock() if callable(clock) else getattr(f, "now", None) or time.time())


def chart_data(asset_id: str, days: int) -> Row:
    f = fleet()

    def make() -> Row:
        a = _asset(asset_id)
        end = _now()
        h = f.history(asset_id, end - days * DAY, end)
        t, v = downsample(h["t"], h["vel_rms"], MAX_POINTS)
        rt, run = downsample(h["t"], h["runtime_h"], MAX_POINTS // 2)
        st, starts = downsample(h["t"], h["starts"], MAX_POINTS // 2)
        cone = f.cone(asset_id)
        return {
            "asset_id": asset_id,
            "zones": a.get("zones") or {},
            "vibration": {"t": t, "vel_rms": v},
            "runtime": {"t": rt, "runtime_h": run},
            "starts": {"t": st, "starts": starts},
            "cone": cone,
            "points": len(h["t"]),
            "now": end,
            # The charts' time axis is the site's local time; its label the zone's
            # abbreviation(s) over the range (CET/CEST across a daylight-saving change).
            "tz": tz_of(a["site"]),
            "tz_label": _zone_label(end - days * DAY, end, tz_of(a["site"])),
        }

    out: Row = cache().get((f.version(), "chart", asset_id, days), make)
    return out


def _zone_label(start: float, end: float, tz: str) -> str:
    a, b = abbrev(start, tz), abbrev(end, tz)
    return a if a == b else f"{a}/{b}"


def _days() -> int:
    return int_arg("days", 90, 1, 730)


@bp.get("/assets/<asset_id>")
def page(asset_id: str) -> str:
    f = fleet()
    a = _asset(asset_id)
    # Node housekeeping (commands acknowledged, clock set, resends) is hidden unless asked.
    all_events = request.args.get("events") == "all"
    recent = f.events(asset_id, EVENT_SCAN)
    shown = [e for e in recent if all_events or not e.get("housekeeping")]
    return render_template(
        "asset.html",
        a=a,
        events=shown[:50],
        all_events=all_events,
        hidden_events=len(recent) - len(shown),
        service=f.service_log(asset_id),
        parts=f.parts(asset_id),
        proposals=f.proposals(asset_id),
        kinds=SERVICE_KINDS,
        days=_days(),
        iso=iso,
        today=date_at(_now(), tz_of(a["site"])),  # the site's calendar day
    )


@bp.get("/api/assets/<asset_id>")
def api_asset(asset_id: str) -> Response:
    return json_response(public_row(_asset(asset_id)))


@bp.get("/api/assets/<asset_id>/history")
def api_history(asset_id: str) -> Response:
    return json_response(chart_data(asset_id, _days()))


@bp.get("/api/assets/<asset_id>/events")
def api_events(asset_id: str) -> Response:
    _asset(asset_id)
    tz = tz_of(_asset(asset_id)["site"])
    rows = [{**e, "ts": iso_at(e["ts"], tz)} for e in fleet().events(asset_id)]
    if request.args.get("housekeeping") == "0":
        rows = [e for e in rows if not e.get("housekeeping")]
    return table(rows, f"events-{asset_id}", EVENT_COLUMNS)


@bp.get("/api/assets/<asset_id>/parts")
def api_parts(asset_id: str) -> Response:
    _asset(asset_id)
    return table(fleet().parts(asset_id), f"parts-{asset_id}", PART_COLUMNS)


@bp.get("/api/assets/<asset_id>/service")
def api_service(asset_id: str) -> Response:
    _asset(asset_id)
    rows = [{**e, "ts": iso(e["ts"])} for e in fleet().service_log(asset_id)]
    return table(rows, f"service-{asset_id}", SERVICE_COLUMNS)


def _record(asset_id: str, data: dict[str, Any]) -> Row:
    """Validate a service entry from the form or the JSON API and store it; 400 with the reason."""
    _asset(asset_id)
    try:
        avoided = float(data.get("downtime_avoided_h") or 0)
    except (TypeError, ValueError):
        abort(400, "downtime_avoided_h must be a number")
    stop_h, repair_cost = _optional_number(data, "stop_h"), _optional_number(data, "repair_cost")
    acted = data.get("acted_on_warning") in (True, "1", "on", "true", 1)
    date = data.get("date")
    if date is not None and not isinstance(date, str):
        abort(400, "date must be a string YYYY-MM-DD")
    try:
        return fleet().record_service(
            asset_id,
            str(data.get("kind", "")),
            g.user["name"],
            note=str(data.get("note", ""))[:2000],
            part=str(data.get("part", ""))[:100],
            acted_on_warning=acted,
            downtime_avoided_h=avoided,
            date=date or None,
            stop_h=stop_h,
            repair_cost=repair_cost,
        )
    except ValueError as e:
        abort(400, str(e))


def _optional_number(data: dict[str, Any], key: str) -> float | None:
    """A number the form or JSON may leave out (absent, empty or null: not recorded)."""
    v = data.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, bool):
        abort(400, f"{key} must be a number")
    try:
        return float(v)
    except (TypeError, ValueError):
        abort(400, f"{key} must be a number")


@bp.post("/api/assets/<asset_id>/service")
@requires("technician")
def api_record(asset_id: str) -> Response:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, "expected a JSON object")
    e = _record(asset_id, data)
    return json_response({**e, "ts": iso(e["ts"]), "asset": public_row(_asset(asset_id))}, 201)


@bp.post("/assets/<asset_id>/service")
@requires("technician")
def form_record(asset_id: str) -> Any:
    e = _record(asset_id, request.form.to_dict())
    flash(sent_or(f"{e['kind'].capitalize()} recorded."))
    return redirect(url_for("asset.page", asset_id=asset_id))
