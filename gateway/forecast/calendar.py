"""Running time -> calendar time, from each asset's utilisation by weekday."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

DAY_S = 86400.0


@dataclass(frozen=True)
class Utilisation:
    """Mean running hours per calendar day for Monday..Sunday (index 0..6)."""

    hours_by_weekday: tuple[float, ...]

    def __post_init__(self) -> None:
        h = self.hours_by_weekday
        if len(h) != 7 or any(not 0 <= x <= 24 for x in h):
            raise ValueError("need 7 weekday figures between 0 and 24 hours")

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
        return cls(tuple(s / c if c else overall for s, c in zip(sums, counts, strict=True)))

    @property
    def hours_per_week(self) -> float:
        return sum(self.hours_by_weekday)

    def to_calendar(self, now: datetime, running_s: float) -> datetime | None:
        """Calendar moment when `running_s` more running seconds will have accumulated.

        Running time is assumed spread evenly over each day. None when the asset never runs.
        """
        if running_s <= 0:
            return now
        week_s = self.hours_per_week * 3600.0
        if week_s <= 0:
            return None
        # Whole weeks first (cheap for long horizons), then walk day by day.
        weeks = int(running_s // week_s)
        left = running_s - weeks * week_s
        cur = now + timedelta(weeks=weeks)
        if left <= 0:
            return cur
        while True:
            midnight = datetime.combine(cur.date() + timedelta(days=1), datetime.min.time(),
                                        tzinfo=cur.tzinfo)  # fmt: skip
            rate = self.hours_by_weekday[cur.weekday()] * 3600.0 / DAY_S  # running s per s
            avail = (midnight - cur).total_seconds() * rate
            if rate > 0 and avail >= left:
                return cur + timedelta(seconds=left / rate)
            left -= avail
            cur = midnight

    def dates(self, now: datetime, p10_s: float | None, p50_s: float | None,
              p90_s: float | None) -> dict[str, datetime | None]:  # fmt: skip
        """Convert P10/P50/P90 remaining running seconds to calendar datetimes."""
        out: dict[str, datetime | None] = {}
        for key, v in (("p10", p10_s), ("p50", p50_s), ("p90", p90_s)):
            out[key] = None if v is None else self.to_calendar(now, v)
        return out

    def to_state(self) -> dict[str, Any]:
        return {"hours_by_weekday": list(self.hours_by_weekday)}

    @classmethod
    def from_state(cls, d: Mapping[str, Any]) -> Utilisation:
        return cls(tuple(float(x) for x in d["hours_by_weekday"]))
