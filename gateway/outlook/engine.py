"""The outlook engine: one stored judgement per asset, recomputed when its inputs change.

`OutlookEngine.step()` looks for what changed since the last step - new report frames (by
frame-id watermark), service entries, the registry, maintenance windows - and recomputes the
outlook of the changed assets in batches: the wear forecast of the whole batch in one
`gateway.forecast.forecast_many` call, calendar dates from each asset's own utilisation, the
robust running level and its zone, then the one judgement (judgement.py). The rows go to the
store's `outlook` table, which every page, the API, the report and the notifier read.

Everything is recomputed once an hour of the engine's clock as well (dates and windows move
with time). `run()` is the gateway's supervised task; `refresh()` recomputes given assets at
once (the page calls it after a write of its own, so the answer reflects it).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from gateway import sitetime
from gateway.analytics import FleetForecaster, WarningSeen, current_warning
from gateway.domain import asset_zone, asset_zone_limits
from gateway.forecast import ModelParams, Utilisation
from gateway.forecast.health import is_sensor_fault
from gateway.store.api import Asset, MaintenanceWindow, Outlook, ServiceEntry, Store

from . import columns as cols
from . import levels as lv
from .columns import F64
from .evidence import BATCH, WarningReader, part_histories, part_starts, running_ages
from .judgement import Facts, Pace, Slot, judge, status_text

log = logging.getLogger(__name__)

HOUR = 3600.0
SWEEP_S = 3600.0  # recompute everything this often (engine clock)
CHECKED_EVERY_S = 5.0  # heartbeat period for /healthz (outlook_age_s)
SEED_FRAMES = 100_000  # newest frames read at start to seed the running levels
IMPULSIVE_KURTOSIS = 2.0  # median excess kurtosis above this: impulsive (bearing damage signs)


def _date_ts(d: str) -> float:
    try:
        return datetime.fromisoformat(d).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


class OutlookEngine:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], float] = time.time,
        horizon_years: float = 5.0,
        params: ModelParams | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.horizon_years = horizon_years
        self.params = params or ModelParams()
        self.forecaster = FleetForecaster(store, clock=clock)  # its fleet prior (refit 5 min)
        self.levels = lv.RunningLevels()
        self._lock = threading.Lock()  # one computation at a time (task and page refreshes)
        self._frame_mark = -1  # -1: not seeded yet
        # Bearing warnings the health monitor raised (its events, by event-id watermark): the
        # early-warning rule run on every report, on the node's running time, against each
        # asset's own baseline. Shared with the forecaster (warning-to-failure leads); the
        # fleet server reads them with the same reader (evidence.py).
        self._reader = WarningReader()
        self._warnings = self._reader.by_asset
        self.forecaster.warnings = self._warnings
        self._prior_version = 0  # the fleet server's prior last used (FleetForecaster)
        self._stamp: tuple[float, ...] = ()
        self._registry: dict[str, Asset] | None = None
        self._node_asset: dict[str, str] = {}
        self._service: dict[str, list[ServiceEntry]] | None = None
        self._zones: dict[str, str] = {}  # site -> IANA zone, read with each batch
        self._next_sweep = 0.0
        self._checked = -math.inf
        self.computed = 0  # outlooks written (metrics, tests)
        self.failed = 0  # assets whose outlook could not be computed (logged)
        self._last_at = -math.inf
        self.last_batch_s = 0.0

    # -- the task --------------------------------------------------------------------------
    async def run(self, every_s: float = 2.0) -> None:
        while True:
            await asyncio.to_thread(self.step)
            await asyncio.sleep(every_s)

    def seed(self) -> None:
        """Running levels from the newest stored frames (a restart resumes them)."""
        last = self.store.last_frame_id()
        self._frame_mark = max(0, last - SEED_FRAMES)
        self._read_reports()

    def step(self) -> int:
        """Recompute the outlook of every asset whose inputs changed; returns how many."""
        with self._lock:
            now = self.clock()
            stamp = self.store.change_stamp()
            old, self._stamp = self._stamp, stamp
            changed: set[str] = set()
            if self._registry is None or not old or stamp[4:6] != old[4:6] or stamp[9] != old[9]:
                changed |= self._reload_registry(
                    windows_changed=bool(old) and stamp[4:6] != old[4:6]
                )
            if self._service is None or not old or stamp[3] != old[3]:
                changed |= self._reload_service()
            if self._frame_mark < 0:
                self.seed()  # after the registry: readings go under their asset
            changed |= self._read_reports()
            changed |= self._read_warnings()
            assert self._registry is not None
            prior_version = self.forecaster.central_version()
            if now >= self._next_sweep or prior_version != self._prior_version:
                self._prior_version = prior_version  # a new prior from the fleet server
                changed = set(self._registry)
                self._next_sweep = now + SWEEP_S
            n = self._recompute(sorted(a for a in changed if a in self._registry))
            # The heartbeat says the engine is alive: wall time, even when the fleet's clock
            # is simulated (the demo's runs 600x; /healthz compares with the wall clock).
            wall = time.time()
            if n or wall - self._checked >= CHECKED_EVERY_S:
                self.store.mark_outlook_checked(wall)
                self._checked = wall
            return n

    def refresh(self, asset_ids: Iterable[str]) -> list[Outlook]:
        """Recompute these assets now (re-reading their registry entry and service log)."""
        with self._lock:
            ids = sorted(set(asset_ids))
            if self._registry is None:
                self._reload_registry(windows_changed=False)
            if self._service is None:
                self._reload_service()
            assert self._registry is not None and self._service is not None
            for aid in ids:
                a = self.store.asset(aid)
                if a is None:
                    self._registry.pop(aid, None)
                else:
                    self._registry[aid] = a
                self._service[aid] = self.store.service_log(aid)
            self._node_asset = {a.node_id: k for k, a in self._registry.items() if a.node_id}
            self._read_warnings()
            gone = [a for a in ids if a not in self._registry]
            if gone:
                self.store.delete_outlooks(gone)
            return self._compute_and_write([self._registry[a] for a in ids if a in self._registry])

    # -- change detection ------------------------------------------------------------------
    def _reload_registry(self, windows_changed: bool) -> set[str]:
        assets = {a.asset_id: a for a in self.store.assets()}
        old = self._registry or {}
        changed = {k for k, a in assets.items() if old.get(k) != a}
        gone = [k for k in old if k not in assets]
        if gone:
            self.store.delete_outlooks(gone)
        for k in gone:  # a removed asset's part is no longer a running life of the fleet
            self.forecaster.running_ages.pop(k, None)
        if windows_changed:
            changed |= set(assets)
        self._registry = assets
        self._node_asset = {a.node_id: k for k, a in assets.items() if a.node_id}
        return changed

    def _reload_service(self) -> set[str]:
        by_asset: dict[str, list[ServiceEntry]] = {}
        for s in self.store.service_log():
            by_asset.setdefault(s.asset_id, []).append(s)
        old = self._service or {}
        changed = {k for k in set(by_asset) | set(old) if by_asset.get(k) != old.get(k)}
        self._service = by_asset
        return changed

    def _read_reports(self) -> set[str]:
        """Feed the report frames committed since the watermark into the running levels."""
        changed: set[str] = set()
        while True:
            rows = self.store.reports_after(self._frame_mark, 20000)
            for r in rows:
                aid = self._node_asset.get(r.node_id, r.node_id)
                changed.add(aid)
                # A sensor-fault report's zeros are no measurement: never a running level.
                v = r.vel_rms_mm_s
                if r.flags & lv.FLAG_RUNNING and not is_sensor_fault(r.flags) and v is not None:
                    self.levels.add(aid, r.ts, max(v), r.kurtosis or 0.0)
            if not rows:
                return changed
            self._frame_mark = rows[-1].frame_id

    def _read_warnings(self) -> set[str]:
        """Bearing warnings stored since the event watermark; the assets they concern."""
        return self._reader.read(self.store, self._node_asset)

    # -- computation -----------------------------------------------------------------------
    def _recompute(self, ids: Sequence[str]) -> int:
        assert self._registry is not None
        n = 0
        for i in range(0, len(ids), BATCH):
            batch = [self._registry[a] for a in ids[i : i + BATCH]]
            try:
                n += len(self._compute_and_write(batch))
            except Exception:
                # One asset's data must not stop the fleet's outlook: redo the batch asset by
                # asset, log and count the ones that fail (their stored outlook stays, aging).
                log.exception(
                    "outlook batch failed; recomputing its %d assets one by one", len(batch)
                )
                for a in batch:
                    try:
                        n += len(self._compute_and_write([a]))
                    except Exception:
                        self.failed += 1
                        log.exception("outlook of %s failed", a.asset_id)
        return n

    def _compute_and_write(self, assets: Sequence[Asset]) -> list[Outlook]:
        if not assets:
            return []
        t0 = time.perf_counter()
        rows = self.compute(assets)
        self.store.write_outlooks(rows)
        self.computed += len(rows)
        self.last_batch_s = time.perf_counter() - t0
        return rows

    def compute(self, assets: Sequence[Asset]) -> list[Outlook]:
        """The outlooks of `assets` (one batch) from the store's current data."""
        # computed_at grows with every batch even on a clock that stands still (tests, a
        # paused simulation): readers fetch what was written after their last look.
        now = max(self.clock(), self._last_at + 1e-3)
        self._last_at = now
        service = self._service if self._service is not None else {}
        windows: dict[str, list[MaintenanceWindow]] = {}
        for w in self.store.windows():
            windows.setdefault(w.site, []).append(w)
        self._zones = {s.name: s.tz for s in self.store.sites()}  # hours of the site's week
        # Each part's hourly history since it was fitted (the fleet server reads the same).
        since = part_starts(assets, service, now)
        hist = part_histories(self.store, since, now)
        stored = {
            o.asset_id: o
            for o in self.store.outlooks(
                [a.asset_id for a in assets if a.asset_id not in self.levels]
            )
        }
        prior = self.forecaster.prior()
        # (completed lives, parts still running) behind the prior: the status text names both
        n_lives = (self.forecaster.n_lives, self.forecaster.n_running)
        # The part's standing bearing warning, on the forecast's running clock (from the first
        # running hour of its history): as the bench passes it (bench/prognostics.py).
        warning: dict[str, WarningSeen | None] = {}
        warned_at: dict[str, float | None] = {}
        for a in assets:
            aid = a.asset_id
            seen = (
                current_warning(self._warnings[aid], service.get(aid, ()), since[aid])
                if aid in self._warnings
                else None
            )
            warning[aid] = seen
            run = cols.running_rows(hist[aid]) if seen is not None else None
            t0 = float(run[0, cols.RUNTIME]) if run is not None and run.shape[0] else None
            warned_at[aid] = None if seen is None else seen.running_s_after(t0)
        fc = cols.forecasts(
            hist,
            {a.asset_id: a.parts[0].rated_l10_h if a.parts else None for a in assets},
            {a.asset_id: asset_zone_limits(a)[1] for a in assets},
            prior,
            warned_at,
        )
        # Every current part is a censored life of the fleet prior (refitted every 5 min), its
        # age as the fleet server computes it from the same history (evidence.py).
        self.forecaster.running_ages.update(running_ages(hist))
        by_site: dict[str, list[Slot]] = {}
        for site, ws in windows.items():
            by_site[site] = sorted(
                (Slot(w.window_id, w.start, w.end) for w in ws if w.end > w.start and w.end > now),
                key=lambda w: w.start,
            )
        return [
            self._outlook(
                a,
                now,
                hist[a.asset_id],
                fc[a.asset_id],
                by_site,
                stored,
                n_lives,
                warning[a.asset_id],
            )
            for a in assets
        ]

    def _outlook(
        self,
        a: Asset,
        now: float,
        hist: F64,
        fc: cols.Forecast,
        windows: dict[str, list[Slot]],
        stored: dict[str, Outlook],
        n_lives: tuple[int, int],
        warning: WarningSeen | None = None,
    ) -> Outlook:
        p10, p50, p90, status, method = fc.p10_h, fc.p50_h, fc.p90_h, fc.status, fc.method
        hi, n_run = fc.health_index, fc.running_points
        level = self.levels.level(a.asset_id)
        prev = stored.get(a.asset_id)
        if level is None and prev is not None and prev.level_mm_s is not None:
            kurt = float(prev.detail.get("kurtosis", 0.0) or 0.0)  # type: ignore[arg-type]
            level = (prev.level_mm_s, prev.level_n, prev.level_ts or now, kurt)
        if level is None:
            level = cols.running_level(hist, lv.LEVEL_READINGS)
        zone = None if level is None else asset_zone(a, level[0])
        util = lv.utilisation(hist, self._zones.get(a.site))
        hpw = None if util is None else util.hours_per_week
        dates: dict[str, float | None] = {"p10": None, "p50": None, "p90": None}
        horizon_h = self.horizon_years * (8766.0 if hpw is None else hpw * 365.25 / 7)
        if util is not None and hpw:
            for k, v in (("p10", p10), ("p50", p50), ("p90", p90)):
                if v is not None and v <= horizon_h:  # beyond the horizon no date is shown
                    d = util.to_calendar(datetime.fromtimestamp(now, UTC), v * HOUR)
                    dates[k] = None if d is None else d.timestamp()
        part = a.parts[0] if a.parts else None
        if status == "degrading":
            word, pct = "rising", None
        else:
            word, pct = (
                lv.trend(hist, now) if n_run >= 2 * lv.TREND_MIN_HOURS else ("unknown", None)
            )
        slots = windows.get(a.site, [])
        slope = lv.velocity_slope(hist) if zone in ("B", "C") else None
        pace, pace_detail = self._pace(a, zone, level, slope, util, now, horizon_h)
        if word == "stable" and slope is not None and slope.lo > 0 and (pct or 0.0) > 0:
            # A week-on-week change under TREND_PCT with a clear rising pace (the one the page
            # dates zone D by) is a rise: "stable" beside "reaches zone D in ..." contradicts.
            word = "rising"
        j = judge(
            Facts(
                now, zone, status, p10, p50, p90, dates["p10"], dates["p50"], dates["p90"], hpw,
                part.part_id if part else "", part.part_number if part else "",
                part.lead_time_days if part else None,
                level is not None and level[3] > IMPULSIVE_KURTOSIS, slots, self.horizon_years,
                pace if pace is not None and pace.zone == "D" else None,
            )
        )  # fmt: skip
        if "fleet_prior" in method:
            # fitted at the fleet server from every site, or from this site's own records
            where = "across every site" if self.forecaster.from_centre else "in the fleet"
            source = f"{n_lives[0]} completed lives of parts {where}"
            source += f" and {n_lives[1]} parts still running" if n_lives[1] > 0 else ""
        elif "rated_life" in method and part and part.rated_l10_h:
            source = f"the part's rated life (L10 {part.rated_l10_h:,.0f} h)"
        else:
            source = ""
        need = self.params.block * self.params.min_blocks
        detail: dict[str, object] = {
            "kurtosis": None if level is None else round(level[3], 2),
            # The forecast as computed, before the judgement hid what it must not show.
            "forecast_rul_h": [None if v is None else round(v, 1) for v in (p10, p50, p90)],
        }
        if warning is not None:
            # The bearing warning in words, as the monitor raised it ("kurtosis 2.4x its
            # baseline for 6.0 running hours"), with when and how long ago in running hours.
            since_h = None
            if warning.runtime_s is not None and hist.shape[0]:
                since_h = max(0.0, (float(hist[-1, cols.RUNTIME]) - warning.runtime_s) / HOUR)
            detail["warning"] = {
                "reason": warning.reason, "channel": warning.channel, "ratio": warning.ratio,
                "held_running_h": warning.held_running_h, "ts": warning.ts,
                "running_h_since": None if since_h is None else round(since_h, 1),
            }  # fmt: skip
        if pace_detail is not None:
            detail["pace"] = pace_detail
        if util is not None:
            detail["utilisation"] = {
                "h_per_week": round(util.hours_per_week, 1),
                "h_by_weekday": [round(x, 1) for x in util.hours_by_weekday],
                # 06-14, 14-22, 22-06 on the site's wall clock (its zone from the registry).
                "h_by_shift": {k: round(v, 1) for k, v in util.hours_by_shift.items()},
                "tz": self._zones.get(a.site, "UTC"),
            }
        ahead = self.params.fail_level - hi
        if status == "degrading" and level is not None and j.p90_ts is not None and ahead > 0:
            # The cone: from today's level to the failure level (HI fail_level over the quiet
            # floor) reached at the P10/P50/P90 dates. Only with that level still ahead: a part
            # past it has no failure level to draw (none is made up a little above today's).
            fail = level[0] * math.exp(ahead)
            detail["cone"] = {"level_mm_s": round(level[0], 3), "fail_level_mm_s": round(fail, 3)}
        w = j.window
        text = status_text(
            status, n_run, need, source, util is None and p10 is not None,
            "" if warning is None else warning.reason, method,
            math.exp(self.params.fail_level), round(math.exp(self.params.onset), 2),
        )  # fmt: skip
        return Outlook(
            asset_id=a.asset_id, computed_at=now,
            zone=zone, level_mm_s=None if level is None else round(level[0], 3),
            level_n=0 if level is None else level[1], level_ts=None if level is None else level[2],
            trend=word, trend_pct_week=pct, status=status, method=method,
            status_text=text,
            health_index=round(hi, 4),
            rul_p10_h=_shown(p10, zone, j.hours_shown[0]),
            rul_p50_h=_shown(p50, zone, j.hours_shown[1]),
            rul_p90_h=_shown(p90, zone, j.hours_shown[2]),
            p10_ts=j.p10_ts, p50_ts=j.p50_ts, p90_ts=j.p90_ts, beyond_horizon=j.beyond_horizon,
            life_text=j.life_text, hours_per_week=None if hpw is None else round(hpw, 1),
            action=j.action, reason=j.reason, fault=j.fault,
            part_id=part.part_id if part else "", part_number=part.part_number if part else "",
            lead_time_days=part.lead_time_days if part else None,
            need_by_ts=j.need_by_ts, order_by_ts=j.order_by_ts,
            window_id=None if w is None else w.window_id,
            window_start=None if w is None else w.start, window_end=None if w is None else w.end,
            action_text=j.action_text, parts_needed=j.parts_needed, detail=detail,
        )  # fmt: skip

    def _pace(
        self,
        a: Asset,
        zone: str | None,
        level: tuple[float, int, float, float] | None,
        sl: lv.Slope | None,
        util: Utilisation | None,
        now: float,
        horizon_h: float,
    ) -> tuple[Pace | None, dict[str, object] | None]:
        """In zone B or C: when the measured level (the one the zone is judged on) reaches the
        next zone limit at the pace `sl` of the asset's own recent hourly velocity
        (levels.velocity_slope), and the pace itself for the page; (None, why) without clear
        evidence of a rise."""
        if zone not in ("B", "C") or level is None:
            return None, None
        limits = asset_zone_limits(a)
        nxt, limit = ("C", limits[1]) if zone == "B" else ("D", limits[2])
        if sl is None:
            why = f"fewer than {lv.PACE_MIN_HOURS} running hours of recent readings"
            return None, {"zone": nxt, "limit_mm_s": limit, "text": f"No pace: {why}."}
        found: dict[str, object] = {
            "zone": nxt, "limit_mm_s": limit, "slope_mm_s_per_h": round(sl.per_h, 5),
            "slope_90": [round(sl.lo, 5), round(sl.hi, 5)], "hours": sl.hours,
            "span_running_h": round(sl.span_h, 1),
        }  # fmt: skip
        if sl.lo <= 0:
            found["text"] = (
                f"No clear rise over the last {sl.span_h:.0f} running hours (the pace's 90 %"
                " interval reaches zero): not enough evidence for a date."
            )
            return None, found
        run_h = max(0.0, limit - level[0]) / sl.per_h
        if run_h > horizon_h:
            found["text"] = f"Zone {nxt} is beyond the horizon at the current pace."
            return None, found
        # Running hours to the calendar the way the risk dates are made; without a known
        # utilisation, continuous running: the soonest those hours can come.
        at: float | None = now + run_h * HOUR
        if util is not None and util.hours_per_week:
            d = util.to_calendar(datetime.fromtimestamp(now, UTC), run_h * HOUR)
            at = None if d is None else d.timestamp()
        if at is None:
            return None, found
        day = sitetime.date_at(at, self._zones.get(a.site)) or ""
        pace = Pace(nxt, limit, run_h, at, day)
        found.update(
            running_h=round(run_h, 1), at_ts=at, day=day,
            text=f"{pace.words()[:1].upper()}{pace.words()[1:]}"
            f" (pace {sl.per_h:.2g} mm/s per running hour over the last {sl.span_h:.0f}"
            " running hours).",
        )  # fmt: skip
        return pace, found


def _shown(h: float | None, zone: str | None, shown: bool) -> float | None:
    """A remaining life as shown: none in zone D (stop now), beyond the horizon or overtaken
    by zone D at the current pace (the judgement's hours_shown)."""
    return None if h is None or zone == "D" or not shown else round(h, 1)


def outlook_age_s(store: Store, now: float | None = None) -> float | None:
    """Seconds since the outlook engine last made sure every stored outlook is current (its
    heartbeat); None when it never ran. What /healthz reports."""
    at = store.outlook_checked_at()
    if at is None:
        return None
    return max(0.0, (time.time() if now is None else now) - at)
