"""Inputs of the outlook that are not the wear forecast: the robust recent running level, the
trend of that level, and the asset's running hours by hour of the week (utilisation).

"Running" readings only: a stopped machine's vibration says nothing about its health, so an
idle pump that runs in zone B reads zone B, not the zone A of its last (stopped) reading.
"""

from __future__ import annotations

import bisect
import math
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from gateway import sitetime
from gateway.forecast import Utilisation

from . import columns as cols
from .columns import F64

HOUR = 3600.0
DAY = 86400.0
FLAG_RUNNING = 1
LEVEL_READINGS = 12  # the level is the median of this many newest running readings
TREND_DAYS = 7.0
TREND_MIN_HOURS = 12
TREND_PCT = 25.0  # a weekly change beyond +-25 % of the level reads rising / falling
# The pace of the measured velocity (velocity_slope): a Theil-Sen slope over the newest
# PACE_HOURS running hours. Two days: long enough that the scatter of hourly means and a daily
# cycle (load, temperature, shifts) average out, short enough to follow a wear that speeds up
# (over a longer span the slope lags the current pace). Fewer than PACE_MIN_HOURS hourly means,
# or a 90 % interval that reaches zero: no pace is stated (not enough evidence).
PACE_HOURS = 48
PACE_MIN_HOURS = 24
PACE_Z = 1.645  # one-sided 95 %: the interval's low end must be above zero
# 1970-01-01 was a Thursday: epoch hour 0 is hour 72 of a Monday-first week.
_EPOCH_SLOT = 72


class RunningLevels:
    """The newest LEVEL_READINGS running readings per asset: (ts, worst-axis velocity RMS
    mm/s, excess kurtosis), kept in time order (a backfilled older reading slots in)."""

    def __init__(self, n: int = LEVEL_READINGS) -> None:
        self.n = n
        self._by_asset: dict[str, list[tuple[float, float, float]]] = {}

    def add(self, asset_id: str, ts: float, vel_mm_s: float, kurtosis: float) -> None:
        buf = self._by_asset.setdefault(asset_id, [])
        if len(buf) >= self.n and ts <= buf[0][0]:
            return  # older than everything kept
        bisect.insort(buf, (ts, vel_mm_s, kurtosis))
        if len(buf) > self.n:
            del buf[0]

    def __contains__(self, asset_id: str) -> bool:
        return asset_id in self._by_asset

    def level(self, asset_id: str) -> tuple[float, int, float, float] | None:
        """(median velocity, readings, newest ts, median kurtosis) or None."""
        buf = self._by_asset.get(asset_id)
        if not buf:
            return None
        return (
            statistics.median(v for _, v, _ in buf),
            len(buf),
            buf[-1][0],
            statistics.median(k for _, _, k in buf),
        )


def trend(m: F64, now: float) -> tuple[str, float | None]:
    """(rising | stable | falling | unknown, % change per week) of the running level: the
    median of the last week's running hours against the week before (an hourly array)."""
    hours, vel = cols.hour_velocity(m)
    last = vel[hours >= now - TREND_DAYS * DAY]
    prev = vel[(hours >= now - 2 * TREND_DAYS * DAY) & (hours < now - TREND_DAYS * DAY)]
    if last.size < TREND_MIN_HOURS or prev.size < TREND_MIN_HOURS:
        return "unknown", None
    a, b = float(np.median(prev)), float(np.median(last))
    if a <= 0:
        return "unknown", None
    pct = 100.0 * (b - a) / a
    word = "rising" if pct > TREND_PCT else "falling" if pct < -TREND_PCT else "stable"
    return word, round(pct, 1)


@dataclass(frozen=True)
class Slope:
    """The measured velocity's pace: mm/s per running hour (Theil-Sen), with its 90 % interval
    (Sen 1968), over `hours` hourly means covering `span_h` running hours."""

    per_h: float
    lo: float
    hi: float
    hours: int
    span_h: float


def velocity_slope(m: F64) -> Slope | None:
    """The pace of the worst-axis hourly mean velocity against the running-hour counter over
    the newest PACE_HOURS hours in which at least half the reports ran (the hours the level
    and trend read); None with fewer than PACE_MIN_HOURS of them or under half as many running
    hours. Theil-Sen: the median of the pairwise slopes, so a few odd hours (a start-up, a
    knock) do not tilt it. The interval treats the hours as independent; hourly means of a
    machine are somewhat correlated, so it is narrower than the truth, which is why it must
    clear zero at 95 % one-sided rather than merely be positive."""
    run = m[m[:, cols.N_RUNNING] >= 0.5 * m[:, cols.N]][-PACE_HOURS:]
    n = run.shape[0]
    if n < PACE_MIN_HOURS:
        return None
    x = run[:, cols.RUNTIME] / HOUR
    y = run[:, cols.S_VEL_X : cols.S_VEL_Z + 1].max(axis=1) / run[:, cols.N]
    span = float(x[-1] - x[0])
    if span < PACE_MIN_HOURS / 2:
        return None
    i, j = np.triu_indices(n, 1)
    dx = x[j] - x[i]
    ok = dx > 0  # a stuck counter gives no slope
    s = np.sort((y[j] - y[i])[ok] / dx[ok])
    if s.size < n:
        return None
    # Sen's interval: the ranks (N -+ C) / 2 of the sorted slopes, C from Kendall's S variance.
    c = PACE_Z * math.sqrt(n * (n - 1) * (2 * n + 5) / 18.0)
    lo = s[min(s.size - 1, max(0, math.floor((s.size - c) / 2)))]
    hi = s[min(s.size - 1, max(0, math.ceil((s.size + c) / 2)))]
    return Slope(float(np.median(s)), float(lo), float(hi), n, span)


def running_hours(hour: F64, runtime_s: F64) -> tuple[F64, F64]:
    """(hour starts, running hours in each) from the hourly runtime counter.

    A counter step across a gap in the data (node or gateway away) is spread evenly over the
    missing hours; a counter that went backwards (node replaced, counter reset) gives nothing.
    """
    if hour.size < 2:
        return np.zeros(0), np.zeros(0)
    d_rt, d_h = np.diff(runtime_s), np.diff(hour)
    ok = (d_rt >= 0) & (d_h > 0)
    n = np.maximum(1, np.round(d_h[ok] / HOUR)).astype(np.int64)
    share = np.minimum(d_rt[ok] / HOUR / n, 1.0)
    ends = hour[1:][ok]
    # Step i covers the n hours ending at ends[i]: ends[i] - k h for k < n.
    k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    return np.repeat(ends, n) - k * HOUR, np.repeat(share, n)


# tz -> (first hour, UTC offset in seconds of each hour from it): a site's offsets, built once
# per zone over the hours asked for (a DST zone changes offset twice a year).
_OFFSETS: dict[str, tuple[int, np.ndarray]] = {}


def _offsets(tz: str, lo: int, hi: int) -> tuple[int, np.ndarray]:
    """UTC offsets (s) of zone `tz` for every epoch hour in [lo, hi] (cached, with margin)."""
    have = _OFFSETS.get(tz)
    if have is not None and have[0] <= lo and hi < have[0] + len(have[1]):
        return have
    zone = sitetime.zone(tz)
    lo, hi = lo - 24 * 200, hi + 24 * 200
    if have is not None:
        lo, hi = min(lo, have[0]), max(hi, have[0] + len(have[1]) - 1)
    off = np.array(
        [
            (datetime.fromtimestamp(h * HOUR, zone).utcoffset() or timedelta(0)).total_seconds()
            for h in range(lo, hi + 1)
        ]
    )
    _OFFSETS[tz] = (lo, off)
    return lo, off


def week_slots(starts: F64, tz: str | None = None) -> np.ndarray:
    """Hour of the week (0 = Monday 00:00) of each hour start, on the wall clock of the site's
    zone `tz` (None or UTC: UTC hours)."""
    hours = (starts // HOUR).astype(np.int64)
    if not tz or tz == sitetime.UTC_NAME:
        return (hours + _EPOCH_SLOT) % 168
    lo, off = _offsets(tz, int(hours.min()), int(hours.max()))
    local = ((starts + off[hours - lo]) // HOUR).astype(np.int64)
    out: np.ndarray = (local + _EPOCH_SLOT) % 168
    return out


def utilisation(m: F64, tz: str | None = None) -> Utilisation | None:
    """The asset's running fraction by hour of the week (gateway.forecast.Utilisation), from
    an hourly array; hours of the site's local week with its zone `tz` (a Tokyo morning shift
    is a morning shift, a Berlin one keeps its hours across the DST change).

    The hours are averaged per hour-of-week slot here (numpy) and handed to
    `Utilisation.from_hours` as one record per slot: the same means, in a fraction of the time
    for a year of hours."""
    starts, shares = running_hours(m[:, cols.HOUR], m[:, cols.RUNTIME])
    if starts.size == 0:
        return None
    slot = week_slots(starts, tz)
    sums = np.bincount(slot, weights=shares, minlength=168)
    counts = np.bincount(slot, minlength=168)
    monday = datetime(2024, 1, 1, tzinfo=UTC).timestamp()  # a Monday 00:00 UTC
    records = [
        (datetime.fromtimestamp(monday + s * HOUR, UTC), float(sums[s] / counts[s]))
        for s in np.flatnonzero(counts)
    ]
    u = Utilisation.from_hours(records)  # slots already local: the records stand for them
    if not tz or tz == sitetime.UTC_NAME:
        return u
    return Utilisation(u.fraction_by_hour, sitetime.zone(tz))
