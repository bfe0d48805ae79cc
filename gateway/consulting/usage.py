"""Usage of machines over a period of a site's calendar days, from the stored hourly points
(gateway/consulting/__init__.py says how each hour is read)."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway import sitetime
from gateway.domain import ZONES, zone_on
from gateway.shifts import Shift, shift_of
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


def running_level(p: HourlyPoint) -> float | None:
    """The hour's running vibration (worst axis, mm/s): see the module's docstring."""
    if p.running_fraction <= 0:
        return None
    return min(max(p.vel_rms_mm_s) / p.running_fraction, p.vel_rms_max_mm_s)


def machine_usage(
    spec: MachineSpec,
    points: Sequence[HourlyPoint],
    period: Period,
    tz: str,
    shifts: Sequence[Shift],
) -> MachineUsage:
    """The machine's usage in the period, from its hourly points (sorted by hour; the hour
    before the period, if given, is the reference for the first hour's counters)."""
    start, end = period.bounds(tz)
    names = [s.name for s in shifts]
    by_shift = {n: Usage() for n in names}
    by_weekday = [Usage() for _ in range(7)]
    by_day: dict[str, Usage] = {}
    total = Usage()
    prev: HourlyPoint | None = None
    for p in points:
        if p.hour < start or p.hour >= end:
            prev = p if p.hour < start else prev
            continue
        adjacent = prev is not None and p.hour - prev.hour == HOUR
        if prev is not None and adjacent and p.runtime_s >= prev.runtime_s:
            ran_h = min(p.runtime_s - prev.runtime_s, HOUR) / HOUR
        else:
            ran_h = min(max(p.running_fraction, 0.0), 1.0)
        started = p.starts - prev.starts if prev is not None and adjacent else 0
        started = max(started, 0)  # a counter that went back (a new board): unknown, not < 0
        hour = Usage(1.0, ran_h, started)
        level = running_level(p)
        if ran_h > 0 and level is not None:
            hour.zone_h[zone_on(spec.limits, level)] += ran_h
        local = sitetime.local(p.hour, tz)
        shift = shift_of(local.hour, shifts)
        for u in (
            total,
            by_shift.setdefault(shift, Usage()),
            by_weekday[local.weekday()],
            by_day.setdefault(local.date().isoformat(), Usage()),
        ):
            u.add(hour)
        prev = p
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


def site_usage(
    site: SiteInput, hours: Mapping[str, Sequence[HourlyPoint]], period: Period
) -> SiteUsage:
    machines = [
        machine_usage(m, hours.get(m.asset_id, ()), period, site.tz, site.shifts)
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
