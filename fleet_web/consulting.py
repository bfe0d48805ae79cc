"""The consulting report per customer and per site: pages, JSON and CSV.

The numbers are gateway/consulting/'s, computed from the stored hourly data in each site's
own time zone; this module picks the sites the user may see (`auth.fleet()` is already the
tenant's view), the period (`?days=28`, `?end=YYYY-MM-DD`, the last day, default today) and the
shifts (`?shifts=early=06-14,...` for every site of the report, else each site's own, else
06-14/14-22/22-06), and renders.

Scope: `/consulting` covers every site the user sees, or one customer's (`?customer=`, the fleet
server's tags; a customer's user sees only its own anyway); `/consulting/<site>` one site.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, abort, render_template, request

from gateway import consulting, sitetime
from gateway.shifts import OUTSIDE, Shift, parse_shifts

from .auth import fleet
from .data import Row
from .report import TO_DO, _now, action_of
from .util import csv_response, int_arg, json_response

bp = Blueprint("consulting", __name__)

CSV_COLUMNS = (
    "site", "asset_id", "name", "machine", "enough_data", "monitored_h", "running_h", "idle_h",
    "utilisation", "starts", "starts_per_day", "zone_a_h", "zone_b_h", "zone_c_h", "zone_d_h",
    "utilisation_previous", "starts_per_day_previous", "zone_c_h_previous", "zone_d_h_previous",
    "warnings", "warnings_previous",
)  # fmt: skip
PROPOSALS_NOTE = (
    "Open proposals: sent and awaiting an answer, or accepted with the job booked (drafts are "
    "not proposed yet). Below them, the outlook's open actions that no open proposal covers."
)


def _shifts(site: str) -> tuple[Shift, ...]:
    """`?shifts=` when given (every site of the report), else the site's own (`kizashi site
    set NAME --shifts`, the admin page), else the default three."""
    text = request.args.get("shifts", "").strip() or fleet().site_shifts().get(site, "")
    try:
        return parse_shifts(text)
    except ValueError as e:
        abort(400, str(e))


def _period(tz: str) -> consulting.Period:
    days = int_arg("days", consulting.DEFAULT_DAYS, 1, 366)
    text = request.args.get("end", "").strip()
    if text:
        try:
            last = dt.date.fromisoformat(text)
        except ValueError:
            abort(400, f"end must be a date YYYY-MM-DD, got {text[:40]!r}")
    else:
        last = dt.date.fromisoformat(sitetime.date_at(_now(), tz) or "1970-01-01")
    return consulting.period_ending(last, days)


def _name(r: Row) -> str:
    """The asset's name, or its machine and id when it has none (the registry's description
    is optional): "Exhaust fan (OSK-FAN-01)" reads better in a sentence than an id."""
    return str(r["name"]) if r["name"] != r["id"] else f"{r['machine']} ({r['id']})"


def _customer_sites() -> tuple[str, list[str]]:
    """(scope name, sites) of `/consulting`: one customer's sites, or every visible one."""
    sites = fleet().sites()
    tags = fleet().site_customers()
    customer = request.args.get("customer", "").strip()
    if customer:
        mine = [s for s in sites if tags.get(s) == customer]
        if not mine:
            abort(404, "no such customer")
        return customer, mine
    owners = {tags.get(s, "") for s in sites}
    return (owners.pop() if len(owners) == 1 and "" not in owners else "All sites"), sites


Built = tuple[consulting.Report, list[Row], list[Row]]


def build(scope: str, sites: list[str]) -> Built:
    """The report, the open proposals of its assets and the open actions no open proposal
    covers."""
    if not sites:
        abort(404, "no sites yet")
    zones = fleet().site_zones()
    rows = sorted((r for r in fleet().overview() if r["site"] in sites), key=lambda r: r["id"])
    inputs = []
    for s in sites:
        specs = tuple(
            consulting.MachineSpec(
                r["id"], _name(r), r["machine"], s,
                (r["zones"]["A"], r["zones"]["B"], r["zones"]["C"]),
            )
            for r in rows
            if r["site"] == s
        )  # fmt: skip
        inputs.append(consulting.SiteInput(s, zones.get(s, sitetime.UTC_NAME), _shifts(s), specs))
    period = _period(inputs[0].tz)
    start, end = consulting.fetch_bounds(inputs, period)
    ids = [r["id"] for r in rows]
    report = consulting.build_report(
        scope, inputs, fleet().hourly(ids, start, end), fleet().warning_times(ids, start, end),
        period,
    )  # fmt: skip
    proposals = fleet().open_proposals(ids)
    proposed = {p["asset_id"] for p in proposals}
    actions = [r for r in rows if r.get("action") in TO_DO and r["id"] not in proposed]
    actions.sort(key=lambda r: (r.get("service_due") or "9999", r["id"]))
    names = {r["id"]: _name(r) for r in rows}
    for p in proposals:
        p["name"] = names.get(p["asset_id"], p["asset_id"])
    return report, proposals, actions


def _open_actions(actions: list[Row]) -> list[Row]:
    return [
        {
            "asset_id": r["id"], "name": _name(r), "site": r["site"], "health": r["health"],
            "action": action_of(r), "service_due": r.get("service_due"),
            "window_start": r.get("window_start"), "window_end": r.get("window_end"),
        }
        for r in actions
    ]  # fmt: skip


def _csv_rows(report: consulting.Report) -> list[Row]:
    by_id = {(c.site, c.asset_id): c for c in report.changes}
    out = []
    for s in report.sites:
        for m in s.machines:
            d = m.to_dict()
            ch = by_id[(s.site, m.spec.asset_id)]
            d.update({f"zone_{z.lower()}_h": v for z, v in d["zone_h"].items()})
            d["utilisation_previous"] = _r(ch.utilisation[1], 3)
            d["starts_per_day_previous"] = _r(ch.starts_per_day[1], 1)
            d["zone_c_h_previous"] = _r(ch.zone_c_h[1], 1)
            d["zone_d_h_previous"] = _r(ch.zone_d_h[1], 1)
            d["warnings"], d["warnings_previous"] = ch.warnings
            out.append(d)
    return out


def _r(v: float | None, nd: int) -> float | None:
    return None if v is None else round(v, nd)


def _answer(built: Built, name: str) -> Response:
    report, proposals, actions = built
    if request.args.get("format") == "csv":
        return csv_response(_csv_rows(report), CSV_COLUMNS, f"consulting-{name}")
    body = report.to_dict()
    body["proposals"] = proposals
    body["open_actions"] = _open_actions(actions)
    body["proposals_note"] = PROPOSALS_NOTE
    return json_response(body)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:.0f} %"


def _h(v: float) -> str:
    return f"{v:,.0f} h"


def charts(report: consulting.Report) -> Row:
    """What the page's SVG charts draw (templates/_svgcharts.html): utilisation by shift and
    weekday over the report's sites, and per site running/idle, starts per day and zone hours
    per machine. A machine without enough data draws no bar and says so."""
    labels = {s.name: s.label for site in report.sites for s in site.shifts}
    shift = [
        (k, labels.get(k, ""), u.utilisation, f"{_h(u.running_h)} of {_h(u.monitored_h)}")
        for k, u in report.by_shift().items()
        if u.monitored_h or k != OUTSIDE
    ]
    week = [consulting.Usage() for _ in range(7)]
    for site in report.sites:
        for d, u in enumerate(site.by_weekday()):
            week[d].add(u)
    weekday = [
        (consulting.WEEKDAYS[d], "", u.utilisation, f"{_h(u.running_h)} of {_h(u.monitored_h)}")
        for d, u in enumerate(week)
    ]
    sites = []
    for site in report.sites:
        ok = [m for m in site.machines if m.enough]
        Bars = list[tuple[str, list[tuple[float, str, str]], str]]
        run: Bars = []
        starts: Bars = []
        zones: Bars = []
        for m in site.machines:
            t, name = m.total, m.spec.name
            if not m.enough:
                none: list[tuple[float, str, str]] = []
                for rows in (run, starts, zones):
                    rows.append((name, none, "not enough data"))
                continue
            run.append((name, [(t.running_h, "seg-run", f"{_h(t.running_h)} running"),
                               (t.idle_h, "seg-idle", f"{_h(t.idle_h)} idle")],
                        f"{_pct(t.utilisation)} running"))  # fmt: skip
            spd = t.starts_per_day or 0.0
            starts.append((name, [(spd, "seg-starts", f"{t.starts} starts")], f"{spd:.1f} a day"))
            z = t.zone_h
            zones.append((name, [(z[k], f"seg-z{k}", f"{_h(z[k])} in zone {k}") for k in "ABCD"],
                          f"C {_h(z['C'])} · D {_h(z['D'])}"))  # fmt: skip
        sites.append({
            "run": run, "starts": starts, "zones": zones,
            "run_top": max((m.total.monitored_h for m in ok), default=0.0),
            "starts_top": max((m.total.starts_per_day or 0.0 for m in ok), default=0.0),
            "zones_top": max((sum(m.total.zone_h.values()) for m in ok), default=0.0),
        })  # fmt: skip
    return {"shift": shift, "weekday": weekday, "sites": sites}


def _page(built: Built, site: str | None) -> str:
    report, proposals, actions = built
    tags = fleet().site_customers()
    return render_template(
        "consulting.html",
        rep=report,
        charts=charts(report),
        site=site,
        proposals=proposals,
        actions=_open_actions(actions),
        proposals_note=PROPOSALS_NOTE,
        sites=fleet().sites(),
        customers=sorted(set(tags.values())),
        shifts=request.args.get("shifts", "").strip(),
        th=consulting.THRESHOLDS,
        weekdays=consulting.WEEKDAYS,
        generated=_now(),
    )


@bp.get("/consulting")
def page() -> Any:
    scope, sites = _customer_sites()
    return _page(build(scope, sites), None)


@bp.get("/consulting/<site>")
def site_page(site: str) -> Any:
    if site not in fleet().sites():
        abort(404)
    return _page(build(site, [site]), site)


@bp.get("/api/consulting")
def api() -> Response:
    scope, sites = _customer_sites()
    return _answer(build(scope, sites), "all" if scope == "All sites" else scope)


@bp.get("/api/consulting/<site>")
def api_site(site: str) -> Response:
    if site not in fleet().sites():
        abort(404)
    return _answer(build(site, [site]), site)
