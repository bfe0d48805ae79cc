"""One judgement per asset: what the measured severity and the wear forecast together ask for.

Pure rules, no IO; the engine (engine.py) gathers the inputs and stores the result. The rules,
each covered by tests/outlook/test_judgement.py:

1. Zone D (ISO 10816/20816: severe enough to cause damage) means stop now, whatever the
   forecast says; its remaining-life dates are not shown beside it.
2. Zone C (unsatisfactory for long-term operation) takes the first planned stop the part can
   make (now + lead time), or an unplanned stop when none is left before the risk date.
2a. Zone C with the measured velocity rising at a clear pace (Facts.zone_d: when the level
   reaches the zone C/D limit at that pace): when zone D comes before that stop, an unplanned
   stop before zone D instead (ordering the part now); the text says when and why.
2b. Zone C with no wear trend in the forecast (its figure comes from the rated life or the
   fleet's ages, which assume normal wear) and zone D coming at the current pace before its
   P10 risk date: the forecast's figures and dates are not shown (a life of years beside a
   level climbing toward damage); the life reads when zone D comes instead. A wear-trend
   forecast is made from the same readings and stays (its cone shows the climb).
3. A "stop by" date is never after the P10 risk date (10 % chance of failure by then); when the
   part cannot arrive by then the text says to order now and stop by the risk date anyway.
4. A remaining life beyond the horizon (5 years at the asset's own utilisation) is never
   planned and never shown as a date: it reads "beyond 5 years".
5. With no risk inside the planned stops (and the usual spacing after the last one) nothing is
   booked yet: a later stop will be the right one. With no stops registered at all,
   a risk within four weeks needs an unplanned stop.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.forecast.predictor import PAST_FAIL_LEVEL

DAY = 86400.0
YEAR_H = 8766.0  # hours in an average year
WEEKS_PER_YEAR = 365.25 / 7.0
DEFAULT_LEAD_DAYS = 7.0  # when the registry has no lead time for the part
NO_WINDOWS_LOOKAHEAD_S = 28 * 86400.0  # with no planned stops, a risk this near needs a stop

NONE = "none"
WATCH = "watch"
PLAN = "plan"
UNPLANNED = "unplanned_stop"
STOP_NOW = "stop_now"
ACTIONS = (NONE, WATCH, PLAN, UNPLANNED, STOP_NOW)

BY_FORECAST = "forecast"
BY_ZONE_C = "zone_C"
BY_ZONE_D = "zone_D"


@dataclass(frozen=True)
class Slot:
    """A planned maintenance stop at the asset's site."""

    window_id: int | None
    start: float
    end: float


@dataclass(frozen=True)
class Pace:
    """When the measured level reaches a zone limit at its current pace (levels.velocity_slope):
    `running_h` running hours from now, at `at_ts` on the calendar (the asset's utilisation;
    continuous running while it is not known), `day` that date on the site's calendar."""

    zone: str  # the zone that limit opens (D for the C/D limit)
    limit_mm_s: float
    running_h: float
    at_ts: float
    day: str

    def words(self) -> str:
        return (
            f"at the current pace, vibration reaches zone {self.zone} ({self.limit_mm_s:g} mm/s)"
            f" in about {_hours(self.running_h)} running hours, around {self.day}"
        )


def _hours(h: float) -> str:
    """A rough figure: whole hours up to 100, then two significant digits."""
    if h < 100:
        return f"{max(1, round(h))}"
    return f"{round(h, -(len(str(int(h))) - 2)):,.0f}"


@dataclass(frozen=True)
class Facts:
    """What the judgement is made from (times unix s, lives running hours)."""

    now: float
    zone: str | None  # A-D of the robust recent running level; None without readings
    status: str  # forecast status (gateway.forecast.predictor)
    p10_h: float | None
    p50_h: float | None
    p90_h: float | None
    p10_ts: float | None  # calendar dates of the quantiles (None: unknown)
    p50_ts: float | None
    p90_ts: float | None
    hours_per_week: float | None  # the asset's utilisation; None when not known yet
    part_id: str = ""
    part_number: str = ""
    lead_time_days: float | None = None
    impulsive: bool = False  # recent readings show impulsive vibration (bearing damage signs)
    windows: Sequence[Slot] = ()  # the site's planned stops, sorted by start
    horizon_years: float = 5.0
    zone_d: Pace | None = None  # when zone D comes at the current pace (None: no clear pace)


@dataclass(frozen=True)
class Judgement:
    action: str
    reason: str | None
    fault: str
    need_by_ts: float | None
    order_by_ts: float | None
    window: Slot | None
    action_text: str
    parts_needed: tuple[tuple[str, int], ...]
    # The life as shown: dates None beyond the horizon or in zone D.
    p10_ts: float | None
    p50_ts: float | None
    p90_ts: float | None
    beyond_horizon: bool
    life_text: str
    # P10/P50/P90 shown as hours: inside the horizon and not overtaken by zone D (rule 2b).
    hours_shown: tuple[bool, bool, bool] = (True, True, True)


def horizon_h(f: Facts) -> float:
    """Running hours in the horizon at the asset's own utilisation (continuous running when
    the utilisation is not known yet: the shortest calendar time those hours can take)."""
    per_year = YEAR_H if f.hours_per_week is None else f.hours_per_week * WEEKS_PER_YEAR
    return f.horizon_years * per_year


def _within(h: float | None, ts: float | None, f: Facts) -> bool:
    return (
        h is not None
        and h <= horizon_h(f)
        and (ts is None or ts <= f.now + f.horizon_years * 365.25 * DAY)
    )


def _years(f: Facts) -> str:
    y = f.horizon_years
    return f"{y:g} year" + ("" if y == 1 else "s")


def _fault(f: Facts) -> tuple[str, bool]:
    """(fault kind in words, whether the part is the remedy)."""
    if f.status == "degrading":
        return "bearing wear (vibration rising over the running hours)", True
    if f.impulsive:
        return "bearing damage likely (impulsive vibration)", True
    if f.zone in ("C", "D"):
        return (
            "high vibration without bearing signs: check balance, alignment and mounting first",
            False,
        )
    return "", False


def judge(f: Facts) -> Judgement:
    lead_days = DEFAULT_LEAD_DAYS if f.lead_time_days is None else f.lead_time_days
    lead_s = lead_days * DAY
    p10_in, p50_in, p90_in = (
        _within(f.p10_h, f.p10_ts, f),
        _within(f.p50_h, f.p50_ts, f),
        _within(f.p90_h, f.p90_ts, f),
    )
    beyond = f.p10_h is not None and not p10_in
    shown = (
        f.p10_ts if p10_in else None,
        f.p50_ts if p50_in else None,
        f.p90_ts if p90_in else None,
    )
    if beyond:
        life = f"beyond {_years(f)}"
    elif f.p10_h is None and f.status == "degrading":
        life = "no figure: vibration past the level taken as end of life"
    elif f.p10_h is None:
        life = "unknown"
    elif f.p10_ts is None:
        life = "no dates yet: the running hours per week are not known"
    else:
        life = "risk within the horizon"
    risk = shown[0]  # the P10 date when it is inside the horizon
    hours_shown = (p10_in, p50_in, p90_in)
    pace = f.zone_d
    if (
        f.zone == "C"
        and pace is not None
        and f.status != "degrading"
        and (f.p10_ts is None or f.p10_ts > pace.at_ts)
    ):
        # Rule 2b: the measured level reaches zone D before the forecast's risk date, so the
        # forecast's figures (a rated life, say) would contradict what the page measures.
        life = f"zone D comes first at the current pace, around {pace.day}"
        shown, hours_shown = (None, None, None), (False, False, False)
    fault, part_is_remedy = _fault(f)
    part = f.part_number or f.part_id
    needed = ((part, 1),) if part_is_remedy and part else ()
    # Without a part to fit, nothing waits for a delivery.
    earliest = f.now + (lead_s if needed else 0.0)
    slots = [w for w in f.windows if w.end > f.now]  # sorted by start (Facts.windows)

    def result(
        action: str,
        reason: str | None,
        need_by: float | None,
        window: Slot | None,
        text: str,
        dates: tuple[float | None, float | None, float | None] = shown,
        life_text: str = life,
        hours_shown: tuple[bool, bool, bool] = hours_shown,
    ) -> Judgement:
        order_by = None if need_by is None or not needed else need_by - lead_s
        return Judgement(
            action, reason, fault if action != NONE else "", need_by, order_by, window, text,
            needed if action in (PLAN, UNPLANNED, STOP_NOW) else (), *dates, beyond, life_text,
            hours_shown,
        )  # fmt: skip

    if f.zone == "D":
        text = "Stop now: vibration in zone D is severe enough to cause damage."
        if needed:
            text += f" Fit a new {part} ({lead_days:g} days lead time) before restarting."
        return result(
            STOP_NOW, BY_ZONE_D, f.now, None, text, (None, None, None),
            "zone D now: the wear forecast does not apply",
        )  # fmt: skip
    if f.zone == "C":
        fits = [w for w in slots if w.start >= earliest and (risk is None or w.start <= risk)]
        what = f"replace {part}" if needed else "remedial action"
        which = "the first planned stop the part can make" if needed else "the next planned stop"
        if fits and (pace is None or fits[0].start <= pace.at_ts):
            w = fits[0]
            text = f"Zone C: {what} at {which}."
            if pace is not None:
                text += f" {_cap(pace.words())}, after this stop."
            return result(PLAN, BY_ZONE_C, w.start, w, text)
        stop_by = earliest if risk is None else min(earliest, risk)
        if pace is not None and (fits or pace.at_ts < stop_by):
            # Zone D comes before the stop the plan would take (the first planned stop the
            # part can make, or the part's arrival): stop before zone D, and never after the
            # P10 risk date when there is one (rule 3).
            bound = stop_by if not fits else math.inf if risk is None else risk
            stop_by = min(pace.at_ts, bound)
            before = f"before {which}" if fits else "before the part can arrive"
            text = f"Zone C, and {pace.words()}, {before}: {what} in an unplanned stop before then."
            return result(UNPLANNED, BY_ZONE_C, stop_by, None, text + _late(f, stop_by, earliest))
        text = f"Zone C and no planned stop left in time: {what} in an unplanned stop."
        if pace is not None:
            text += f" {_cap(pace.words())}."
        return result(UNPLANNED, BY_ZONE_C, stop_by, None, text + _late(f, stop_by, earliest))
    # Zone A/B or no reading: the wear forecast decides.
    if risk is None:
        if beyond:
            return result(NONE, None, None, None, f"Nothing to plan: risk beyond {_years(f)}.")
        if f.p10_h is not None and f.p10_ts is None:
            return result(WATCH, None, None, None, "Watch: dates follow once usage is known.")
        if f.status == "history_does_not_fit":
            # No figure we can defend: the machine is outside what the fleet has seen.
            return result(
                WATCH, None, None, None,
                "Watch: the fleet's history does not cover this machine, so there is no"
                " remaining-life figure; the vibration zone and warnings still apply.",
            )  # fmt: skip
        if f.status == "degrading":
            # Worn past the assumed end-of-life level (predictor PAST_FAIL_LEVEL) yet below
            # zone C: no date to plan for, so watch the zone and the warnings.
            return result(
                WATCH, None, None, None,
                "Watch: vibration rising past the level taken as end of life, with no"
                " remaining-life figure; the zone decides: zone C plans the replacement, zone D"
                " stops the machine.",
            )  # fmt: skip
        return result(WATCH if f.status == "not_enough_data" else NONE, None, None, None,
                      "Nothing to plan yet.")  # fmt: skip
    if risk > _plan_horizon(slots, f.now):
        return result(
            NONE, None, None, None,
            "Nothing to book yet: the risk lies after the planned stops; a later one will be"
            " chosen.",
        )  # fmt: skip
    fits = [w for w in slots if earliest <= w.start < risk]
    if fits:
        w = fits[-1]  # the last stop before the risk uses the most of the part's life
        return result(
            PLAN, BY_FORECAST, w.start, w,
            f"Replace {part or 'the part'} at the last planned stop before the risk date.",
        )  # fmt: skip
    text = "No planned stop before the risk date: an unplanned stop is needed."
    return result(UNPLANNED, BY_FORECAST, risk, None, text + _late(f, risk, earliest))


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _late(f: Facts, stop_by: float, earliest: float) -> str:
    if earliest > stop_by:
        days = round((earliest - stop_by) / DAY)
        return (
            f" Order now: the part arrives {days} day{'' if days == 1 else 's'} after the"
            " stop-by date,"
            " so stop by then and fit it when it arrives."
        )
    return ""


def _plan_horizon(slots: Sequence[Slot], now: float) -> float:
    """End of the last planned stop plus the usual spacing between stops (4 weeks with one):
    up to then the planned stops are the ones to choose from."""
    starts = sorted(w.start for w in slots)
    if not starts:
        return now + NO_WINDOWS_LOOKAHEAD_S  # no stops registered: arrange one in time
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    spacing = max(gaps) if gaps else 28 * DAY
    return max(w.end for w in slots) + spacing


def status_text(
    status: str,
    running_h: float,
    need_h: float,
    source: str,
    missing_usage: bool,
    warning: str = "",
    method: str = "",
    fail_ratio: float = 5.0,
    onset_ratio: float = 1.6,
) -> str:
    """The forecast status in words a technician understands, with what is missing.

    `source` names the fallback life ("the part's rated life (L10 30,000 h)", "7 completed
    lives of this part in the fleet", or "" when there is none). `warning` is the part's
    standing bearing warning in words (its reason), `method` the forecast's evidence,
    `fail_ratio` the vibration over its quiet level taken as end of life (ModelParams.fail_level
    as a ratio), `onset_ratio` the one taken as the start of wear (ModelParams.onset)."""
    have = f"{running_h:.0f} of {need_h:.0f} running hours of readings since the part was fitted"
    if status == "not_enough_data":
        text = f"Not enough data yet: {have}, and no rated life or fleet history for this part"
    elif status == "prior_only":
        text = f"Too early to see a wear trend ({have}); remaining life from {source}"
    elif status == "healthy_no_trend":
        # What the forecast measured, not that the level is flat: a level can climb through
        # the zones (the pace says so) while staying under the wear onset of its own quiet
        # level, e.g. an unbalance that started high.
        text = (
            f"No bearing wear trend: vibration under {onset_ratio:g}x its own quiet level"
            " (taken as the start of wear)"
        )
        text += f"; remaining life from {source}" if source else ""
    elif status == "degrading" and method.startswith("warning_lead"):
        text = "Remaining life from how long warned parts of the fleet ran after their warning"
        text += f" and {source}" if source else ""
    elif status == "degrading" and method == PAST_FAIL_LEVEL:
        text = (
            f"Wear trend: vibration is past the level taken as end of life ({fail_ratio:g}x its"
            " quiet level) and no failed part in the fleet history has readings to say when it"
            " fails: no remaining-life figure"
        )
    elif status == "degrading" and method.startswith("trend_match"):
        # Level matching answers from the level, not from how long the part has held it: the
        # figure does not count down while the level holds (docs/FORECASTING.md says why).
        text = (
            "Wear trend: vibration above its quiet level; remaining life from how long failed"
            " parts of the fleet ran once their vibration reached this level"
        )
        text += f" and {source}" if source else ""
    elif status == "degrading" and method.startswith("trend_exp"):
        text = (
            "Wear trend: vibration rising; remaining life from extrapolating that rise to the"
            f" level taken as end of life ({fail_ratio:g}x its quiet level, an assumption: no"
            " failed part in the fleet history has readings)"
        )
        text += f" and {source}" if source else ""
    elif status == "degrading":
        text = "Wear trend: vibration rising; remaining life from that trend"
        text += f" and {source}" if source else ""
    elif status == "history_does_not_fit":
        text = (
            "The fleet's history does not cover this machine (older than every recorded life,"
            " vibration levels the fleet never had, another reading interval or machine type)"
        )
        text += (
            f"; remaining life from {source} only"
            if source
            else "; not enough evidence for a remaining-life figure"
        )
    else:
        text = status
    if missing_usage and status != "not_enough_data":
        text += ". No dates yet: the running hours per week are not known"
    if warning:
        text = f"Bearing warning: {warning}. {text}"
    return text + "."
