"""`FleetData` over the gateway store (gateway.store.api.Store) and forecasting (gateway.forecast).

Forecasts come from a `forecaster` with `forecast(asset_id) -> RulForecast | None`; by default
the gateway's `gateway.analytics.FleetForecaster` (hourly history since the last replacement,
fleet prior from the service log, rated life of the asset's first part).
Forecasts are cached per asset until a newer hour of data or a service entry arrives; the
overview computes at most SYNC_FORECASTS missing ones per request and warms the rest in a
background thread (rows show forecast_status "pending" meanwhile).

The downtime-avoided ledger is kept in the service log (`ServiceEntry.acted_on_warning`,
`ServiceEntry.downtime_avoided_h`); disabled users are `User.disabled`. (Schema version 1
databases used a finding tag and a "!" hash prefix instead; the store converts them on open.)
A part's install date ("since") is its latest replacement in the service log, else the first
hour of data of its asset.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from gateway.analytics import asset_zone, asset_zone_limits

from .data import Row
from .memfleet import iso
from .util import row_json

log = logging.getLogger(__name__)
HOUR = 3600.0
# Severity of an event by who raised it: a node's codes and the gateway's are separate name
# spaces, so a node sending "alarm_danger" is shown as the node's `node:alarm_danger` (info),
# never as the gateway's alarm (issue 15 item 15).
SEVERITY: dict[tuple[str, str], str] = {
    **{("gateway", c): "alarm" for c in ("alarm_alert", "alarm_danger")},
    **{
        ("gateway", c): "warning"
        for c in ("baseline_change", "death", "lost", "seq_jump", "events_suppressed")
    },
    **{("node", c): "alarm" for c in ("alarm_on", "alarm")},
    **{("node", c): "warning" for c in ("fault", "sensor_fault", "ring_overflow", "error")},
}


def event_kind(source: str, code: str) -> str:
    """What the page shows as an event's kind: a node's codes carry a `node:` prefix."""
    return code if source == "gateway" else "node:" + code


DAY = 86400.0
SYNC_FORECASTS = 64
HISTORY_TTL_S = 60.0
REGISTRY_TTL_S = 30.0
DEFAULT_LEAD = timedelta(days=7)


# What a proposed job is, by why it was planned (gateway/forecast/planning.py reasons).
JOB_KIND = {
    "forecast": "replacement",
    "zone_C": "remedial action (zone C)",
    "zone_D": "stop: vibration zone D",
}


def _running_hours(hist: Sequence[Any]) -> list[tuple[datetime, float]]:
    """(hour start, running hours in it) from hourly aggregates' cumulative runtime counter.

    A counter step across a gap in the data (node or gateway away) is spread evenly over the
    missing hours; a counter that went backwards (node replaced, counter reset) gives nothing.
    """
    out: list[tuple[datetime, float]] = []
    prev = None
    for h in hist:
        if prev is not None and h.runtime_s >= prev.runtime_s and h.hour > prev.hour:
            n = max(1, round((h.hour - prev.hour) / HOUR))
            share = min((h.runtime_s - prev.runtime_s) / HOUR / n, 1.0)
            out.extend((_dt(h.hour - k * HOUR), share) for k in range(n))
        prev = h
    return out


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _date_ts(d: str) -> float:
    try:
        return datetime.fromisoformat(d).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


class StoreFleet:
    def __init__(
        self,
        store: Any,
        forecaster: Any = None,
        refresh_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.clock = clock  # "now" for ages, dates and windows (the demo's simulated clock)
        if forecaster is None:
            # The gateway's forecaster: the same model code, with the service-log fleet prior.
            from gateway.analytics import FleetForecaster

            forecaster = FleetForecaster(store, clock=clock)
        self.forecaster = forecaster
        self.refresh_s = refresh_s
        self._ver = 0
        self._snap: tuple[float, list[Row]] | None = None
        self._refreshing = False
        self._build_lock = threading.Lock()
        self._reg: tuple[float, list[Any], dict[str, Any]] | None = None
        self._rowcache: dict[str, tuple[Any, Row]] = {}
        self._hist: dict[tuple[str, int, int], tuple[float, dict[str, list[float]]]] = {}
        self._fc: dict[str, tuple[Any, Row]] = {}
        self._first_hour: dict[str, float] = {}  # asset -> first hour of data (install dates)
        self._lock = threading.Lock()
        self._warming = False

    # -- caching ----------------------------------------------------------------------------
    def version(self) -> int:
        # Changes when a new overview snapshot is installed or the web wrote something.
        return self._ver

    def _bump(self, asset_id: str | None = None) -> None:
        """After a write through the page: patch the snapshot row of that asset right away."""
        snap = self._snap
        if asset_id is not None:
            for k in [k for k in list(self._hist) if k[0] == asset_id]:
                self._hist.pop(k, None)
        self._reg = None
        if snap is not None and asset_id is not None:
            row = self.asset(asset_id)
            rows = [row if r["id"] == asset_id and row else r for r in snap[1]]
            self._snap = (snap[0], rows)
        self._ver += 1

    # -- forecasts --------------------------------------------------------------------------
    def _fc_key(self, asset: Any, st: Any, service: Sequence[Any]) -> Any:
        # The measured zone is part of the key: a jump to zone C/D re-plans within the hour.
        hour = int(st.ts // HOUR) if st is not None else None
        return (hour, len(service), self._zone(asset, st))

    def _zone(self, asset: Any, st: Any) -> str | None:
        """Severity zone A-D of the latest reading (the worst axis); None without one."""
        if st is None or not st.vel_rms_mm_s:
            return None
        return asset_zone(asset, max(st.vel_rms_mm_s))

    def _compute(self, asset: Any, service: Sequence[Any], st: Any) -> Row:
        from gateway.forecast import Utilisation
        from gateway.forecast.planning import NO_RISK, Window, recommend_with_zone

        now = self.clock()
        aid = asset.asset_id
        repl = [s for s in service if s.kind in ("replacement", "failure")]
        since = max([_date_ts(s.date) for s in repl] + [now - 400 * DAY])
        hist = self.store.hourly_history(aid, since, now + HOUR)
        hours = _running_hours(hist)
        util = Utilisation.from_hours(hours) if hours else None
        fc: Any = None
        try:
            fc = self.forecaster.forecast(aid)
        except (ValueError, IndexError, FloatingPointError):
            log.exception("forecast failed for %s", aid)
        row: Row = {"rul_p10_h": None, "rul_p50_h": None, "rul_p90_h": None}
        row.update({"rul_p10_date": None, "rul_p50_date": None, "rul_p90_date": None})
        row.update({"forecast_status": "not_enough_data", "method": "none", "health_index": 0.0})
        row.update({"window_start": None, "window_end": None, "window_id": None, "due_ts": None})
        row.update({"plan": None, "plan_reason": None, "replace_on": None})
        row["utilisation"] = None if util is None else {
            "h_per_week": round(util.hours_per_week, 1),
            "h_by_weekday": [round(x, 1) for x in util.hours_by_weekday],
            "h_by_shift_utc": {k: round(v, 1) for k, v in util.hours_by_shift.items()},
        }  # fmt: skip
        risk_date = None
        if fc is not None:
            row["forecast_status"], row["method"] = fc.status, fc.method
            row["health_index"] = round(float(fc.health_index), 4)
            for k in ("p10", "p50", "p90"):
                v = getattr(fc, f"{k}_s")
                row[f"rul_{k}_h"] = None if v is None else round(v / HOUR, 1)
            if util is not None:
                dates = util.dates(_dt(now), fc.p10_s, fc.p50_s, fc.p90_s)
                for k, v in dates.items():
                    row[f"rul_{k}_date"] = v.date().isoformat() if v else None
                    row[f"_{k}_ts"] = v.timestamp() if v else None
                risk_date = dates["p10"]
        wins = self.store.windows(asset.site)
        by_start = {w.start: w for w in wins}
        part = asset.parts[0] if asset.parts else None
        lead = timedelta(days=part.lead_time_days) if part and part.lead_time_days else DEFAULT_LEAD
        rec = recommend_with_zone(
            [Window(_dt(w.start), _dt(w.end)) for w in wins if w.end > w.start and w.end > now],
            _dt(now),
            risk_date,
            lead,
            self._zone(asset, st),
        )
        row["plan"] = rec.status
        row["plan_reason"] = None if rec.status == NO_RISK else rec.reason
        row["replace_on"] = rec.replace_on.timestamp() if rec.replace_on else None
        if rec.window is not None:
            w = by_start.get(rec.window.start.timestamp())
            row["window_start"] = iso(rec.window.start.timestamp())
            row["window_end"] = iso(rec.window.end.timestamp())
            row["window_id"] = w.window_id if w else None
            row["due_ts"] = rec.window.start.timestamp()
        elif rec.replace_on is not None:
            row["due_ts"] = rec.replace_on.timestamp()
        return row

    def _forecast(self, asset: Any, st: Any, compute: bool = True) -> Row | None:
        """Cached forecast; compute=False never touches the store (overview hot path)."""
        hit = self._fc.get(asset.asset_id)
        if not compute:
            return hit[1] if hit else None
        service = self.store.service_log(asset.asset_id)
        key = self._fc_key(asset, st, service)
        if hit is not None and hit[0] == key:
            return hit[1]
        row = self._compute(asset, service, st)
        self._fc[asset.asset_id] = (key, row)
        return row

    def _warm(self, assets: list[Any], states: dict[str, Any]) -> None:
        try:
            for a in assets:
                self._forecast(a, states.get(a.asset_id))
            self._snap = None if self._snap is None else (0.0, self._snap[1])  # rebuild soon
        finally:
            self._warming = False

    # -- rows -------------------------------------------------------------------------------
    def _row(self, a: Any, st: Any, node: Any, fc: Row | None) -> Row:
        lim = asset_zone_limits(a)
        v = max(st.vel_rms_mm_s) if st is not None and st.vel_rms_mm_s else None
        health = self._zone(a, st)
        hi = (fc or {}).get("health_index") or 0.0
        trend = "rising" if (fc or {}).get("forecast_status") == "degrading" else "stable"
        now = self.clock()
        seen = st.ts if st is not None else (node.last_seen if node else None)
        if node is None:
            nh = "none"
        elif seen is None or now - seen > DAY:
            nh = "offline"
        else:
            nh = "ok" if node.online and now - seen < 900 else "stale"
        part = a.parts[0] if a.parts else None
        row: Row = {
            "id": a.asset_id,
            "name": a.description or a.asset_id,
            "site": a.site,
            "machine": a.machine,
            "component": part.name if part else "",
            "machine_group": a.machine_group,
            "health": health,
            "trend": trend,
            "trend_pct_week": None,
            "health_index": hi,
            "vel_rms": None if v is None else round(v, 3),
            "temp_c": st.temp_c if st is not None else None,
            "readings": None
            if st is None
            else {
                "vel_rms_mm_s": list(st.vel_rms_mm_s),
                "acc_rms_g": list(st.acc_rms_g),
                "peak_g": st.peak_g,
                "kurtosis": st.kurtosis,
                "temp_c": st.temp_c,
            },
            "runtime_h": round(st.runtime_s / HOUR, 1) if st is not None else None,
            "starts": st.starts if st is not None else None,
            "last_seen": iso(seen) if seen else None,
            "node_id": a.node_id,
            "node_health": nh,
            "zones": {"A": lim[0], "B": lim[1], "C": lim[2]},
            "zone_source": "asset" if a.zone_limits is not None else a.machine_group,
            "part_number": (part.part_number or part.part_id) if part else "",
        }
        base = fc or {"forecast_status": "pending"}
        for k in ("rul_p10_h", "rul_p50_h", "rul_p90_h", "rul_p10_date", "rul_p50_date"):
            row[k] = base.get(k)
        row["rul_p90_date"] = base.get("rul_p90_date")
        row["forecast_status"] = base.get("forecast_status")
        row["plan"] = base.get("plan")
        row["plan_reason"] = base.get("plan_reason")
        row["utilisation"] = base.get("utilisation")
        due = base.get("due_ts")
        row["service_due"] = _dt(due).date().isoformat() if due is not None else None
        for k in ("window_start", "window_end", "window_id", "due_ts", "replace_on"):
            row[k] = base.get(k)
        return row

    def overview(self) -> list[Row]:
        """Rows of every asset from a snapshot at most refresh_s old. Reading 10,000 assets from
        the store takes longer than a page may, so a stale snapshot is served while a
        background thread builds the next one (stale-while-revalidate)."""
        snap = self._snap
        if snap is None:
            with self._build_lock:
                if self._snap is None:
                    self._install(self._build())
                snap = self._snap
            assert snap is not None
        elif time.time() - snap[0] > self.refresh_s:
            with self._lock:
                start = not self._refreshing
                self._refreshing = True
            if start:
                threading.Thread(target=self._refresh, daemon=True).start()
        return snap[1]

    def _install(self, snap: tuple[float, list[Row]]) -> None:
        self._snap = snap
        self._ver += 1

    def _refresh(self) -> None:
        try:
            self._install(self._build())
        except Exception:  # keep serving the old snapshot
            log.exception("overview refresh failed")
        finally:
            self._refreshing = False

    def _registry(self) -> tuple[list[Any], dict[str, Any]]:
        """Assets and nodes change rarely and are slow to read for 10,000 assets: re-read them
        every REGISTRY_TTL_S (and after a write through the page), not every refresh."""
        reg = self._reg
        if reg is None or time.time() - reg[0] > REGISTRY_TTL_S:
            t = time.time()
            reg = (t, self.store.assets(), {n.node_id: n for n in self.store.nodes()})
            self._reg = reg
        return reg[1], reg[2]

    def _build(self) -> tuple[float, list[Row]]:
        built = time.time()
        assets, nodes = self._registry()
        states = {s.asset_id: s for s in self.store.latest_states()}
        rows, missing = [], []
        budget = SYNC_FORECASTS
        old = self._rowcache
        new: dict[str, tuple[Any, Row]] = {}
        for a in assets:
            st = states.get(a.asset_id)
            fc = self._forecast(a, st, compute=False)
            if fc is None and budget > 0:
                fc = self._forecast(a, st)
                budget -= 1
            elif fc is None or self._fc[a.asset_id][0][0] != (int(st.ts // HOUR) if st else None):
                missing.append(a)
            node = nodes.get(a.node_id or "")
            seen = st.ts if st is not None else (node.last_seen if node else None)
            # Reuse the row (and its JSON) while nothing it shows has changed.
            key = (a, seen, id(fc), node.online if node else None, int(built // 60))
            hit = old.get(a.asset_id)
            if hit is not None and hit[0] == key:
                row = hit[1]
            else:
                row = self._row(a, st, node, fc)
                row_json(row)  # serialise here, in the background, not in the request
            new[a.asset_id] = (key, row)
            rows.append(row)
        self._rowcache = new
        with self._lock:
            if missing and not self._warming:
                self._warming = True
                threading.Thread(target=self._warm, args=(missing, states), daemon=True).start()
        return built, rows

    def asset(self, asset_id: str) -> Row | None:
        a = self.store.asset(asset_id)
        if a is None:
            return None
        sts = self.store.latest_states(asset_ids=[asset_id])
        st = sts[0] if sts else None
        node = self.store.node(a.node_id) if a.node_id else None
        return self._row(a, st, node, self._forecast(a, st))

    def history(self, asset_id: str, start: float, end: float) -> dict[str, list[float]]:
        """Hourly history, cached for HISTORY_TTL_S per (asset, hour range)."""
        key = (asset_id, int(start // HOUR), int(end // HOUR))
        hit = self._hist.get(key)
        if hit is not None and time.time() - hit[0] < HISTORY_TTL_S:
            return hit[1]
        out = self._history(asset_id, start, end)
        if len(self._hist) > 256:
            self._hist.clear()
        self._hist[key] = (time.time(), out)
        return out

    def _history(self, asset_id: str, start: float, end: float) -> dict[str, list[float]]:
        hs = self.store.hourly_history(asset_id, start, end)
        return {
            "t": [float(h.hour) for h in hs],
            "vel_rms": [round(h.vel_rms_max_mm_s, 3) for h in hs],
            "runtime_h": [round(h.runtime_s / HOUR, 2) for h in hs],
            "starts": [float(h.starts) for h in hs],
        }

    def cone(self, asset_id: str) -> Row:
        """Vibration projected from today's level to the failure level (HI = ln 5 over the
        quiet floor) reached at the P10/P50/P90 dates; only for degrading parts."""
        from gateway.forecast import ModelParams

        out: Row = {"t": [], "p10": [], "p50": [], "p90": [], "fail_level": None}
        a = self.asset(asset_id)
        fc = self._fc.get(asset_id, (None, {}))[1]
        if not a or a["vel_rms"] is None or fc.get("forecast_status") != "degrading":
            return out
        lv, now = float(a["vel_rms"]), self.clock()
        fail = lv * math.exp(max(0.05, ModelParams().fail_level - float(fc.get("health_index", 0))))
        ends = {k: fc.get(f"_{k}_ts") for k in ("p10", "p50", "p90")}
        if any(v is None or v <= now for v in ends.values()):
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
        out = []
        for e in self.store.events(node_id=node, limit=limit):
            sev = SEVERITY.get((e.source, e.code), "info")
            detail = ", ".join(f"{k}={v}" for k, v in sorted(e.detail.items()))
            out.append({
                "ts": e.ts, "asset_id": by_node.get(e.node_id, ""), "node_id": e.node_id,
                "kind": event_kind(e.source, e.code), "source": e.source, "severity": sev,
                "message": detail or e.code,
            })  # fmt: skip
        return out

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
        }

    def service_log(self, asset_id: str | None = None) -> list[Row]:
        rows = [self._service_row(s) for s in self.store.service_log(asset_id)]
        return sorted(rows, key=lambda r: (-r["ts"], -(r["id"] or 0)))

    def install_dates(self, asset: Any) -> dict[str, tuple[float | None, str | None]]:
        """part_id -> (install time, source): the date of the part's latest replacement in
        the service log ("replacement"), else the first hour of data of the asset
        ("first_data"), else (None, None). A replacement entry names its part by part id or
        part number; one with no part counts for the asset's only part."""
        latest: dict[str, float] = {}
        only = asset.parts[0].part_id if len(asset.parts) == 1 else None
        by_ref = {p.part_number: p.part_id for p in asset.parts if p.part_number}
        by_ref.update({p.part_id: p.part_id for p in asset.parts})
        for s in self.store.service_log(asset.asset_id):
            pid = by_ref.get(s.part_id) if s.part_id else only
            ts = _date_ts(s.date)
            if s.kind == "replacement" and pid is not None and ts > 0:
                latest[pid] = max(latest.get(pid, ts), ts)
        first: float | None = None
        if len(latest) < len(asset.parts):
            first = self._first_hour.get(asset.asset_id)
            if first is None:  # hourly rows are kept for good: the first one never changes
                hs = self.store.hourly_history(asset.asset_id, 0.0, 1e15)
                first = float(hs[0].hour) if hs else None
                if first is not None:
                    self._first_hour[asset.asset_id] = first
        out: dict[str, tuple[float | None, str | None]] = {}
        for p in asset.parts:
            if p.part_id in latest:
                out[p.part_id] = (latest[p.part_id], "replacement")
            else:
                out[p.part_id] = (first, "first_data" if first is not None else None)
        return out

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
    ) -> Row:
        from gateway.service_entry import build_entry
        from gateway.sitetime import local

        a = self.store.asset(asset_id)
        if a is None:
            raise ValueError(f"no asset {asset_id}")
        tz = self.site_tz(a.site)
        entry = build_entry(
            a,
            kind,
            local(self.clock(), tz).date(),  # "today" at the asset's site
            date=date,
            part=part,
            finding=note,
            by=user,
            acted_on_warning=acted_on_warning,
            downtime_avoided_h=downtime_avoided_h,
            store=self.store,
            tz=tz,
        )
        eid = self.store.add_service_entry(entry)
        self._fc.pop(asset_id, None)
        self._bump(asset_id)
        return self._service_row(dataclasses.replace(entry, entry_id=eid))

    def site_tz(self, site: str) -> str:
        """The site's IANA time zone (registry; UTC when never set)."""
        for x in self.store.sites():
            if x.name == site:
                return str(x.tz)
        return "UTC"

    def ledger(self) -> list[Row]:
        """Acted-on warnings, each with the bound its hours must respect (the time from the
        asset's first warning to the end of the repair day, gateway/service_entry.py) and
        `needs_review` when the stored hours exceed it (entries from before the bound)."""
        from gateway.service_entry import day_end, downtime_bound, first_warning

        assets = {a.asset_id: a for a in self.store.assets()}
        zones = {x.name: x.tz for x in self.store.sites()}
        out = []
        for r in self.service_log():
            if not r["acted_on_warning"]:
                continue
            a = assets.get(r["asset_id"])
            tz = zones.get(a.site) if a else None
            warned = first_warning(self.store, a, r["date"], tz) if a else None
            bound = downtime_bound(warned, day_end(r["date"], tz))
            out.append({**r, "site": a.site if a else "", "warned_at": iso(warned),
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
        self._bump(old.asset_id)
        return self._service_row(
            dataclasses.replace(old, acted_on_warning=acted_on_warning, downtime_avoided_h=hours)
        )

    def windows(self, site: str | None = None) -> list[Row]:
        rows = self.overview()
        out = []
        now = self.clock()
        for w in sorted(self.store.windows(site), key=lambda w: (w.site, w.start)):
            if w.end < now:
                continue
            jobs = [
                {"asset_id": r["id"], "name": r["name"], "machine": r["machine"],
                 "kind": JOB_KIND.get(r.get("plan_reason") or "", "replacement"),
                 "reason": r.get("plan_reason"), "part": r["part_number"],
                 "health": r["health"], "rul_p10_date": r["rul_p10_date"]}
                for r in rows if r["window_id"] is not None and r["window_id"] == w.window_id
            ]  # fmt: skip
            out.append({"id": w.window_id, "site": w.site, "start": iso(w.start),
                        "end": iso(w.end), "note": w.note, "jobs": jobs})  # fmt: skip
        return out

    def parts_demand(self, weeks: int) -> list[Row]:
        from gateway.forecast import Need, parts_demand

        needs = [
            Need(r["part_number"] or r["id"], _dt(r["replace_on"]))
            for r in self.overview()
            if r.get("replace_on") is not None
        ]
        dem = parts_demand(needs, _dt(self.clock()), (weeks,))
        return [
            {"part": p, "weeks": weeks, "quantity": q[weeks]}
            for p, q in sorted(dem.items())
            if q[weeks]
        ]

    def nodes(self) -> list[Row]:
        by_node = {a.node_id: a for a in self.store.assets() if a.node_id}
        configs = {c.node_id: c for c in self.store.node_configs()}
        out = []
        for n in self.store.nodes():
            a = by_node.get(n.node_id)
            conf = configs.get(n.node_id)
            causes: dict[str, int] = {}
            for _, _, cause in n.resets:
                causes[cause] = causes.get(cause, 0) + 1
            info = n.birth_info or {}
            bat = info.get("battery_v", info.get("vbat"))
            out.append({
                "id": n.node_id, "asset_id": a.asset_id if a else None,
                "site": a.site if a else None, "firmware": n.fw, "board": n.board,
                "sensor": n.sensor, "last_birth": iso(n.last_birth), "last_seen": iso(n.last_seen),
                "online": n.online, "reset_causes": causes, "dropped_frames": n.dropped,
                "frames": n.frames_received, "frames_lost": n.frames_lost, "gaps": n.gaps,
                "link_quality": n.link_quality, "rssi_dbm": info.get("rssi_dbm"),
                "battery_v": float(bat) if isinstance(bat, int | float) else None,
                "clock_offset_s": n.clock_offset_s,
                # gateway.node_config: applied / pending / refused (+ the node's reason)
                "config_state": conf.state if conf else None,
                "config_reason": conf.reason if conf else "",
            })  # fmt: skip
        return out

    def sites(self) -> list[str]:
        return sorted({r["site"] for r in self.overview() if r["site"]})

    def site_report(self, site: str, days: int) -> Row:
        rows = [r for r in self.overview() if r["site"] == site]
        end = (self.clock() // DAY + 1) * DAY
        start = end - days * DAY
        per_day = np.zeros(days)
        for r in rows:
            prev = None
            for h in self.store.hourly_history(r["id"], start - HOUR, end):
                if prev is not None and h.runtime_s >= prev and h.hour >= start:
                    per_day[int((h.hour - start) // DAY)] += (h.runtime_s - prev) / HOUR
                prev = h.runtime_s
        rpd = [
            {"date": _dt(start + i * DAY).date().isoformat(), "runtime_h": round(float(v), 1)}
            for i, v in enumerate(per_day)
        ]  # fmt: skip
        return {
            "site": site,
            "days": days,
            "assets": rows,
            "utilisation": round(float(per_day.sum()) / max(1, len(rows) * days * 24), 3),
            "runtime_per_day": rpd,
            "zones": {z: sum(1 for r in rows if r["health"] == z) for z in "ABCD"},
        }

    def get_user(self, name: str) -> Row | None:
        u = self.store.user(name)
        if u is None:
            return None
        return {"name": u.name, "role": u.role, "password_hash": u.password_hash,
                "disabled": u.disabled}  # fmt: skip

    def list_users(self) -> list[Row]:
        return [
            {"name": u.name, "role": u.role, "disabled": u.disabled} for u in self.store.users()
        ]

    def add_user(self, name: str, role: str, password_hash: str) -> None:
        from gateway.store.api import User

        self.store.upsert_user(User(name, password_hash, role))

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
        self._fc.pop(asset_id, None)  # new limits: new zone, new plan
        self._bump(asset_id)

    def assign_node(self, node_id: str, asset_id: str | None) -> None:
        cur = self.store.asset_for_node(node_id)
        if cur is not None and (asset_id is None or cur.asset_id != asset_id):
            self.store.upsert_asset(dataclasses.replace(cur, node_id=None))
        if asset_id is not None:
            a = self.store.asset(asset_id)
            if a is None:
                raise KeyError(asset_id)
            self.store.upsert_asset(dataclasses.replace(a, node_id=node_id))
        self._bump(asset_id)
        if cur is not None and cur.asset_id != asset_id:
            self._bump(cur.asset_id)
