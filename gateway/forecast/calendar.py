"""Running time -> calendar time, from each asset's utilisation by hour of the week.

The profile has one running fraction (0..1) per hour of the week, Monday 00:00 first, so a
machine that runs two shifts on weekdays accumulates running time only in those hours and a
forecast of "120 running hours" lands on the right day and shift. Hours of the week are the
site's local hours when a `tz` is given (the site's IANA zone, `Store.sites()`): a machine that
runs 06:00-14:00 in Tokyo keeps that slot all year and across a Berlin daylight-saving change.
Without `tz` they are UTC hours. Times passed in are aware datetimes; the walk itself runs on
UTC hours (a zone with a half-hour offset shares an UTC hour between two local slots: the
slot of the hour's start is used).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

HOUR_S = 3600.0
WEEK_HOURS = 168


def _slot(t: datetime, tz: tzinfo | None = None) -> int:
    """Hour of the week, 0 = Monday 00:00-01:00, on the wall clock of `tz` (None: as given)."""
    if tz is not None and t.tzinfo is not None:
        t = t.astimezone(tz)
    return t.weekday() * 24 + t.hour


@dataclass(frozen=True)
class Utilisation:
    """Running fraction for each of the 168 hours of the week (Monday 00:00 first), in the
    local hours of `tz` (None: the hours of the datetimes given, UTC in the gateway)."""

    fraction_by_hour: tuple[float, ...]
    tz: tzinfo | None = None

    def __post_init__(self) -> None:
        f = self.fraction_by_hour
        if len(f) != WEEK_HOURS or any(not 0.0 <= x <= 1.0 for x in f):
            raise ValueError("need 168 hourly running fractions between 0 and 1")

    @classmethod
    def from_weekday_hours(cls, hours_by_weekday: Iterable[float]) -> Utilisation:
        """Running hours per weekday (Monday first), spread evenly over each day."""
        h = [float(x) for x in hours_by_weekday]
        if len(h) != 7 or any(not 0.0 <= x <= 24.0 for x in h):
            raise ValueError("need 7 weekday figures between 0 and 24 hours")
        return cls(tuple(h[d] / 24.0 for d in range(7) for _ in range(24)))

    @classmethod
    def from_days(cls, records: Iterable[tuple[date, float]]) -> Utilisation:
        """From (day, running_hours) records; weekdays never seen take the overall mean."""
        sums = [0.0] * 7
        counts = [0] * 7
        for day, hours in records:
            sums[day.weekday()] += min(max(float(hours), 0.0), 24.0)
            counts[day.weekday()] += 1
        total = sum(counts)
        if total == 0:
            raise ValueError("no utilisation records")
        overall = sum(sums) / total
        return cls.from_weekday_hours(
            s / c if c else overall for s, c in zip(sums, counts, strict=True)
        )

    @classmethod
    def from_hours(
        cls, records: Iterable[tuple[datetime, float]], tz: tzinfo | None = None
    ) -> Utilisation:
        """From (start of an hour, running hours in it) records: the mean per hour of the week
        (of the site's local week with `tz`).

        An hour of the week never seen takes the mean of the same hour of the day on the days
        that were seen (shift patterns repeat daily more often than weekly), else the overall
        mean.
        """
        sums = [0.0] * WEEK_HOURS
        counts = [0] * WEEK_HOURS
        for start, hours in records:
            k = _slot(start, tz)
            sums[k] += min(max(float(hours), 0.0), 1.0)
            counts[k] += 1
        total = sum(counts)
        if total == 0:
            raise ValueError("no utilisation records")
        overall = sum(sums) / total
        out = []
        for k in range(WEEK_HOURS):
            if counts[k]:
                out.append(sums[k] / counts[k])
                continue
            same_hour = [sums[j] / counts[j] for j in range(k % 24, WEEK_HOURS, 24) if counts[j]]
            out.append(sum(same_hour) / len(same_hour) if same_hour else overall)
        return cls(tuple(out), tz)

    @property
    def hours_by_weekday(self) -> tuple[float, ...]:
        """Mean running hours per calendar day, Monday..Sunday."""
        f = self.fraction_by_hour
        return tuple(sum(f[d * 24 : d * 24 + 24]) for d in range(7))

    @property
    def hours_by_shift(self) -> dict[str, float]:
        """Mean running hours per day in three 8-hour shifts (06-14, 14-22, 22-06 in the
        profile's hours: the site's local time with `tz`, else UTC)."""
        f = self.fraction_by_hour
        by_hour = [sum(f[h::24]) / 7.0 for h in range(24)]
        return {
            "06-14": sum(by_hour[6:14]),
            "14-22": sum(by_hour[14:22]),
            "22-06": sum(by_hour[22:]) + sum(by_hour[:6]),
        }

    @property
    def hours_per_week(self) -> float:
        return sum(self.fraction_by_hour)

    def to_calendar(self, now: datetime, running_s: float) -> datetime | None:
        """Calendar moment when `running_s` more running seconds will have accumulated.

        Within an hour of the week running time is spread evenly. None when the asset never
        runs.
        """
        if running_s <= 0:
            return now
        week_s = self.hours_per_week * HOUR_S
        if week_s <= 0:
            return None
        # Whole weeks first (cheap for long horizons), then walk hour by hour (< 170 steps).
        weeks = int(running_s // week_s)
        left = running_s - weeks * week_s
        cur = now + timedelta(weeks=weeks)
        if left <= 0:
            return cur
        if self.tz is not None and cur.tzinfo is not None:
            cur = cur.astimezone(UTC)  # step real hours; the slot is read on the local clock
        while True:
            next_hour = cur.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            rate = self.fraction_by_hour[_slot(cur, self.tz)]  # running s per calendar s
            avail = (next_hour - cur).total_seconds() * rate
            if rate > 0 and avail >= left:
                return cur + timedelta(seconds=left / rate)
            left -= avail
            cur = next_hour

    def dates(self, now: datetime, p10_s: float | None, p50_s: float | None,
              p90_s: float | None) -> dict[str, datetime | None]:  # fmt: skip
        """Convert P10/P50/P90 remaining running seconds to calendar datetimes."""
        out: dict[str, datetime | None] = {}
        for key, v in (("p10", p10_s), ("p50", p50_s), ("p90", p90_s)):
            out[key] = None if v is None else self.to_calendar(now, v)
        return out

    def to_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fraction_by_hour": list(self.fraction_by_hour)}
        key = getattr(self.tz, "key", None)  # a ZoneInfo's IANA name
        if key:
            out["tz"] = key
        return out

    @classmethod
    def from_state(cls, d: Mapping[str, Any]) -> Utilisation:
        tz: tzinfo | None = None
        if d.get("tz"):
            from zoneinfo import ZoneInfo

            tz = ZoneInfo(str(d["tz"]))
        return cls(tuple(float(x) for x in d["fraction_by_hour"]), tz)
