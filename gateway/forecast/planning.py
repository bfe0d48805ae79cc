"""Maintenance planning: pick a site's window for each at-risk part, and sum parts demand."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

PLANNED = "planned"
UNPLANNED = "unplanned_stop_needed"
NO_RISK = "no_risk_in_horizon"

# Why a plan was made: the wear forecast, or the measured severity zone (ISO 10816/20816).
BY_FORECAST = "forecast"
BY_ZONE_C = "zone_C"
BY_ZONE_D = "zone_D"


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
    reason: str = BY_FORECAST  # forecast | zone_C | zone_D


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


def recommend_with_zone(
    windows: Sequence[Window],
    now: datetime,
    risk_date: datetime | None,
    lead_time: timedelta,
    zone: str | None,
) -> Recommendation:
    """The forecast's plan, made more urgent by what the machine measures now.

    ISO 10816/20816 read zone C as unsatisfactory for long-term continuous operation, to be
    run only until a suitable opportunity for remedial action, and zone D as severe enough to
    cause damage. So zone C takes the first planned stop the part can make (unless the forecast
    already asks for an earlier one), or an unplanned stop when no planned stop is left; zone D
    needs a stop as soon as the part is on site. A forecast with no trend yet (new asset, only
    the fleet prior) cannot see either, which is why the zone decides here.
    """
    rec = recommend(windows, now, risk_date, lead_time)
    earliest = now + lead_time
    if zone == "D":
        return Recommendation(UNPLANNED, None, rec.risk_date, now, earliest, earliest, BY_ZONE_D)
    if zone != "C":
        return rec
    fits = sorted((w for w in windows if w.start >= earliest), key=lambda w: w.start)
    if fits:
        first = fits[0]
        if rec.replace_on is not None and rec.replace_on <= first.start:
            return rec  # the forecast is already more urgent
        return Recommendation(PLANNED, first, rec.risk_date, first.end, earliest, first.start,
                              BY_ZONE_C)  # fmt: skip
    if rec.replace_on is not None and rec.replace_on <= earliest:
        return rec
    return Recommendation(UNPLANNED, None, rec.risk_date, earliest, earliest, earliest, BY_ZONE_C)


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
