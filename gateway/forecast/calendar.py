"""Running time -> calendar time, from each asset's utilisation by hour of the week.

The profile has one running fraction (0..1) per hour of the week, Monday 00:00 first, so a
machine that runs two shifts on weekdays accumulates running time only in those hours and a
forecast of "120 running hours" lands on the right day and shift. Hours are UTC hours, the
same clock the gateway's hourly aggregates use (a site's daylight-saving change shifts its
shifts by an hour twice a year; small against the spread of any forecast).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

HOUR_S = 3600.0
WEEK_HOURS = 168


def _slot(t: datetime) -> int:
    """Hour of the week, 0 = Monday 00:00-01:00."""
    return t.weekday() * 24 + t.hour


@dataclass(frozen=True)
class Utilisation:
    """Running fraction for each of the 168 hours of the week (Monday 00:00 first)."""

    fraction_by_hour: tuple[float, ...]

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
    def from_hours(cls, records: Iterable[tuple[datetime, float]]) -> Utilisation:
        """From (start of an hour, running hours in it) records: the mean per hour of the week.

        An hour of the week never seen takes the mean of the same hour of the day on the days
        that were seen (shift patterns repeat daily more often than weekly), else the overall
        mean.
        """
        sums = [0.0] * WEEK_HOURS
        counts = [0] * WEEK_HOURS
        for start, hours in records:
            k = _slot(start)
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
        return cls(tuple(out))

    @property
    def hours_by_weekday(self) -> tuple[float, ...]:
        """Mean running hours per calendar day, Monday..Sunday."""
        f = self.fraction_by_hour
        return tuple(sum(f[d * 24 : d * 24 + 24]) for d in range(7))

    @property
    def hours_by_shift(self) -> dict[str, float]:
        """Mean running hours per day in three 8-hour shifts (UTC 06-14, 14-22, 22-06)."""
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
        while True:
            next_hour = cur.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            rate = self.fraction_by_hour[_slot(cur)]  # running s per calendar s
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
        return {"fraction_by_hour": list(self.fraction_by_hour)}

    @classmethod
    def from_state(cls, d: Mapping[str, Any]) -> Utilisation:
        return cls(tuple(float(x) for x in d["fraction_by_hour"]))
