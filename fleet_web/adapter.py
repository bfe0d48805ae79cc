"""`FleetData` over the gateway store: registry, latest readings and the stored outlook.

The page computes no forecast: every judgement (zone, trend, remaining life, dates, the
recommended action) is the gateway's outlook (gateway/outlook), read from the store's `outlook`
table like the latest readings. After a write of its own (service entry, registry change) the
page asks the outlook engine to recompute that asset at once, so the answer reflects it.

Fresh by construction: `version()` follows the store's change stamp (checked at most every
STAMP_EVERY_S), and a changed stamp patches only the rows whose latest reading or outlook
changed since the last look, so a frame committed a moment ago is on the overview's next JSON.
The downtime-avoided ledger is kept in the service log; disabled users are `User.disabled`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway import sitetime
from gateway.domain import asset_zone_limits, part_install_dates
from gateway.forecast.health import is_sensor_fault
from gateway.kpi_report import inputs_from_store
from gateway.kpis import KpiInputs
from gateway.outlook import OutlookEngine
from gateway.service_entry import WARNING_EVENTS, build_entry
from gateway.store.api import Asset, LatestState, NodeInfo, Outlook, ServiceEntry

from .data import Row
from .parts_data import PartsData
from .proposal_data import ProposalData
from .util import iso, row_json


def _ack_lag(node_id: str) -> float | None:
    """Seconds from receipt of the node's oldest frame of the last commit to its ack: the
    pipeline's gauge, so only when the page runs in the gateway process (`gateway run`, demo)."""
    from gateway.metrics import REGISTRY

    v = REGISTRY.get("kizashi_node_ack_lag_seconds", node=node_id)
    return round(v, 3) if v else None


UPDATE_CODES = {  # gateway.rollout's per-node results
    "update_confirmed": "confirmed",
    "update_rolled_back": "rolled_back",
    "update_failed": "failed",
}

log = logging.getLogger(__name__)
HOUR = 3600.0
# An asset's health when its node's latest report is a sensor fault: never a zone.
SENSOR_FAULT = "sensor_fault"
DAY = 86400.0
STAMP_EVERY_S = 0.5  # the store's change stamp is read at most this often
# Proposals the customer has in hand: sent (awaiting its answer) or accepted (job booked).
OPEN_PROPOSAL_STATES = ("sent", "accepted")
FULL_EVERY_S = 30.0  # node health re-judged (it moves with time alone: ok, stale, offline)


def event_kind(source: str, code: str) -> str:
    """What the page shows as an event's kind: a node's codes carry a `node:` prefix (a node
    and the gateway are separate name spaces, issue 15 item 15; severities and words for each
    are in fleet_web/events.py)."""
    return code if source == "gateway" else "node:" + code


# The outlook's action, as the older `plan` field of the rows (templates, CSV).
PLAN_OF_ACTION = {
    "plan": "planned",
    "unplanned_stop": "unplanned_stop_needed",
    "stop_now": "unplanned_stop_needed",
}


# What a proposed job is, by why it was planned.
def part_to_fit(row: Row) -> str | None:
    """The part a job fits: only when the outlook needs one (a zone C machine without bearing
    signs gets remedial action first, not the asset's bearing)."""
    needed = row.get("parts_needed") or ()
    return str(needed[0]["part"]) if needed else None


JOB_KIND = {
    "forecast": "replacement",
    "zone_C": "remedial action (zone C)",
    "zone_D": "stop: vibration zone D",
}


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _date(ts: float | None, tz: str = "UTC") -> str | None:
    """The site's calendar day of an instant (YYYY-MM-DD)."""
    return None if ts is None or not math.isfinite(ts) else sitetime.date_at(ts, tz)


def _iso(ts: float | None, tz: str = "UTC") -> str | None:
    """ISO 8601 with the site's UTC offset (a UTC site: the short `Z` form)."""
    if ts is None or not math.isfinite(ts):
        return None
    return iso(ts) if tz == sitetime.UTC_NAME else sitetime.iso_at(ts, tz)


def _date_ts(d: str) -> float:
    try:
        return datetime.fromisoformat(d).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


def node_health(now: float, seen: float | None, online: bool | None) -> str:
    if online is None:
        return "none"
    if seen is None or now - seen > DAY:
        return "offline"
    return "ok" if online and now - seen < 900 else "stale"


def outlook_fields(o: Outlook | None, tz: str = "UTC") -> Row:
    """The outlook's part of an overview row (the asset page, API and CSV show the same);
    dates are the site's calendar days, times ISO 8601 with the site's offset (zone `tz`)."""
    if o is None:
        return {
            "forecast_status": "pending", "status_text": "Outlook not computed yet.",
            "trend": "unknown", "trend_pct_week": None, "health_index": 0.0, "method": "none",
            "rul_p10_h": None, "rul_p50_h": None, "rul_p90_h": None, "rul_p10_date": None,
            "rul_p50_date": None, "rul_p90_date": None, "life_text": "", "beyond_horizon": False,
            "level_mm_s": None, "level_n": 0, "action": "none", "action_text": "", "fault": "",
            "plan": None, "plan_reason": None, "service_due": None, "due_ts": None,
            "replace_on": None, "need_by": None, "order_by": None, "lead_time_days": None,
            "window_id": None, "window_start": None, "window_end": None, "parts_needed": [],
            "utilisation": None, "outlook_at": None, "_cone": None, "_p_ts": (None,) * 3,
            "warning": None, "zone_d_at": None, "pace": None, "order_late": False,
        }  # fmt: skip
    util = o.detail.get("utilisation")
    warn = o.detail.get("warning")
    pace = o.detail.get("pace")
    pace = pace if isinstance(pace, dict) else None
    # When the level reaches zone D at its current pace (zone C with a clear rise only).
    d_at = pace.get("at_ts") if pace is not None and pace.get("zone") == "D" else None
    return {
        "forecast_status": o.status, "status_text": o.status_text, "trend": o.trend,
        "trend_pct_week": o.trend_pct_week, "health_index": o.health_index, "method": o.method,
        "rul_p10_h": o.rul_p10_h, "rul_p50_h": o.rul_p50_h, "rul_p90_h": o.rul_p90_h,
        "rul_p10_date": _date(o.p10_ts, tz), "rul_p50_date": _date(o.p50_ts, tz),
        "rul_p90_date": _date(o.p90_ts, tz), "life_text": o.life_text,
        "beyond_horizon": o.beyond_horizon, "level_mm_s": o.level_mm_s, "level_n": o.level_n,
        "action": o.action, "action_text": o.action_text, "fault": o.fault,
        "plan": PLAN_OF_ACTION.get(o.action, "no_risk_in_horizon"), "plan_reason": o.reason,
        "service_due": _date(o.need_by_ts, tz), "due_ts": o.need_by_ts,
        "replace_on": o.need_by_ts, "need_by": _iso(o.need_by_ts, tz),
        "order_by": _iso(o.order_by_ts, tz), "lead_time_days": o.lead_time_days,
        # The order-by date had passed when the engine judged: "order now", not a past date.
        "order_late": o.order_by_ts is not None and o.order_by_ts < o.computed_at,
        "window_id": o.window_id, "window_start": _iso(o.window_start, tz),
        "window_end": _iso(o.window_end, tz),
        "parts_needed": [{"part": p, "quantity": q} for p, q in o.parts_needed],
        "utilisation": util if isinstance(util, dict) else None,
        "outlook_at": _iso(o.computed_at, tz), "_cone": o.detail.get("cone"),
        "_p_ts": (o.p10_ts, o.p50_ts, o.p90_ts),
        # The part's standing bearing warning: reason in words, when (ISO), running h since.
        "warning": None if not isinstance(warn, dict) else {
            "reason": warn.get("reason"), "channel": warn.get("channel"),
            "at": _iso(warn["ts"], tz) if isinstance(warn.get("ts"), int | float) else None,
            "running_h_since": warn.get("running_h_since"),
        },
        "zone_d_at": _iso(d_at, tz) if isinstance(d_at, int | float) else None,
        # The measured level's pace toward the next zone limit, in words and figures.
        "pace": None if pace is None else {
            "zone": pace.get("zone"), "limit_mm_s": pace.get("limit_mm_s"),
            "running_h": pace.get("running_h"), "day": pace.get("day"),
            "slope_mm_s_per_h": pace.get("slope_mm_s_per_h"),
            "slope_90": pace.get("slope_90"), "span_running_h": pace.get("span_running_h"),
            "text": pace.get("text"),
        },
    }  # fmt: skip


class StoreFleet(PartsData, ProposalData):
    def __init__(
        self,
        store: Any,
        outlook: OutlookEngine | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.clock = clock  # "now" for ages, dates and windows (the demo's simulated clock)
        # The gateway's engine (serve() passes the running one); only refresh() is called here.
        self.outlook = outlook or OutlookEngine(store, clock=clock)
        self._lock = threading.RLock()
        self._ver = 0
        self._stamp: tuple[float, ...] | None = None
        self._stamp_at = -math.inf
        self._full_at = -math.inf
        self._assets: dict[str, Asset] = {}
        self._nodes: dict[str, NodeInfo] = {}
        self._states: dict[str, LatestState] = {}
        self._outlooks: dict[str, Outlook] = {}
        self._zones: dict[str, str] = {}  # site -> IANA zone (registry; UTC when not set)
        self._rows: dict[str, Row] = {}
        self._list: list[Row] = []
        self._recv_mark = -math.inf  # newest latest.recv_time read
        self._outlook_mark = -math.inf  # newest outlook.computed_at read

    # -- freshness --------------------------------------------------------------------------
    def version(self) -> int:
        """Changes whenever anything the store holds changed (read at most every 0.5 s)."""
        self._sync()
        return self._ver

    def _sync(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._stamp_at < STAMP_EVERY_S:
            return
        with self._lock:
            if not force and now - self._stamp_at < STAMP_EVERY_S:
                return
            self._stamp_at = now
            stamp = self.store.change_stamp()
            old = self._stamp
            if stamp == old and now - self._full_at < FULL_EVERY_S and not force:
                return
            self._stamp = stamp
            if old is None or stamp[8:] != old[8:]:
                self._full()  # registry or node count changed: read all
            else:
                if stamp[7] != old[7]:  # a node went on- or offline
                    self._nodes = {n.node_id: n for n in self.store.nodes()}
                    self._patch(set(self._rows))
                else:
                    self._patch(set())
                if now - self._full_at >= FULL_EVERY_S:
                    self._ages()
            self._ver += 1

    def _full(self) -> None:
        self._full_at = time.monotonic()
        self._assets = {a.asset_id: a for a in self.store.assets()}
        self._zones = {s.name: s.tz for s in self.store.sites()}
        self._nodes = {n.node_id: n for n in self.store.nodes()}
        self._states = {s.asset_id: s for s in self.store.latest_states()}
        self._outlooks = {o.asset_id: o for o in self.store.outlooks()}
        self._recv_mark = max((s.recv_time for s in self._states.values()), default=-math.inf)
        self._outlook_mark = max(
            (o.computed_at for o in self._outlooks.values()), default=-math.inf
        )
        self._rows = {aid: self._row(aid) for aid in self._assets}
        self._list = list(self._rows.values())

    def _ages(self) -> None:
        """Node health moves with time alone (ok -> stale -> offline): re-judge every row's,
        rebuild only the rows whose answer changed."""
        self._full_at = time.monotonic()
        now = self.clock()
        stale = []
        for aid, row in self._rows.items():
            a = self._assets[aid]
            st = self._states.get(aid)
            node = self._nodes.get(a.node_id or "")
            seen = st.ts if st is not None else (node.last_seen if node else None)
            if node_health(now, seen, None if node is None else node.online) != row["node_health"]:
                stale.append(aid)
        for aid in stale:
            self._rows[aid] = self._row(aid)
        if stale:
            self._list = list(self._rows.values())

    def _patch(self, changed: set[str]) -> None:
        """Re-read only what changed since the last look: latest readings received and
        outlooks written after the marks (and rebuild `changed` rows besides)."""
        changed = set(changed)
        for s in self.store.latest_states(received_after=self._recv_mark):
            self._states[s.asset_id] = s
            self._recv_mark = max(self._recv_mark, s.recv_time)
            changed.add(s.asset_id)
        for o in self.store.outlooks(computed_after=self._outlook_mark):
            self._outlooks[o.asset_id] = o
            self._outlook_mark = max(self._outlook_mark, o.computed_at)
            changed.add(o.asset_id)
        changed &= self._assets.keys()
        if changed:
            for aid in changed:
                self._rows[aid] = self._row(aid)
            self._list = list(self._rows.values())

    def _after_write(self, *asset_ids: str | None) -> None:
        """After a write through the page: recompute those outlooks now, then read them."""
        ids = [a for a in asset_ids if a]
        if ids:
            try:
                self.outlook.refresh(ids)
            except Exception:  # the write is stored; the engine's next step will catch up
                log.exception("outlook refresh failed for %s", ids)
        self._sync(force=True)

    # -- rows -------------------------------------------------------------------------------
    def _row(self, aid: str) -> Row:
        a = self._assets[aid]
        st = self._states.get(aid)
        node = self._nodes.get(a.node_id or "")
        lim = asset_zone_limits(a)
        fault = st is not None and is_sensor_fault(st.flags)
        st_vib = None if fault else st  # a fault report measured nothing: never show its zeros
        v = max(st_vib.vel_rms_mm_s) if st_vib is not None and st_vib.vel_rms_mm_s else None
        now = self.clock()
        seen = st.ts if st is not None else (node.last_seen if node else None)
        part = a.parts[0] if a.parts else None
        o = self._outlooks.get(aid)
        tz = self._zones.get(a.site, sitetime.UTC_NAME)
        row: Row = {
            "id": aid,
            "name": a.description or aid,
            "site": a.site,
            "machine": a.machine,
            "component": part.name if part else "",
            "machine_group": a.machine_group,
            "health": SENSOR_FAULT if fault else (o.zone if o is not None else None),
            "vel_rms": None if v is None else round(v, 3),
            "temp_c": st.temp_c if st is not None else None,
            "readings": None
            if st_vib is None
            else {
                "vel_rms_mm_s": list(st_vib.vel_rms_mm_s),
                "acc_rms_g": list(st_vib.acc_rms_g),
                "peak_g": st_vib.peak_g,
                "kurtosis": st_vib.kurtosis,
                "temp_c": st_vib.temp_c,
                "running": bool(st_vib.flags & 1),
            },
            "runtime_h": round(st.runtime_s / HOUR, 1) if st is not None else None,
            "starts": st.starts if st is not None else None,
            "last_seen": _iso(seen, tz) if seen else None,
            "tz": tz,
            "node_id": a.node_id,
            "node_health": node_health(now, seen, None if node is None else node.online),
            "zones": {"A": lim[0], "B": lim[1], "C": lim[2]},
            "zone_source": "asset" if a.zone_limits is not None else a.machine_group,
            "part_number": (part.part_number or part.part_id) if part else "",
        }
        row.update(outlook_fields(o, tz))
        row_json(row)  # serialise once, here, not in every request
        return row

    def overview(self) -> list[Row]:
        """Rows of every asset, as of the store's last commit (at most STAMP_EVERY_S old)."""
        self._sync()
        return self._list

    def asset(self, asset_id: str) -> Row | None:
        self._sync()
        row = self._rows.get(asset_id)
        if row is None and self.store.asset(asset_id) is not None:
            self._sync(force=True)  # registered a moment ago
            row = self._rows.get(asset_id)
        return row

    def history(self, asset_id: str, start: float, end: float) -> dict[str, list[float]]:
        t, vel, runtime, starts = self.store.hourly_series(asset_id, start, end)
        return {
            "t": t,
            "vel_rms": [round(v, 3) for v in vel],
            "runtime_h": [round(r / HOUR, 2) for r in runtime],
            "starts": starts,
        }

    def cone(self, asset_id: str) -> Row:
        """The outlook's forecast cone drawn: vibration from today's running level to the
        failure level, reached at the P10/P50/P90 dates (degrading parts only)."""
        out: Row = {"t": [], "p10": [], "p50": [], "p90": [], "fail_level": None}
        a = self.asset(asset_id)
        cone = (a or {}).get("_cone")
        if not a or not isinstance(cone, dict):
            return out
        lv, fail, now = float(cone["level_mm_s"]), float(cone["fail_level_mm_s"]), self.clock()
        ends = dict(zip(("p10", "p50", "p90"), a["_p_ts"], strict=True))
        if lv <= 0 or any(v is None or v <= now for v in ends.values()):
            return out
        horizon = float(ends["p90"] or now) - now
        out["fail_level"] = round(fail, 3)
        for i in range(25):
            t = now + horizon * i / 24
            out["t"].append(t)
            for k, e in ends.items():
                frac = (t - now) / (float(e or now) - now)
                out[k].append(round(min(fail * 1.5, lv * (fail / lv) ** frac), 3))
        return out

    def events(self, asset_id: str | None = None, limit: int = 200) -> list[Row]:
        node = None
        if asset_id is not None:
            a = self.store.asset(asset_id)
            if a is None or not a.node_id:
                return []
            node = a.node_id
        by_node = (
            {node: asset_id}
            if asset_id is not None and node is not None
            else {a.node_id: a.asset_id for a in self.store.assets() if a.node_id}
        )
        from .events import describe

        out = []
        for e in self.store.events(node_id=node, limit=limit):
            w = describe(e.code, e.detail, e.source)  # in words, never "zone=C"
            out.append({
                "ts": e.ts, "asset_id": by_node.get(e.node_id, ""), "node_id": e.node_id,
                "kind": event_kind(e.source, e.code), "source": e.source,
                "severity": w.severity, "message": w.text, "housekeeping": w.housekeeping,
                "detail": e.detail,
            })  # fmt: skip
        return out

    def commands(self, limit: int = 200) -> list[Row]:
        return []  # a site gateway sends no commands (the fleet server's page: centre.py)

    def _service_row(self, s: Any) -> Row:
        return {
            "id": s.entry_id,
            "ts": _date_ts(s.date),
            "date": s.date,
            "asset_id": s.asset_id,
            "kind": s.kind,
            "part": s.part_id,
            "note": s.finding,
            "user": s.by,
            "acted_on_warning": bool(s.acted_on_warning),
            "downtime_avoided_h": float(s.downtime_avoided_h),
            "stop_h": s.stop_h,
            "repair_cost": s.repair_cost,
        }

    def service_log(self, asset_id: str | None = None) -> list[Row]:
        rows = [self._service_row(s) for s in self.store.service_log(asset_id)]
        return sorted(rows, key=lambda r: (-r["ts"], -(r["id"] or 0)))

    def install_dates(self, asset: Asset) -> dict[str, tuple[float | None, str | None]]:
        """part_id -> (install time, source), by the shared rule (gateway.domain)."""
        entries = self.store.service_log(asset.asset_id)
        return part_install_dates(asset, entries, self.store.first_hour(asset.asset_id))

    def parts(self, asset_id: str) -> list[Row]:
        a = self.store.asset(asset_id)
        if a is None:
            return []
        since = self.install_dates(a)
        return [
            {"part": p.part_number or p.part_id, "name": p.name, "role": "installed",
             "rated_l10_h": p.rated_l10_h, "lead_time_days": p.lead_time_days,
             "since": iso(since[p.part_id][0]), "since_source": since[p.part_id][1]}
            for p in a.parts
        ]  # fmt: skip

    def record_service(
        self,
        asset_id: str,
        kind: str,
        user: str,
        note: str = "",
        part: str = "",
        acted_on_warning: bool = False,
        downtime_avoided_h: float = 0.0,
        date: str | None = None,
        stop_h: float | None = None,
        repair_cost: float | None = None,
    ) -> Row:
        entry = self._checked_entry(
            asset_id, kind, user, note, part, acted_on_warning, downtime_avoided_h, date,
            stop_h, repair_cost,
        )  # fmt: skip
        eid = self.store.add_service_entry(entry)
        self._after_write(asset_id)
        return self._service_row(dataclasses.replace(entry, entry_id=eid))

    def _checked_entry(
        self,
        asset_id: str,
        kind: str,
        user: str,
        note: str,
        part: str,
        acted_on_warning: bool,
        downtime_avoided_h: float,
        date: str | None,
        stop_h: float | None,
        repair_cost: float | None,
    ) -> ServiceEntry:
        """record_service's entry checked by the site's rules (gateway/service_entry.py),
        dated in the asset's site zone; ValueError saying what is wrong."""
        a = self.store.asset(asset_id)
        if a is None:
            raise ValueError(f"no asset {asset_id}")
        tz = self.site_tz(a.site)
        return build_entry(
            a,
            kind,
            sitetime.local(self.clock(), tz).date(),  # "today" at the asset's site
            date=date,
            part=part,
            finding=note,
            by=user,
            acted_on_warning=acted_on_warning,
            downtime_avoided_h=downtime_avoided_h,
            store=self.store,
            tz=tz,
            stop_h=stop_h,
            repair_cost=repair_cost,
        )

    def site_tz(self, site: str) -> str:
        """The site's IANA time zone (registry; UTC when never set)."""
        return self.site_zones().get(site, "UTC")

    def add_window(self, site: str, start: float, end: float, note: str = "") -> int:
        from gateway.store.api import MaintenanceWindow

        wid = int(self.store.add_window(MaintenanceWindow(site, start, end, note)))
        self._after_write(*self._site_assets(site))  # a new stop can change every plan there
        return wid

    def _site_assets(self, site: str) -> list[str]:
        return [a.asset_id for a in self.store.assets(site)]

    def site_zones(self) -> dict[str, str]:
        return {x.name: x.tz for x in self.store.sites()}

    def site_shifts(self) -> dict[str, str]:
        return {s.name: s.shifts for s in self.store.sites() if s.shifts}

    def set_site_shifts(self, site: str, shifts: str) -> None:
        self.store.set_site_shifts(site, shifts)  # refuses malformed shifts (ValueError)
        self._sync(force=True)

    def set_site_zone(self, site: str, tz: str) -> None:
        from gateway.store.api import Site

        self.store.set_site(Site(site, tz))  # refuses an unknown zone (ValueError)
        self._after_write(*self._site_assets(site))  # its rows' dates are read in the new zone

    def ledger(self) -> list[Row]:
        """Acted-on warnings, each with the bound its hours must respect (the time from the
        asset's first warning to the end of the repair day, gateway/service_entry.py) and
        `needs_review` when the stored hours exceed it (entries from before the bound)."""
        from gateway.service_entry import day_end, downtime_bound, first_warning

        acted = [r for r in self.service_log() if r["acted_on_warning"]]
        if not acted:
            return []
        self._sync()
        assets = self._assets  # the registry as of the last look (re-read when it changes)
        zones = {x.name: x.tz for x in self.store.sites()}
        out = []
        for r in acted:
            a = assets.get(r["asset_id"])
            tz = zones.get(a.site) if a else None
            warned = first_warning(self.store, a, r["date"], tz) if a else None
            bound = downtime_bound(warned, day_end(r["date"], tz))
            out.append({**r, "site": a.site if a else "",
                        "warned_at": _iso(warned, tz or sitetime.UTC_NAME),
                        "bound_h": round(bound, 1),
                        "needs_review": r["downtime_avoided_h"] > bound + 1e-9})  # fmt: skip
        return out

    def correct_ledger(
        self, entry_id: int, acted_on_warning: bool, downtime_avoided_h: float, user: str
    ) -> Row:
        """An admin's correction of one entry's ledger fields, within the same bounds as a new
        entry; ValueError with the reason. Logged with the old and new values."""
        from gateway.service_entry import check_downtime, day_end, first_warning

        old = next((s for s in self.store.service_log() if s.entry_id == entry_id), None)
        if old is None:
            raise KeyError(entry_id)
        a = self.store.asset(old.asset_id)
        tz = self.site_tz(a.site) if a else None
        warned = first_warning(self.store, a, old.date, tz) if a else None
        hours = check_downtime(downtime_avoided_h, acted_on_warning, warned, day_end(old.date, tz))
        self.store.set_ledger(entry_id, acted_on_warning, hours)
        log.warning(
            "ledger entry %s corrected by %s: acted_on_warning %s -> %s, downtime avoided"
            " %g h -> %g h", entry_id, user, old.acted_on_warning, acted_on_warning,
            old.downtime_avoided_h, hours,
        )  # fmt: skip
        self._after_write(old.asset_id)
        return self._service_row(
            dataclasses.replace(old, acted_on_warning=acted_on_warning, downtime_avoided_h=hours)
        )

    def windows(self, site: str | None = None) -> list[Row]:
        rows = self.overview()
        out = []
        now = self.clock()
        booked = self.store.proposals(states=["accepted"])
        by_id = {r["id"]: r for r in rows} if booked else {}
        for w in sorted(self.store.windows(site), key=lambda w: (w.site, w.start)):
            if w.end < now:
                continue
            jobs = [
                {"asset_id": r["id"], "name": r["name"], "machine": r["machine"],
                 "kind": JOB_KIND.get(r.get("plan_reason") or "", "replacement"),
                 "reason": r.get("plan_reason"), "fault": r["fault"],
                 "action_text": r["action_text"], "part": part_to_fit(r),
                 "parts_needed": r["parts_needed"], "need_by": r["need_by"],
                 "order_by": r["order_by"], "lead_time_days": r["lead_time_days"],
                 "health": r["health"], "rul_p10_date": r["rul_p10_date"]}
                for r in rows if r["window_id"] is not None and r["window_id"] == w.window_id
            ]  # fmt: skip
            self._book(w.window_id, jobs, booked, by_id)
            tz = self._zones.get(w.site, sitetime.UTC_NAME)
            out.append({"id": w.window_id, "site": w.site, "start": _iso(w.start, tz),
                        "end": _iso(w.end, tz), "note": w.note, "jobs": jobs})  # fmt: skip
        return out

    def _book(
        self, window_id: int | None, jobs: list[Row], accepted: list[Any], rows: dict[str, Row]
    ) -> None:
        """The jobs of accepted proposals are booked into their window: the outlook's job
        for that asset is marked booked, or the proposal's job is added when the outlook
        has since moved it (the customer agreed to this stop)."""
        for p in accepted:
            if p.window_id is None or p.window_id != window_id:
                continue
            job = next((j for j in jobs if j["asset_id"] == p.asset_id), None)
            if job is None:
                c = p.content
                asset = c.get("asset") or {}
                parts = [ln for ln in c.get("lines", []) if ln.get("kind") == "part"]
                job = {"asset_id": p.asset_id, "name": asset.get("name", p.asset_id),
                       "machine": asset.get("machine", ""), "kind": JOB_KIND.get(
                           str(c.get("reason") or ""), "replacement"),
                       "reason": c.get("reason"), "fault": "", "action_text": c.get("title"),
                       "part": parts[0]["part_number"] if parts else None,
                       "parts_needed": [{"part": ln["part_number"], "quantity": ln["qty"]}
                                        for ln in parts],
                       "need_by": None, "order_by": None, "lead_time_days": None,
                       "health": rows.get(p.asset_id, {}).get("health"),
                       "rul_p10_date": rows.get(p.asset_id, {}).get("rul_p10_date")}  # fmt: skip
                jobs.append(job)
            job["booked"] = True
            job["proposal_id"] = p.proposal_id

    def parts_demand(self, weeks: int, rows: list[Row] | None = None) -> list[Row]:
        """Parts the outlook asks for (its parts needed, at their need-by dates) within
        `weeks`; overdue needs count too. `rows`: of these overview rows only (a tenant's)."""
        from gateway.forecast import Need, parts_demand

        needs = [
            Need(p["part"], _dt(r["due_ts"]), int(p["quantity"]))
            for r in (self.overview() if rows is None else rows)
            if r.get("due_ts") is not None
            for p in r["parts_needed"]
        ]
        dem = parts_demand(needs, _dt(self.clock()), (weeks,))
        return [
            {"part": p, "weeks": weeks, "quantity": q[weeks]}
            for p, q in sorted(dem.items())
            if q[weeks]
        ]

    def nodes(self) -> list[Row]:
        """One row per node; battery and RSSI only where the node sends them (its birth)."""
        by_node = {a.node_id: a for a in self.store.assets() if a.node_id}
        configs = {c.node_id: c for c in self.store.node_configs()}
        updates, rssi_events = self._last_updates()
        out = []
        for n in self.store.nodes():
            a = by_node.get(n.node_id)
            ntz = self._zones.get(a.site, sitetime.UTC_NAME) if a else sitetime.UTC_NAME
            conf = configs.get(n.node_id)
            causes: dict[str, int] = {}
            for _, _, cause in n.resets:
                causes[cause] = causes.get(cause, 0) + 1
            info = n.birth_info or {}
            bat = info.get("battery_v", info.get("vbat"))
            # the newest of the birth's and the hourly `wifi_rssi` event's (boards on Wi-Fi)
            rssi = info.get("rssi_dbm")
            ev = rssi_events.get(n.node_id)
            if ev is not None and (n.last_birth is None or ev[0] >= n.last_birth):
                rssi = ev[1]
            heap = info.get("heap_free"), info.get("heap_max_block")
            out.append({
                "id": n.node_id, "asset_id": a.asset_id if a else None,
                "site": a.site if a else None, "firmware": n.fw, "board": n.board,
                "sensor": n.sensor, "last_birth": _iso(n.last_birth, ntz),
                "last_seen": _iso(n.last_seen, ntz),
                "online": n.online, "reset_causes": causes, "dropped_frames": n.dropped,
                "frames": n.frames_received, "frames_lost": n.frames_lost, "gaps": n.gaps,
                "link_quality": n.link_quality,
                "rssi_dbm": float(rssi) if isinstance(rssi, int | float) else None,
                "battery_v": float(bat) if isinstance(bat, int | float) else None,
                "clock_offset_s": n.clock_offset_s,
                # gateway.node_config: applied / pending / refused (+ the node's reason)
                "config_state": conf.state if conf else None,
                "config_reason": conf.reason if conf else "",
                "heap_free": heap[0] if isinstance(heap[0], int) else None,
                "heap_max_block": heap[1] if isinstance(heap[1], int) else None,
                "temp_source": info.get("temp_source"),
                # The simulated sensor: invented data (bench mode, or firmware before 0.2).
                "simulated_sensor": n.sensor == "sim",
                # firmware/ota.py: the application slot running and the node's rollbacks
                "slot": info.get("slot"), "rollbacks": info.get("rollbacks"),
                "last_update": updates.get(n.node_id),
                "ack_lag_s": _ack_lag(n.node_id),
            })  # fmt: skip
        return out

    def _last_updates(self) -> tuple[dict[str, Row], dict[str, tuple[float, int]]]:
        """Each node's newest over-the-air update result (gateway.rollout events) and newest
        `wifi_rssi` (dBm), among the newest 5000 events of the site."""
        out: dict[str, Row] = {}
        rssi: dict[str, tuple[float, int]] = {}
        for e in self.store.events(limit=5000):
            v = e.detail.get("rssi_dbm")
            if e.code == "wifi_rssi" and isinstance(v, int) and e.node_id not in rssi:
                rssi[e.node_id] = (e.ts, v)
            if e.code in UPDATE_CODES and e.node_id not in out:
                out[e.node_id] = {
                    "result": UPDATE_CODES[e.code], "version": e.detail.get("version"),
                    "reason": e.detail.get("reason", ""), "ts": iso(e.ts),
                }  # fmt: skip
        return out, rssi

    def sites(self) -> list[str]:
        return sorted({r["site"] for r in self.overview() if r["site"]})

    def site_report(self, site: str, days: int) -> Row:
        """Runtime per day over the last `days` days; utilisation over the hours each asset
        was monitored in that period (not over days before its first report)."""
        rows = [r for r in self.overview() if r["site"] == site]
        now = self.clock()
        end = (now // DAY + 1) * DAY
        start = end - days * DAY
        per_day = np.zeros(days)
        monitored_h = 0.0
        hist = self.store.hourly_histories([r["id"] for r in rows], start - HOUR, end)
        for r in rows:
            prev = None
            hs = hist.get(r["id"], [])
            for h in hs:
                if prev is not None and h.runtime_s >= prev and h.hour >= start:
                    per_day[int((h.hour - start) // DAY)] += (h.runtime_s - prev) / HOUR
                prev = h.runtime_s
            first = next((h.hour for h in hs if h.hour >= start), None)
            if first is not None:
                monitored_h += max(0.0, min(now, end) - first) / HOUR
        rpd = [
            {"date": _dt(start + i * DAY).date().isoformat(), "runtime_h": round(float(v), 1)}
            for i, v in enumerate(per_day)
        ]  # fmt: skip
        return {
            "site": site,
            "days": days,
            "assets": rows,
            "monitored_h": round(monitored_h, 1),
            "utilisation": round(min(1.0, float(per_day.sum()) / monitored_h), 3)
            if monitored_h
            else None,
            "runtime_per_day": rpd,
            "zones": {z: sum(1 for r in rows if r["health"] == z) for z in "ABCD"},
        }

    def site_customers(self) -> dict[str, str]:
        """site -> customer, on the fleet server (its site gateways' customers); empty on a
        site gateway, where only the service team's users see anything."""
        get = getattr(self.store, "site_customers", None)
        return dict(get()) if get is not None else {}

    def hourly(
        self, asset_ids: Sequence[str], start: float, end: float
    ) -> dict[str, NDArray[np.float64]]:
        return dict(self.store.hourly_columns(list(asset_ids), start, end))

    def open_proposals(self, asset_ids: Sequence[str]) -> list[Row]:
        self._sync()  # the sites' zones
        wanted = set(asset_ids)
        out = []
        for p in self.store.proposals(states=OPEN_PROPOSAL_STATES):
            if p.asset_id not in wanted:
                continue
            tz = self._zones.get(p.site, sitetime.UTC_NAME)
            totals = p.content.get("totals") or {}
            out.append({
                "proposal_id": p.proposal_id, "revision": p.revision, "asset_id": p.asset_id,
                "site": p.site, "state": p.state, "title": p.content.get("title"),
                "risk_date": _date(p.risk_ts, tz), "window_start": _iso(p.window_start, tz),
                "total": totals.get("total"), "currency": totals.get("currency"),
                "sent_at": _iso(p.sent_at, tz),
            })  # fmt: skip
        return out

    def warning_times(
        self, asset_ids: Sequence[str], start: float, end: float
    ) -> dict[str, list[float]]:
        node_of = {}
        for aid in asset_ids:
            a = self._assets.get(aid) or self.store.asset(aid)
            if a is not None and a.node_id:
                node_of[aid] = a.node_id
        times = self.store.event_times(list(node_of.values()), WARNING_EVENTS, start, end)
        return {aid: times.get(node, []) for aid, node in node_of.items()}

    def kpi_inputs(self, asset_ids: Sequence[str], start: float, end: float) -> KpiInputs:
        return inputs_from_store(self.store, start, end, asset_ids)

    def get_user(self, name: str) -> Row | None:
        u = self.store.user(name)
        if u is None:
            return None
        return {"name": u.name, "role": u.role, "password_hash": u.password_hash,
                "disabled": u.disabled, "session_version": u.session_version,
                "customer": u.customer}  # fmt: skip

    def list_users(self) -> list[Row]:
        return [
            {"name": u.name, "role": u.role, "disabled": u.disabled} for u in self.store.users()
        ]

    def add_user(self, name: str, role: str, password_hash: str) -> None:
        from gateway.store.api import User

        self.store.upsert_user(User(name, password_hash, role))

    def end_sessions(self, name: str) -> None:
        self.store.end_sessions(name)

    def set_user(self, name: str, role: str | None = None, disabled: bool | None = None) -> None:
        u = self.store.user(name)
        if u is None:
            raise KeyError(name)
        self.store.upsert_user(
            dataclasses.replace(
                u, role=role or u.role, disabled=u.disabled if disabled is None else disabled
            )
        )

    def update_asset(self, asset_id: str, fields: Row) -> None:
        a = self.store.asset(asset_id)
        if a is None:
            raise KeyError(asset_id)
        from gateway.store.api import parse_zone_limits

        zones = fields.get("zones")
        self.store.upsert_asset(  # check_asset there refuses a bad group or limits
            dataclasses.replace(
                a,
                description=fields.get("name") or a.description,
                site=fields.get("site") or a.site,
                machine=fields.get("machine") or a.machine,
                machine_group=fields.get("machine_group") or a.machine_group,
                zone_limits=a.zone_limits if zones is None else parse_zone_limits(zones),
            )
        )
        self._after_write(asset_id)  # new limits: new zone, new plan

    def assign_node(self, node_id: str, asset_id: str | None) -> None:
        cur = self.store.asset_for_node(node_id)
        if cur is not None and (asset_id is None or cur.asset_id != asset_id):
            self.store.upsert_asset(dataclasses.replace(cur, node_id=None))
        if asset_id is not None:
            a = self.store.asset(asset_id)
            if a is None:
                raise KeyError(asset_id)
            self.store.upsert_asset(dataclasses.replace(a, node_id=node_id))
        self._after_write(asset_id, cur.asset_id if cur is not None else None)
