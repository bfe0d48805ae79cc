"""Usage of machines over a period of a site's calendar days, from the stored hourly points
(gateway/consulting/__init__.py says how each hour is read)."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway import sitetime
from gateway.domain import ZONES
from gateway.outlook import columns as col
from gateway.shifts import OUTSIDE, Shift
from gateway.store.api import HourlyPoint

HOUR = 3600
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DEFAULT_DAYS = 28

# A machine needs 3 days of readings in a period to be judged; a day with 20 monitored hours is
# a "full day" for the daily checks (at least 3 of them).
MIN_MONITORED_H = 72.0
FULL_DAY_H = 20.0
MIN_FULL_DAYS = 3


# ------------------------------------------------------------------------------ periods


@dataclass(frozen=True)
class Period:
    """Calendar days first..last (inclusive) of a site's own calendar."""

    first: dt.date
    last: dt.date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def bounds(self, tz: str) -> tuple[float, float]:
        """[start, end) as instants: the site's midnight before `first` and after `last`."""
        z = sitetime.zone(tz)
        end_day = self.last + dt.timedelta(days=1)
        a = dt.datetime(self.first.year, self.first.month, self.first.day, tzinfo=z)
        b = dt.datetime(end_day.year, end_day.month, end_day.day, tzinfo=z)
        return a.timestamp(), b.timestamp()

    def previous(self) -> Period:
        """The period of the same length just before."""
        return Period(self.first - dt.timedelta(days=self.days), self.first - dt.timedelta(1))


def period_ending(last: dt.date, days: int = DEFAULT_DAYS) -> Period:
    if days < 1:
        raise ValueError("a period has at least one day")
    return Period(last - dt.timedelta(days=days - 1), last)


# ------------------------------------------------------------------------------ usage


@dataclass
class Usage:
    """Monitored and running hours, starts and running hours per zone, of a slice of time."""

    monitored_h: float = 0.0
    running_h: float = 0.0
    starts: int = 0
    zone_h: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ZONES, 0.0))

    @property
    def utilisation(self) -> float | None:
        return self.running_h / self.monitored_h if self.monitored_h else None

    @property
    def idle_h(self) -> float:
        return max(0.0, self.monitored_h - self.running_h)

    @property
    def starts_per_day(self) -> float | None:
        return self.starts / (self.monitored_h / 24.0) if self.monitored_h else None

    def add(self, other: Usage) -> None:
        self.monitored_h += other.monitored_h
        self.running_h += other.running_h
        self.starts += other.starts
        for z in ZONES:
            self.zone_h[z] += other.zone_h[z]

    def to_dict(self) -> dict[str, Any]:
        u, spd = self.utilisation, self.starts_per_day
        return {
            "monitored_h": round(self.monitored_h, 1),
            "running_h": round(self.running_h, 1),
            "idle_h": round(self.idle_h, 1),
            "utilisation": None if u is None else round(u, 3),
            "starts": self.starts,
            "starts_per_day": None if spd is None else round(spd, 1),
            "zone_h": {z: round(v, 1) for z, v in self.zone_h.items()},
        }


@dataclass(frozen=True)
class MachineSpec:
    """A monitored asset as the report names it, with its own zone limits (A/B, B/C, C/D)."""

    asset_id: str
    name: str
    machine: str
    site: str
    limits: tuple[float, float, float]


@dataclass
class MachineUsage:
    spec: MachineSpec
    total: Usage
    by_shift: dict[str, Usage]
    by_weekday: list[Usage]
    by_day: dict[str, Usage]  # the site's calendar day (YYYY-MM-DD)

    @property
    def enough(self) -> bool:
        return self.total.monitored_h >= MIN_MONITORED_H

    def full_days(self) -> list[Usage]:
        return [u for u in self.by_day.values() if u.monitored_h >= FULL_DAY_H]

    def typical_starts(self) -> float | None:
        """Median starts of its full days (one day of hundreds of starts does not move it);
        None with fewer than MIN_FULL_DAYS."""
        days = self.full_days()
        return statistics.median(d.starts for d in days) if len(days) >= MIN_FULL_DAYS else None

    def to_dict(self) -> dict[str, Any]:
        s = self.spec
        return {
            "asset_id": s.asset_id,
            "name": s.name,
            "machine": s.machine,
            "site": s.site,
            "enough_data": self.enough,
            **self.total.to_dict(),
            "by_shift": {k: v.to_dict() for k, v in self.by_shift.items()},
            "by_weekday": [u.to_dict() for u in self.by_weekday],
            "starts_by_day": {d: u.starts for d, u in sorted(self.by_day.items())},
        }


Columns = NDArray[np.float64]  # one asset's hourly rows (gateway/outlook/columns.py layout)


def columns_of(points: Sequence[HourlyPoint]) -> Columns:
    """HourlyPoint records as the store's hourly array (`Store.hourly_columns`): for callers
    that hold records (tests, small tools)."""
    m = np.zeros((len(points), col.WIDTH), dtype=np.float64)
    for i, p in enumerate(points):
        m[i, col.HOUR], m[i, col.N] = p.hour, p.n
        m[i, col.S_VEL_X : col.S_VEL_Z + 1] = [v * p.n for v in p.vel_rms_mm_s]
        m[i, col.MAX_VEL] = p.vel_rms_max_mm_s
        m[i, col.RUNTIME], m[i, col.STARTS] = p.runtime_s, p.starts
        m[i, col.N_RUNNING] = p.running_fraction * p.n
    return m


def running_level(m: Columns) -> NDArray[np.float64]:
    """Each hour's running vibration (worst axis, mm/s; NaN for an hour that did not run): the
    hourly mean over all reports divided by the running share (stopped reports read near
    zero), never above the hour's highest reading."""
    n = np.maximum(m[:, col.N], 1.0)
    share = m[:, col.N_RUNNING] / n
    worst = m[:, col.S_VEL_X : col.S_VEL_Z + 1].max(axis=1) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        level = np.minimum(worst / share, m[:, col.MAX_VEL])
    return np.where(share > 0, level, np.nan)


@dataclass(frozen=True)
class SiteClock:
    """Each hour of a span as the site's wall clock sees it (local hour, weekday, calendar
    day), computed once per site and shared by its machines: the zone conversion is the
    costly step, and every machine's hours are the same UTC hours."""

    base: float
    local_hour: NDArray[np.int64]
    weekday: NDArray[np.int64]
    day: tuple[str, ...]
    day_index: NDArray[np.int64]

    @classmethod
    def of(cls, tz: str, start: float, end: float) -> SiteClock:
        base = float(int(start // HOUR) * HOUR)
        n = max(0, int(-(-(end - base) // HOUR)))
        hours: list[int] = []
        weekdays: list[int] = []
        days: list[str] = []
        index: list[int] = []
        for i in range(n):
            local = sitetime.local(base + i * HOUR, tz)
            key = local.date().isoformat()
            if not days or days[-1] != key:
                days.append(key)
            hours.append(local.hour)
            weekdays.append(local.weekday())
            index.append(len(days) - 1)
        return cls(base, _ints(hours), _ints(weekdays), tuple(days), _ints(index))


def _ints(values: list[int]) -> NDArray[np.int64]:
    return np.asarray(values, dtype=np.int64)


def _tally(
    group: NDArray[np.int64],
    size: int,
    ran: NDArray[np.float64],
    started: NDArray[np.float64],
    zone: NDArray[np.int64],
) -> list[Usage]:
    """Usage per group index 0..size-1 of the period's hours (zone -1: no level)."""
    mon = np.bincount(group, minlength=size)
    run = np.bincount(group, weights=ran, minlength=size)
    st = np.bincount(group, weights=started, minlength=size)
    has = zone >= 0
    zh = np.bincount(group[has] * 4 + zone[has], weights=ran[has], minlength=size * 4).reshape(
        size, 4
    )
    return [
        Usage(float(mon[g]), float(run[g]), int(np.rint(st[g])),
              {z: float(zh[g, k]) for k, z in enumerate(ZONES)})
        for g in range(size)
    ]  # fmt: skip


def machine_usage(
    spec: MachineSpec,
    m: Columns,
    period: Period,
    tz: str,
    shifts: Sequence[Shift],
    clock: SiteClock | None = None,
) -> MachineUsage:
    """The machine's usage in the period, from its hourly rows (sorted by hour; the row of the
    hour before the period, if given, is the reference for the first hour's counters).
    `clock`: the site's, covering the period (made here when not given)."""
    start, end = period.bounds(tz)
    clock = clock or SiteClock.of(tz, start, end)
    # the period's rows and the one before (the first hour's counters' reference)
    lo, hi = np.searchsorted(m[:, col.HOUR], [start, end])
    m = m[max(0, lo - 1) : hi]
    hours = m[:, col.HOUR]
    prev_hour = np.concatenate([[np.nan], hours[:-1]])
    prev_rt = np.concatenate([[np.nan], m[:-1, col.RUNTIME]])
    prev_st = np.concatenate([[np.nan], m[:-1, col.STARTS]])
    adjacent = hours - prev_hour == HOUR
    share = np.clip(m[:, col.N_RUNNING] / np.maximum(m[:, col.N], 1.0), 0.0, 1.0)
    counted = adjacent & (m[:, col.RUNTIME] >= prev_rt)
    with np.errstate(invalid="ignore"):
        by_counter = np.minimum(m[:, col.RUNTIME] - prev_rt, HOUR) / HOUR
        # a counter that went back (a new board): unknown, never a negative number
        started = np.where(adjacent, np.maximum(m[:, col.STARTS] - prev_st, 0.0), 0.0)
    ran = np.where(counted, by_counter, share)
    level = running_level(m)
    ab, bc, cd = spec.limits
    with np.errstate(invalid="ignore"):
        zone = (level > ab).astype(np.int64) + (level > bc) + (level > cd)
    zone = np.where((ran > 0) & ~np.isnan(level), zone, -1)
    inside = (hours >= start) & (hours < end)
    ran, started, zone = ran[inside], started[inside], zone[inside]
    k = ((hours[inside] - clock.base) // HOUR).astype(np.int64)
    shift_index = np.array(
        [next((i for i, s in enumerate(shifts) if h in s.hours()), len(shifts)) for h in range(24)]
    )
    total = _tally(np.zeros(len(k), dtype=np.int64), 1, ran, started, zone)[0]
    per_shift = _tally(shift_index[clock.local_hour[k]], len(shifts) + 1, ran, started, zone)
    by_shift = {s.name: per_shift[i] for i, s in enumerate(shifts)}
    if per_shift[-1].monitored_h:
        by_shift[OUTSIDE] = per_shift[-1]
    by_weekday = _tally(clock.weekday[k], 7, ran, started, zone)
    days = clock.day_index[k]
    per_day = _tally(days, len(clock.day), ran, started, zone)
    by_day = {clock.day[d]: per_day[d] for d in np.unique(days).tolist()}
    return MachineUsage(spec, total, by_shift, by_weekday, by_day)


@dataclass
class SiteUsage:
    site: str
    tz: str
    shifts: tuple[Shift, ...]
    period: Period
    machines: list[MachineUsage]

    def _sum(self, pick: Any) -> Usage:
        out = Usage()
        for m in self.machines:
            u = pick(m)
            if u is not None:
                out.add(u)
        return out

    @property
    def total(self) -> Usage:
        return self._sum(lambda m: m.total)

    def by_shift(self) -> dict[str, Usage]:
        keys = [s.name for s in self.shifts]
        keys += sorted({k for m in self.machines for k in m.by_shift} - set(keys))
        return {k: self._sum(lambda m, k=k: m.by_shift.get(k)) for k in keys}

    def by_weekday(self) -> list[Usage]:
        return [self._sum(lambda m, d=d: m.by_weekday[d]) for d in range(7)]

    def machine(self, asset_id: str) -> MachineUsage | None:
        return next((m for m in self.machines if m.spec.asset_id == asset_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "tz": self.tz,
            "first_day": self.period.first.isoformat(),
            "last_day": self.period.last.isoformat(),
            "shifts": [{"name": s.name, "hours": s.label} for s in self.shifts],
            **self.total.to_dict(),
            "by_shift": {k: v.to_dict() for k, v in self.by_shift().items()},
            "by_weekday": [
                {"day": WEEKDAYS[i], **u.to_dict()} for i, u in enumerate(self.by_weekday())
            ],
            "machines": [m.to_dict() for m in self.machines],
        }


@dataclass(frozen=True)
class SiteInput:
    site: str
    tz: str
    shifts: tuple[Shift, ...]
    machines: tuple[MachineSpec, ...]


def site_usage(site: SiteInput, hours: Mapping[str, Columns], period: Period) -> SiteUsage:
    clock = SiteClock.of(site.tz, *period.bounds(site.tz))
    empty = np.zeros((0, col.WIDTH), dtype=np.float64)
    machines = [
        machine_usage(m, hours.get(m.asset_id, empty), period, site.tz, site.shifts, clock)
        for m in site.machines
    ]
    return SiteUsage(site.site, site.tz, site.shifts, period, machines)


def fetch_bounds(sites: Sequence[SiteInput], period: Period) -> tuple[float, float]:
    """The instants to read hourly points for: the previous period's start (an hour before,
    for its first counters) to this period's end, over every site's zone."""
    prev = period.previous()
    starts = [prev.bounds(s.tz)[0] for s in sites] or [prev.bounds(sitetime.UTC_NAME)[0]]
    ends = [period.bounds(s.tz)[1] for s in sites] or [period.bounds(sitetime.UTC_NAME)[1]]
    return min(starts) - HOUR, max(ends)
