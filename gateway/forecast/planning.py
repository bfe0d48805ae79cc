"""Maintenance planning: pick a site's window for each at-risk part, and sum parts demand."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

PLANNED = "planned"
UNPLANNED = "unplanned_stop_needed"
NO_RISK = "no_risk_in_horizon"


@dataclass(frozen=True)
class Window:
    """A planned maintenance stop at a site."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("window must end after it starts")


@dataclass(frozen=True)
class Recommendation:
    status: str  # planned | unplanned_stop_needed | no_risk_in_horizon
    window: Window | None
    risk_date: datetime | None  # when P(failure) passes the threshold (e.g. the P10 date)
    latest_safe_date: datetime | None  # replace before this
    earliest_possible: datetime  # now + lead time: the part cannot be on site earlier
    replace_on: datetime | None  # the date to count the part in the demand


def _plan_horizon(windows: Sequence[Window], now: datetime) -> datetime:
    """End of the last planned window plus the usual spacing between windows (4 weeks if
    there is only one): up to then the planned stops are the ones to choose from."""
    starts = sorted(w.start for w in windows)
    if not starts:
        return now
    gaps = [b - a for a, b in pairwise(starts)]
    spacing = max(gaps) if gaps else timedelta(weeks=4)
    return max(w.end for w in windows) + spacing


def recommend(
    windows: Sequence[Window], now: datetime, risk_date: datetime | None, lead_time: timedelta
) -> Recommendation:
    """The last window that starts before `risk_date` and no earlier than now + lead time.

    Waiting for the last such window uses the most of the part's life; if none fits, an
    unplanned stop is needed before `risk_date`.
    """
    earliest = now + lead_time
    if risk_date is None:
        return Recommendation(NO_RISK, None, None, None, earliest, None)
    if risk_date > _plan_horizon(windows, now):
        # The risk lies beyond the planned stops and the next one likely to be planned after
        # them: a later stop will be the right one. Proposing the last known window now would
        # replace the part far too early.
        return Recommendation(NO_RISK, None, risk_date, risk_date, earliest, None)
    fits = [w for w in windows if earliest <= w.start < risk_date]
    if fits:
        best = max(fits, key=lambda w: w.start)
        return Recommendation(PLANNED, best, risk_date, risk_date, earliest, best.start)
    # No window fits: stop by the risk date, or when the part arrives if that is later.
    when = risk_date if earliest <= risk_date else earliest
    return Recommendation(UNPLANNED, None, risk_date, risk_date, earliest, when)


@dataclass(frozen=True)
class Need:
    part_number: str
    date: datetime | None
    quantity: int = 1


def parts_demand(
    needs: Iterable[Need], now: datetime, horizons_weeks: Sequence[int] = (4, 8, 12)
) -> dict[str, dict[int, int]]:
    """Cumulative quantity per part number needed within each horizon (weeks from now).

    Needs dated in the past (overdue) count in every horizon.
    """
    out: dict[str, dict[int, int]] = {}
    for n in needs:
        row = out.setdefault(n.part_number, {h: 0 for h in horizons_weeks})
        if n.date is None:
            continue
        for h in horizons_weeks:
            if n.date < now + timedelta(weeks=h):
                row[h] += n.quantity
    return out
