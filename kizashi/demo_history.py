"""The demo's past: weeks of readings written before the simulated nodes start, so the fleet
page shows forecasts, trends and utilisation within the first minutes of `kizashi demo`.

A wear forecast needs about 90 running hours of readings since the part was fitted (the
forecast's blocks, docs/FORECASTING.md); the live simulated nodes produce three days of
history in about seven minutes, so without a past the demo would show "too early" for its
first half hour. The past is made from the same machine profiles the simulated nodes run
(firmware/sensors/sim.py): the profile's wear growth at the machine's age (times the wear of a
part replaced in the past, `_past_wear`), its run/stop schedule and temperatures. One report
every 10 minutes per machine goes through `Store.write_batch` like any frame, under boot id 0
(real boots count from 1), so the gateway's health monitor and outlook engine judge it as they
judge live data. Only `kizashi demo` calls this, on a fresh data directory.

How the features are derived: by calibration against the firmware, not by formulas. For each
profile the seeded past uses, `calibrate` runs the profile's SimSensor signal through the
firmware's own feature code (firmware/features.py `Features.compute` on a window of the node's
configured length and rate) at a few wear growth values spanning what the past reaches, and
turns each window into the report's fields as the node does (firmware/node.py `Node._report`:
mg, mm/s x100, the largest axis peak and excess kurtosis x100). A seeded step interpolates
those fields at its growth (tones scale with the growth, impulses with its square, so peak and
kurtosis are not linear in it: the grid carries the shape) and adds the scatter the firmware's
windows showed at that growth. Why: the health monitor learns each machine's baseline from the
past and judges the live reports against it; features invented here (acceleration from the
velocity at an assumed 25 Hz, peak and kurtosis from rules of thumb) stepped at the hand-over
and raised `baseline_change` on nine of the twelve demo machines at once, eight of them healthy.
Calibration runs about 120 firmware windows (1.6 s) per fresh demo, once per profile and node
configuration (cached).
"""

from __future__ import annotations

import bisect
import json
import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from firmware.features import Features, zeros
from firmware.sensors.sim import LSB_G, PROFILES, SimSensor
from gateway.store.api import FrameRecord, Store, WriteBatch
from protocol.nodeconfig import DEFAULTS as NODE_DEFAULTS

STEP_S = 600
SEED_BOOT = 0  # real node boots count from 1: the past never collides with a live frame
# Calibration: firmware windows per growth value (the medians of their fields are stable to
# about 1 % over a few), and the widest growth step between grid values (the fields are smooth
# in the growth: linear interpolation over 0.25 errs by under 1.5 % at the midpoints, or half a
# unit of a small rounded field).
CAL_WINDOWS = 4
CAL_STEP_G = 0.25


def _profile(p: str | dict[str, Any]) -> dict[str, Any]:
    return PROFILES[p] if isinstance(p, str) else p


def _growth(profile: dict[str, Any], age_days: float) -> float:
    per_day, start = profile["growth"]
    d = age_days - start
    return 1.0 + per_day * d * d if d > 0 else 1.0


# How far a part worn in the seeded past rose before its replacement: 1 + PAST_WEAR_RISE x^2,
# x from 0 when the wear began to 1 at the replacement (2.2x the new part's level then).
PAST_WEAR_RISE = 1.2


def _past_wear(spec: Any, t: float, origin: float) -> float:
    if not getattr(spec, "replaced_days", 0.0):
        return 1.0
    on = origin - spec.wear_from_days * 86400.0
    off = origin - spec.replaced_days * 86400.0
    if not on <= t < off:
        return 1.0
    x = (t - on) / (off - on)
    return float(1.0 + PAST_WEAR_RISE * x * x)


def _running(profile: dict[str, Any], t: float, phase_s: float) -> bool:
    sched = profile["schedule"]
    if sched is None:
        return True
    on, off = sched
    return bool((t + phase_s) % (on + off) < on)


def _fnv1a(text: str) -> int:
    """The simulated node's seed from its id (as firmware/host does)."""
    h = 2166136261
    for ch in text.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h or 1


def _at_growth(profile: dict[str, Any], g: float) -> dict[str, Any]:
    """The profile's signal at wear growth `g`, held there and always running: SimSensor
    scales tones by g and impulses by g^2 (sim.py read_window), so this is the same signal."""
    q = dict(profile)
    q["tones"] = [[t[0], t[1] * g, t[2] * g, t[3] * g] for t in profile["tones"]]
    imp = profile["impulses"]
    q["impulses"] = None if imp is None else [imp[0], imp[1] * g * g, imp[2], imp[3]]
    q["growth"] = [0.0, 0.0]
    q["schedule"] = None
    return q


def _report_fields(ax: Sequence[Any]) -> tuple[int, ...]:
    """A window's AxisResults -> the report's feature fields, rounded as Node._report does
    (firmware/node.py): half up to mg and mm/s x100, the largest axis peak, the largest axis
    excess kurtosis x100 rounded half away from 0. Clipping never applies at the demo's
    levels (its flag would mark the frame saturated). A copy of the node's arithmetic, kept
    here: a shared function in the firmware measured 176 B more of the node's heap
    (tests/firmware/test_node_heap.py); tests/test_demo_history.py fails if the two drift."""
    kurt = max(a.kurt_x1000 for a in ax)
    return (
        *((a.rms_ug + 500) // 1000 for a in ax),
        *((a.vel_um_s + 5) // 10 for a in ax),
        (max(a.peak_ug for a in ax) + 500) // 1000,
        (kurt + 5) // 10 if kurt >= 0 else -((5 - kurt) // 10),
    )


@dataclass(frozen=True)
class Calibration:
    """One profile's report fields as the firmware computes them: the median and the scatter
    (sample standard deviation) over CAL_WINDOWS windows at each growth of `grid` (ascending),
    and when the machine is stopped."""

    grid: tuple[float, ...]
    median: tuple[tuple[float, ...], ...]
    scatter: tuple[tuple[float, ...], ...]
    stopped: tuple[tuple[float, ...], tuple[float, ...]]

    def at(self, g: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(median, scatter) of the fields at growth g, linear between grid values (clamped
        to the grid's ends)."""
        grid = self.grid
        i = bisect.bisect_right(grid, g)
        if i == 0 or len(grid) == 1:
            return self.median[0], self.scatter[0]
        if i == len(grid):
            return self.median[-1], self.scatter[-1]
        w = (g - grid[i - 1]) / (grid[i] - grid[i - 1])

        def lerp(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, ...]:
            return tuple(x + (y - x) * w for x, y in zip(a, b, strict=True))

        return lerp(self.median[i - 1], self.median[i]), lerp(self.scatter[i - 1], self.scatter[i])


def _windows(profile: dict[str, Any], cfg: tuple[int, int, int, int]) -> list[tuple[int, ...]]:
    """Report fields of CAL_WINDOWS firmware windows of the profile's signal (SimSensor ->
    Features.compute), at times spread so the tones' and impulses' phases differ."""
    n, rate, lo, hi = cfg
    feats = Features(n, rate, LSB_G, (lo, hi))
    bx, by, bz = zeros("h", n), zeros("h", n), zeros("h", n)
    clock = [0.0]
    sensor = SimSensor(profile, seed=1, now_s=lambda: clock[0])
    sensor.configure(rate)
    out = []
    for k in range(CAL_WINDOWS):
        clock[0] = 1000.0 + k * 7919.37  # no common period with any tone or impulse rate
        sensor.read_window(bx, by, bz, n)
        out.append(_report_fields(feats.compute(bx, by, bz)))
    return out


def _summary(rows: list[tuple[int, ...]]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    cols = list(zip(*rows, strict=True))
    return (
        tuple(float(statistics.median(c)) for c in cols),
        tuple(statistics.stdev(c) if len(c) > 1 else 0.0 for c in cols),
    )


@lru_cache(maxsize=8)
def _stopped(cfg: tuple[int, int, int, int]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """A stopped machine's fields: the sensor's own noise and gravity, whatever the machine
    (sim.py), so one calibration serves every profile."""
    return _summary(_windows({**_at_growth(PROFILES["healthy"], 1.0), "schedule": [0, 1]}, cfg))


@lru_cache(maxsize=64)
def _calibrate(
    profile_json: str, grid: tuple[float, ...], cfg: tuple[int, int, int, int]
) -> Calibration:
    profile = json.loads(profile_json)
    levels = [_summary(_windows(_at_growth(profile, g), cfg)) for g in grid]
    medians, scatter = tuple(m for m, _ in levels), tuple(s for _, s in levels)
    return Calibration(grid, medians, scatter, _stopped(cfg))


def calibrate(
    profile: str | dict[str, Any], g_lo: float, g_hi: float, config: dict[str, Any] | None = None
) -> Calibration:
    """The firmware's report fields of `profile` for wear growth g_lo..g_hi, on a node with
    `config` (protocol/nodeconfig.py keys over its DEFAULTS: window, rate_hz, band). Cached:
    the demo's twelve machines share six profiles."""
    c = {**NODE_DEFAULTS, **(config or {})}
    cfg = (int(c["window"]), int(c["rate_hz"]), int(c["band_lo_hz"]), int(c["band_hi_hz"]))
    steps = max(0, math.ceil((g_hi - g_lo) / CAL_STEP_G - 1e-9))
    grid = tuple(round(g_lo + (g_hi - g_lo) * i / max(steps, 1), 6) for i in range(steps + 1))
    return _calibrate(json.dumps(_profile(profile), sort_keys=True), grid, cfg)


def seed_history(
    store: Store, specs: Sequence[Any], origin: float, days: float, seed: int = 1
) -> tuple[int, dict[str, dict[str, int]]]:
    """Reports of `specs` (kizashi.demo_fleet.DemoNode) for `days` before `origin`, the
    simulated nodes' start. Returns the number written and each node's counters at the end
    (runtime_s, starts, life_s), which the simulated node takes over as a replacement board
    takes over a machine's (node.json `counters`), so its runtime continues the past's."""
    rng = random.Random(seed)
    start = origin - days * 86400.0
    # Each machine's steps first (running, growth), so each profile is calibrated once over
    # the growth its machines reach.
    plans: list[tuple[Any, list[tuple[float, bool, float]]]] = []
    reach: dict[tuple[str, str], tuple[float, float]] = {}
    for spec in specs:
        prof = _profile(spec.profile)
        phase = _fnv1a(spec.node_id) % 3600  # the simulated node's schedule offset
        steps = []
        t = start
        while t < origin:
            # The machine's schedule runs on its node's clock, which starts at `origin` (the
            # boot of a fresh demo): the past ends in step with the live node.
            run = _running(prof, t - origin, phase)
            age = spec.age_days + (t - origin) / 86400.0
            g = _growth(prof, age) * _past_wear(spec, t, origin) if run else 0.0
            steps.append((t, run, g))
            t += STEP_S
        plans.append((spec, steps))
        gs = [g for _, run, g in steps if run] or [1.0]
        key = _cal_key(spec)
        lo, hi = reach.get(key, (min(gs), max(gs)))
        reach[key] = (min(lo, *gs), max(hi, *gs))
    n = 0
    counters: dict[str, dict[str, int]] = {}
    for spec, steps in plans:
        prof = _profile(spec.profile)
        cal = calibrate(prof, *reach[_cal_key(spec)], spec.node_config)
        runtime = starts = 0
        was_running = False
        frames = []
        for seq, (t, run, g) in enumerate(steps, 1):
            if run:
                runtime += STEP_S
                starts += 0 if was_running else 1
            was_running = run
            temp = prof["temp_c"][1] if run else prof["temp_c"][0]
            # The firmware's fields at this growth, with the scatter its windows show.
            mid, spread = cal.at(g) if run else cal.stopped
            v = [round(m + rng.gauss(0.0, s)) for m, s in zip(mid, spread, strict=True)]
            v[:7] = [max(0, x) for x in v[:7]]  # levels; only the kurtosis may be negative
            frames.append(
                FrameRecord(
                    node_id=spec.node_id, boot_id=SEED_BOOT, seq=seq, kind="report",
                    node_time=int(t), recv_time=t, ts=t, payload=b"", flags=1 if run else 0,
                    dropped=0, runtime_s=runtime, starts=starts,
                    acc_rms_mg=(v[0], v[1], v[2]), vel_rms_mm_s_x100=(v[3], v[4], v[5]),
                    peak_mg=v[6], kurtosis_x100=v[7],
                    temp_c_x10=int(temp * 10 + rng.uniform(-5, 5)),
                )
            )  # fmt: skip
        store.write_batch(WriteBatch(frames=frames))
        n += len(frames)
        counters[spec.node_id] = {"runtime_s": runtime, "starts": starts, "life_s": runtime}
    return n, counters


def _cal_key(spec: Any) -> tuple[str, str]:
    """Machines that share a profile and a node configuration share a calibration."""
    return (
        json.dumps(_profile(spec.profile), sort_keys=True),
        json.dumps(spec.node_config, sort_keys=True),
    )
