"""The gateway's health and wear assessment, run as data arrives (ISO 13374 layers 3-5).

- `HealthMonitor` follows each asset's reports: severity zone, a learned baseline with
  change detection (persistent change vs spike) and an alarm state machine with hysteresis.
  Every alarm transition is stored as a gateway event, so the page's event list is the alarm
  history; the monitors' own state is saved to a JSON file so a restart resumes them.
- `FleetForecaster` turns an asset's history since its last replacement into a remaining-life
  distribution, with the fleet prior learned from completed lives in the service log and the
  rated-life usage model for parts with no trend yet. The fleet page calls `forecast()`.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from gateway.domain import LIFE_ENDING_KINDS
from gateway.domain import asset_zone as asset_zone  # re-exported (older callers)
from gateway.domain import asset_zone_limits as asset_zone_limits
from gateway.forecast import (
    AlarmMachine,
    Baseline,
    ChangeDetector,
    FleetPrior,
    PartHistory,
    RulForecast,
    UsageModel,
    forecast_part,
)
from gateway.forecast.early_warning import (
    MachineWarnings,
    WarningParams,
    WarningRecords,
    evidence,
    finding_is_false,
    readings_from_features,
    with_thresholds,
)
from gateway.forecast.health import SensorFaultWatch, is_sensor_fault
from gateway.forecast.records import Life, prior_from_lives
from gateway.store.api import (
    Asset,
    EventRecord,
    HourlyPoint,
    OutcomeRecord,
    ReportRow,
    ServiceEntry,
    Store,
    WriteBatch,
)
from gateway.store.sql import FUTURE_SLACK_S
from protocol import frames

log = logging.getLogger(__name__)

DAY = 86400.0
# A baseline is learned from the first day of running reports (288 at 5-minute reports).
BASELINE_POINTS = 288
LIFE_EVENT_KINDS = LIFE_ENDING_KINDS  # (gateway/domain.py)
POSITION = "bearing"  # one monitored position per asset (one node)
MONITOR_KEY = "__monitor__"  # the monitor's own entry in the state file (not an asset id)


@dataclass
class AssetHealth:
    """What the monitor keeps per asset."""

    alarm: AlarmMachine
    baseline: Baseline = field(default_factory=lambda: Baseline(BASELINE_POINTS))
    change: ChangeDetector = field(default_factory=ChangeDetector)
    last_ts: float = 0.0  # node time of the newest report judged
    # The last frame judged, (recv_time, boot, seq): kept so a state file written before the
    # monitor followed the store's frame ids (HealthMonitor.frame_mark) re-judges nothing.
    last_key: tuple[float, int, int] = (0.0, -1, -1)
    changed: bool = False  # a persistent change is being reported (re-armed when CUSUM resets)
    spikes: int = 0
    # Bearing warnings (gateway/forecast/early_warning.py): a baseline over running time, early
    # bearing signs, latched with a reason. They raise `baseline_change`; the CUSUM above only
    # counts spikes now (its z-scores on a steady baseline alarmed on every bearing, issue 14).
    early: MachineWarnings = field(default_factory=lambda: MachineWarnings([POSITION]))
    sensor: SensorFaultWatch = field(default_factory=SensorFaultWatch)

    def to_state(self) -> dict[str, Any]:
        return {
            "alarm": self.alarm.to_state(),
            "baseline": self.baseline.to_state(),
            "change": self.change.to_state(),
            "last_ts": self.last_ts,
            "last_key": list(self.last_key),
            "changed": self.changed,
            "spikes": self.spikes,
            "early": self.early.to_state(),
            "sensor": self.sensor.to_state(),
        }

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> AssetHealth:
        return cls(
            AlarmMachine.from_state(d["alarm"]),
            Baseline.from_state(d["baseline"]),
            ChangeDetector.from_state(d["change"]),
            float(d["last_ts"]),
            _key(d.get("last_key")),
            bool(d["changed"]),
            int(d["spikes"]),
            MachineWarnings.from_state(d["early"]) if "early" in d else MachineWarnings([POSITION]),
            SensorFaultWatch.from_state(d.get("sensor")),  # absent in older state files
        )


class HealthMonitor:
    """Feeds each asset's new reports through zone, baseline and alarm logic.

    `step()` reads the frames stored since the last step, so it can run on any period and
    after a restart without missing or repeating a report.
    """

    def __init__(self, store: Store, state_path: Path | None = None) -> None:
        self.store = store
        self.state_path = state_path
        self.assets: dict[str, AssetHealth] = {}
        self.transitions = 0
        # Warning outcomes per machine group from the service log (early_warning.py), and the
        # newest service entry applied (-1: none yet; the log before the monitor is not replayed).
        self.records = WarningRecords()
        self.service_seen = -1
        # Newest frame judged (the store's frame id, commit order); 0 = from the oldest kept.
        self.frame_mark = 0
        # The thresholds the fleet server learned per group from every site's outcomes and
        # sent down (docs/FLEET.md), as last read from the store: used for those groups.
        self._centre_raw: dict[str, Any] | None = None
        self.centre: dict[str, dict[str, Any]] = {}
        if state_path is not None and state_path.exists():
            try:
                raw = json.loads(state_path.read_text())
                own = raw.pop(MONITOR_KEY, {})
                self.records = WarningRecords.from_state(own.get("records", {}))
                self.service_seen = int(own.get("service_seen", -1))
                self.frame_mark = int(own.get("frame_mark", 0))
                self.assets = {k: AssetHealth.from_state(v) for k, v in raw.items()}
            except (ValueError, KeyError, TypeError) as e:
                log.warning("health state %s unreadable (%s): starting fresh", state_path, e)

    def _health(self, asset: Asset) -> AssetHealth:
        want = AlarmMachine.for_zones(asset_zone_limits(asset))
        h = self.assets.get(asset.asset_id)
        if h is None:
            h = AssetHealth(want)
            # A new asset starts with its machine group's thresholds as the records tuned them.
            h.early.params = self.group_params(asset.machine_group)[0]
            self.assets[asset.asset_id] = h
        elif (h.alarm.enter, h.alarm.clear) != (want.enter, want.clear):
            # The registry changed the asset's group or limits: new thresholds from the next
            # report on; the current state and its history stay (the next point re-judges).
            h.alarm.enter, h.alarm.clear = want.enter, want.clear
        return h

    def step(self, batch_limit: int = 5000) -> list[EventRecord]:
        """Judge the report frames committed since the last step: their stored columns, read
        in commit order after a frame-id watermark (one read for the fleet, no payload
        decoding)."""
        events: list[EventRecord] = []
        assets = self.store.assets()
        self._service_step({a.asset_id: a for a in assets})
        by_node = {a.node_id: a for a in assets if a.node_id is not None}
        while True:
            rows = self.store.reports_after(self.frame_mark, batch_limit)
            for r in rows:
                asset = by_node.get(r.node_id)
                if asset is not None:
                    events.extend(self._report(asset, r))
            if rows:
                self.frame_mark = rows[-1].frame_id
            if len(rows) < batch_limit:
                break
        if events:
            self.store.write_batch(WriteBatch(events=events))
            self.transitions += len(events)
        self.save()
        return events

    def _report(self, asset: Asset, f: ReportRow) -> list[EventRecord]:
        assert asset.node_id is not None
        h = self._health(asset)
        key = (f.recv_time, f.boot_id, f.seq)
        if key <= h.last_key:
            return []  # judged in an earlier step (state written before the frame watermark)
        h.last_key = key
        if h.last_ts > f.recv_time + FUTURE_SLACK_S:
            # The watermark came from a frame stamped far ahead (a bad node clock, before
            # ingest bounded node time): it would freeze this asset's alarms for good.
            h.last_ts = 0.0
        if f.ts < h.last_ts:
            return []  # backfilled history arrives late: it does not move today's alarms
        h.last_ts = f.ts
        faulted = is_sensor_fault(f.flags)
        out = self._sensor_watch(asset, h, f.ts, faulted)
        if faulted or f.vel_rms_mm_s is None:
            return out  # no measurement in it: zeros must never read as a quiet machine
        if not f.flags & frames.FLAG_RUNNING:
            return out  # a stopped machine's vibration says nothing about its health
        out.extend(self._judge(asset, h, f.ts, max(f.vel_rms_mm_s)))
        out.extend(self._warn(asset, h, f.ts, f))
        return out

    def _read_centre(self) -> None:
        """The fleet server's thresholds, re-read each step (one meta row; parsed again only
        when they changed). A group it sent nothing for keeps this site's own learning."""
        raw = self.store.learned_state("warning_thresholds")
        if raw != self._centre_raw:
            self._centre_raw = raw
            groups = (raw or {}).get("groups", {})
            self.centre = {str(g): dict(v) for g, v in groups.items()}

    def group_params(self, group: str) -> tuple[WarningParams, str, int]:
        """A machine group's warning parameters, where their thresholds come from ("fleet",
        "site", or "" for the defaults) and how many warning outcomes they were learned from:
        this site's records tune them; the thresholds the fleet server learned from every
        site's outcomes replace those it had evidence for."""
        own = self.records.params(group)
        centre = self.centre.get(group)
        if centre is not None:
            params = with_thresholds(own, centre.get("thresholds", {}))
            return params, "fleet", int(centre.get("outcomes", 0))
        mine = self.records.outcomes.get(group, [])
        return own, "site" if evidence(mine) else "", len(mine)

    def _sensor_watch(
        self, asset: Asset, h: AssetHealth, ts: float, faulted: bool
    ) -> list[EventRecord]:
        """`sensor_fault_alarm` when the node's sensor fault persists, `sensor_fault_clear`
        when measurements return after one (gateway events: the page's alarm history)."""
        assert asset.node_id is not None
        since = h.sensor.since
        verdict = h.sensor.update(ts, faulted)
        if verdict is None:
            return []
        detail: dict[str, object] = {"asset": asset.asset_id}
        if since is not None:
            detail["fault_s"] = round(ts - since)
        code = "sensor_fault_alarm" if verdict == "alarm" else "sensor_fault_clear"
        return [EventRecord(ts, asset.node_id, code, detail, source="gateway")]

    def _judge(self, asset: Asset, h: AssetHealth, ts: float, v: float) -> list[EventRecord]:
        assert asset.node_id is not None
        out: list[EventRecord] = []
        before = len(h.alarm.history)
        h.alarm.update(ts, v)
        for t, old, new, reason in h.alarm.history[before:]:
            detail: dict[str, object] = {
                "asset": asset.asset_id,
                "from": old,
                "to": new,
                "reason": reason,
                "zone": asset_zone(asset, v),
                "vel_rms_mm_s": round(v, 2),
            }
            out.append(EventRecord(t, asset.node_id, "alarm_" + new, detail, source="gateway"))
        z = h.baseline.update(v)
        if z is not None:
            verdict = h.change.update(z)
            if verdict == "spike":
                h.spikes += 1
            h.changed = verdict == "persistent"
        return out

    def _warn(self, asset: Asset, h: AssetHealth, ts: float, f: ReportRow) -> list[EventRecord]:
        """Feed one running report to the bearing-warning rule; an event when it warns."""
        assert asset.node_id is not None and f.vel_rms_mm_s is not None
        feats = {f"rms_{a}": g for a, g in zip("xyz", f.acc_rms_g or (0.0,) * 3, strict=True)}
        feats.update({f"vel_rms_{a}": x for a, x in zip("xyz", f.vel_rms_mm_s, strict=True)})
        feats["peak_g"] = f.peak_g or 0.0
        feats["kurt"] = f.kurtosis or 0.0
        if f.temp_c is not None:
            feats["temp_c"] = f.temp_c
        raised = h.early.update(float(f.runtime_s or 0), {POSITION: readings_from_features(feats)})
        _, source, n = self.group_params(asset.machine_group) if raised else (None, "", 0)
        out = []
        for w in raised:
            detail: dict[str, object] = {
                "asset": asset.asset_id,
                "reason": w.reason,
                "channel": w.channel,
                "ratio": round(w.value, 2),
                "held_running_h": round(w.held_s / 3600, 1),
                "runtime_s": w.t_running_s,
            }
            if source:
                # Where the threshold crossed comes from, as the outlook says it of the prior.
                thr = h.early.params.threshold(w.channel)
                unit = " degC" if w.channel == "temp" else "x"
                where = "across every site" if source == "fleet" else "at this site"
                detail["reason"] = (
                    f"{w.reason}; threshold {thr:.3g}{unit} learned from {_outcomes(n)} {where}"
                )
                detail["threshold"] = round(thr, 3)
                detail["thresholds"] = source
            out.append(EventRecord(ts, asset.node_id, "baseline_change", detail, source="gateway"))
        return out

    def _service_step(self, assets: dict[str, Asset]) -> None:
        """New service-log entries: a replacement or failure restarts the asset's warning
        baseline (and confirms a standing warning); an inspection finding "no defect..." marks
        the standing warning false. The outcomes retune the thresholds of the machine group,
        and are kept in the store with their entry (forwarded to the fleet server, which
        learns each group's thresholds from every site's)."""
        self._read_centre()
        entries = [e for e in self.store.service_log() if e.entry_id is not None]
        newest = max((e.entry_id or 0 for e in entries), default=0)
        if self.service_seen < 0:
            self.service_seen = newest  # the monitor starts now: earlier entries are history
            return
        for e in sorted(entries, key=lambda e: e.entry_id or 0):
            if (e.entry_id or 0) <= self.service_seen:
                continue
            self.service_seen = e.entry_id or 0
            h, asset = self.assets.get(e.asset_id), assets.get(e.asset_id)
            if h is None or asset is None:
                continue
            outcome = h.early.record_service(POSITION, e.kind, e.finding)
            if outcome is not None:
                self.records.add(asset.machine_group, outcome)
                # By entry id: a step replayed after a crash (state file older than the
                # store) settles the same entry again and writes nothing.
                self.store.add_warning_outcome(
                    OutcomeRecord(e.entry_id or 0, asset.machine_group, outcome.channel,
                                  outcome.peak_value, outcome.confirmed)
                )  # fmt: skip
        groups = {a.machine_group for a in assets.values()}
        by_group = {g: self.group_params(g)[0] for g in groups}
        for asset_id, h in self.assets.items():
            a = assets.get(asset_id)
            if a is not None:
                h.early.params = by_group[a.machine_group]

    def save(self) -> None:
        if self.state_path is None:
            return
        tmp = self.state_path.with_suffix(".tmp")
        state: dict[str, Any] = {k: v.to_state() for k, v in self.assets.items()}
        state[MONITOR_KEY] = {
            "records": self.records.to_state(),
            "service_seen": self.service_seen,
            "frame_mark": self.frame_mark,
        }
        tmp.write_text(json.dumps(state))
        tmp.replace(self.state_path)

    def alarm_state(self, asset_id: str) -> str:
        h = self.assets.get(asset_id)
        return "normal" if h is None else h.alarm.state


def _outcomes(n: int) -> str:
    return f"{n} warning outcome" + ("" if n == 1 else "s")


def _key(raw: Any) -> tuple[float, int, int]:
    if not raw:
        return (0.0, -1, -1)
    return (float(raw[0]), int(raw[1]), int(raw[2]))


def _date_ts(d: str) -> float:
    return datetime.fromisoformat(d).replace(tzinfo=UTC).timestamp()


def running_series(hist: Sequence[HourlyPoint]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Hourly history -> (running seconds since the first point, features) of running hours."""
    run = [h for h in hist if h.running_fraction > 0]
    if not run:
        return np.zeros(0), {}
    t = np.array([float(h.runtime_s) for h in run])
    keep = np.concatenate([[True], np.diff(t) > 0])
    run = [h for h, k in zip(run, keep, strict=True) if k]
    t = t[keep] - t[keep][0]
    feats = {
        "vel_rms": np.array([h.vel_rms_max_mm_s for h in run]),
        "rms_x": np.array([h.acc_rms_g[0] for h in run]),
        "rms_y": np.array([h.acc_rms_g[1] for h in run]),
        "rms_z": np.array([h.acc_rms_g[2] for h in run]),
        "peak": np.array([h.peak_g_max for h in run]),
    }
    return t, feats


@dataclass(frozen=True)
class WarningSeen:
    """A bearing warning the monitor raised (a `baseline_change` event), as the outlook and
    the fleet prior read it: when, at which running time of the node, and why."""

    ts: float
    runtime_s: float | None
    reason: str
    channel: str = ""
    ratio: float | None = None
    held_running_h: float | None = None

    @classmethod
    def from_event(cls, ts: float, detail: dict[str, object]) -> WarningSeen:
        def num(key: str) -> float | None:
            v = detail.get(key)
            return float(v) if isinstance(v, int | float) else None

        return cls(ts, num("runtime_s"), str(detail.get("reason", "")),
                   str(detail.get("channel", "")), num("ratio"), num("held_running_h"))  # fmt: skip

    def running_s_after(self, first_runtime_s: float | None) -> float | None:
        """This warning on a forecast's clock: running seconds since the first running hour of
        the part's history (the node's counter then, `first_runtime_s`), at least 0; None
        when either counter reading is unknown."""
        if self.runtime_s is None or first_runtime_s is None:
            return None
        return max(0.0, self.runtime_s - first_runtime_s)


def standing_warnings(
    warnings: Sequence[WarningSeen], entries: Sequence[ServiceEntry]
) -> list[WarningSeen]:
    """The warnings the service log has not found false: the monitor's rule
    (`MachineWarnings.record_service`) read back from the log. A warning is false when an
    inspection finding "no defect..." is dated on or after its day and before the part's life
    ended (a replacement or failure confirms it instead). Service dates are days."""
    ends = sorted(_date_ts(e.date) for e in entries if e.kind in LIFE_EVENT_KINDS)
    false = [
        _date_ts(e.date) for e in entries if e.kind == "inspection" and finding_is_false(e.finding)
    ]
    out = []
    for w in warnings:
        day = w.ts // DAY * DAY
        end = next((d for d in ends if d + DAY > w.ts), math.inf)
        if not any(day <= d <= end for d in false):
            out.append(w)
    return out


def current_warning(
    warnings: Sequence[WarningSeen], entries: Sequence[ServiceEntry], life_start: float
) -> WarningSeen | None:
    """The standing warning of the part fitted at `life_start` (the first one: it latched)."""
    mine = [w for w in standing_warnings(warnings, entries) if w.ts >= life_start]
    return min(mine, key=lambda w: w.ts) if mine else None


class FleetForecaster:
    """Remaining running life per asset, with the fleet prior from the service log (or, on a
    site gateway of a fleet server, the prior the centre fitted from every site's lives).

    The prior's lives (gateway/forecast/records.py, the same function the bench and
    `kizashi rul` use): a part life is the running time between a part's installation (its
    previous replacement, or the start of its data) and its failure or replacement. A
    `failure` is a failure; a `replacement` is one too unless its finding says "no defect"
    (a sound part replaced: a censored life). Every asset's current part (`running_ages`,
    kept by the outlook engine) is a censored life as well: parts still running say the
    fleet's lives are at least this long. A warning in `warnings` (the monitor's, standing)
    during a life that then failed gives a warning-to-failure lead time. At the fleet server
    the publisher fills both from the central store (gateway/outlook/evidence.py, the
    functions the engine uses). Refitted at most every `refit_s` seconds.
    """

    def __init__(
        self,
        store: Store,
        refit_s: float = 300.0,
        clock: Any = time.time,
        horizon_days: float = 400,
    ) -> None:
        self.store = store
        self.refit_s = refit_s
        self.clock = clock
        self.horizon_s = horizon_days * DAY
        self._prior: FleetPrior | None = None
        self._prior_at = -1e18
        self._lock = threading.Lock()
        self.completed_lives: list[float] = []  # ended lives (failed or replaced), running s
        self.lives: list[Life] = []  # what the prior was fitted on
        # Running seconds of each asset's current part, and its standing bearing warnings:
        # the outlook engine keeps both current (the engine's own cache of what it computed);
        # the fleet server's publisher reads them whole (outlook/evidence.py fleet_evidence).
        self.running_ages: dict[str, float] = {}
        self.warnings: dict[str, list[WarningSeen]] = {}
        self._central_state: dict[str, Any] | None = None
        self._central_prior: FleetPrior | None = None
        self._central_version = 0

    def _runtime_at(self, asset_id: str, start: float, end: float) -> float | None:
        hist = self.store.hourly_history(asset_id, start, end)
        return float(hist[-1].runtime_s) if hist else None

    def ended_lives(self) -> list[Life]:
        """Every life the service log ended (failed or censored), with its warning if any."""
        lives: list[Life] = []
        by_asset: dict[str, list[ServiceEntry]] = {}
        entries: dict[str, list[ServiceEntry]] = {}
        for entry in self.store.service_log():
            entries.setdefault(entry.asset_id, []).append(entry)
            if entry.kind in LIFE_EVENT_KINDS:
                by_asset.setdefault(entry.asset_id, []).append(entry)
        for asset_id, ends in by_asset.items():
            ends.sort(key=lambda e: e.date)
            first = self.store.hourly_history(asset_id, 0.0, _date_ts(ends[0].date) + DAY)
            if not first:
                continue
            prev_runtime = float(first[0].runtime_s)  # the counter when monitoring began
            warned = standing_warnings(self.warnings.get(asset_id, ()), entries[asset_id])
            for e in ends:
                d = _date_ts(e.date)
                rt = self._runtime_at(asset_id, d - 30 * DAY, d + DAY)
                if rt is None:
                    continue
                if rt - prev_runtime > 3600:
                    at = [
                        w.runtime_s - prev_runtime
                        for w in warned
                        if w.runtime_s is not None and prev_runtime < w.runtime_s <= rt
                    ]
                    failed = e.kind == "failure" or not finding_is_false(e.finding)
                    # Only a failure measures how long a warned part runs on: a replacement
                    # (most often made because of the warning) ends the lead early, and taking
                    # the team's reaction time for it would forecast hours for the next one.
                    warned_at = min(at) if at and e.kind == "failure" else None
                    lives.append(Life(rt - prev_runtime, failed, warned_at))
                prev_runtime = rt
        return lives

    def _central(self) -> FleetPrior | None:
        """The prior the fleet server fitted from every site's lives and sent down (docs/
        FLEET.md), re-read from the store each time (parsed again only when it changed)."""
        state = self.store.learned_state("fleet_prior")
        if state is None:
            self._central_prior = self._central_state = None
        elif state != self._central_state:
            self._central_state = state
            self._central_prior = FleetPrior.from_state(state)
            self._central_version += 1
        return self._central_prior

    def central_version(self) -> int:
        """Changes whenever a new prior arrives from the fleet server (the outlook then
        recomputes every asset)."""
        with self._lock:
            self._central()
            return self._central_version

    @property
    def from_centre(self) -> bool:
        """The prior in use is the fleet server's (every site's lives), not this site's own."""
        return self._central_prior is not None

    @property
    def n_lives(self) -> int:
        """Completed lives behind the prior in use."""
        c = self._central_prior
        if c is not None:
            return c.n_failures + c.n_censored - c.n_running
        return len(self.completed_lives)

    @property
    def n_running(self) -> int:
        """Parts still running behind the prior in use (censored lives, not completed)."""
        c = self._central_prior
        if c is not None:
            return c.n_running
        return len(self.lives) - len(self.completed_lives)

    def prior(self) -> FleetPrior | None:
        """The fleet prior: needs two ended lives, one of them a failure (None before)."""
        with self._lock:
            central = self._central()
            if central is not None:
                return central
            now = self.clock()
            if now - self._prior_at >= self.refit_s:
                self._prior_at = now
                ended = self.ended_lives()
                self.completed_lives = [lf.life_s for lf in ended]
                running = [
                    Life(age, False, running=True)
                    for age in self.running_ages.values()
                    if age > 3600.0
                ]
                self.lives = ended + running
                fits = len(ended) >= 2 and any(lf.failed for lf in ended)
                self._prior = prior_from_lives(self.lives) if fits else None
            return self._prior

    def forecast(self, asset_id: str) -> RulForecast | None:
        asset = self.store.asset(asset_id)
        if asset is None:
            return None
        now = self.clock()
        log_all = self.store.service_log(asset_id)
        service = [s for s in log_all if s.kind in LIFE_EVENT_KINDS]
        since = max([_date_ts(s.date) for s in service] + [now - self.horizon_s])
        hist = self.store.hourly_history(asset_id, since, now + 3600)
        t, feats = running_series(hist)
        if "vel_rms" in feats:
            # Severity as the load proxy of ISO 281's load-life law: the rated life holds up to
            # the zone B/C limit (unrestricted operation); rougher running uses it up faster,
            # smoother running is not credited beyond the rating.
            feats["load"] = np.maximum(feats["vel_rms"] / asset_zone_limits(asset)[1], 1.0)
        part = asset.parts[0] if asset.parts else None
        usage = UsageModel(part.rated_l10_h) if part and part.rated_l10_h else None
        w = current_warning(self.warnings.get(asset_id, ()), log_all, since)
        t0 = next((float(h.runtime_s) for h in hist if h.running_fraction > 0), None)
        warned = None if w is None else w.running_s_after(t0)
        history = PartHistory(t, feats, asset_id, warned_at_s=warned)
        return forecast_part(history, self.prior(), usage)
