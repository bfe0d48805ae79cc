"""KPIs the service manager can defend (docs/SERVICE.md "KPIs"): pure computation over records.

Every figure comes with its definition (`DEFINITIONS`, shown on the page next to it) and the
count of events behind it; a figure with too few events is `None` with the reason in words
("not enough evidence: 2 judged warnings, 5 needed") instead of a number.

Inputs (`KpiInputs`) are plain records the caller reads from the store: the assets with their
site and customer, each asset's warning times (gateway/service_entry.WARNING_EVENTS), the
service log, the proposals with the times of their steps, each asset's hourly running hours and
its open risk (the outlook's action no open proposal covers). Periods are calendar months in
UTC by default (`months`), [start, end) in unix seconds.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.forecast.early_warning import finding_is_defect, finding_is_false
from gateway.service_entry import MAX_DOWNTIME_AVOIDED_H, day_end
from gateway.store.api import ServiceEntry

DAY = 86400.0
# The fewest events a figure needs before it is shown (below it: "not enough evidence").
MIN_JUDGED = 5  # warnings judged (confirmed or found false) for a precision
MIN_LEAD_TIMES = 3  # warnings acted on for a median lead time
MIN_ANSWERED = 3  # proposals answered (accepted, declined or expired) for an acceptance rate
MIN_FAILURES = 2  # failures for an MTBF

DEFINITIONS: dict[str, str] = {
    "warnings": "Warnings raised: machines Kizashi warned about in the period, one per warning"
    " episode (the first warning event of a part's life, or the first after an inspection found"
    " the previous warning false; repeated alarms of one episode count once).",
    "precision": "Confirmed at inspection (precision): of the warnings raised in the period that"
    " have been judged, the share confirmed (an inspection finding 'defect...', or the part"
    " replaced or failed); a warning is found false by an inspection or replacement finding"
    f" 'no defect...'. Shown from {MIN_JUDGED} judged warnings; the warnings not yet judged are"
    " counted beside it.",
    "missed": "Missed failures: failures in the service log with no Kizashi warning standing"
    " in that part's life before the end of the failure's day.",
    "lead_time": "Median lead time from warning to action: from a warning's first event to the"
    " first thing done about it (a proposal sent, or a service entry dated on or after the"
    " warning's day; a same-day entry counts as 0 days). Over the warnings raised in the period"
    f" that were acted on; shown from {MIN_LEAD_TIMES}.",
    "proposals": "Proposals sent / accepted in the period (by the date of the step);"
    " acceptance rate: of the proposals sent in the period that have been answered, the share"
    f" accepted (declined and expired ones count against it). Shown from {MIN_ANSWERED}"
    " answered.",
    "revenue": "Revenue from proactive work: the price (total of the parts and labour lines) of"
    " proposals marked done in the period. Reactive repairs: the sum of what the failures dated"
    " in the period were invoiced (the service entry's repair cost, in the customer's currency)."
    " A failure without its repair cost is left out and counted beside the sum; 'not recorded'"
    " when no failure in the period has one.",
    "downtime": "Downtime avoided: the ledger's entries dated in the period (service entries"
    " acting on a warning), each bounded by the hours from the asset's first warning to the end"
    f" of the repair day (at most {MAX_DOWNTIME_AVOIDED_H:g} h); an entry claiming more than its"
    " bound is left out and listed for review until an admin corrects it, as on the ledger page."
    " Each entry names its proposal when it came from one (a proposal done that day on that"
    " machine). Booked: accepted proposals not done yet, their claimed hours bounded the same way"
    " up to their planned stop; not counted until done.",
    "availability": "Availability: 1 - (unplanned stop hours of the failures dated in the"
    " period, from each failure's service entry) / (hours in the period x the customer's"
    " machines). A failure without its stop hours is left out and counted beside the figure"
    " (the figure is then an upper bound); 'not enough evidence' when failures exist and none"
    " recorded its stop hours. No failure in the period: 100 %.",
    "mtbf": "MTBF: running hours of the customer's machines in the period (hourly share of"
    f" reports flagged running) divided by their failures in it; shown from {MIN_FAILURES}"
    " failures.",
    "service_revenue": "Service revenue by month: the price of proposals done in each month.",
    "open_risk": "Open risk: machines whose current outlook asks for work (plan, unplanned"
    " stop, stop now) that no sent or accepted proposal covers, with the earliest risk date"
    " (P10).",
}


# ---- inputs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class AssetInfo:
    asset_id: str
    site: str
    customer: str = ""
    name: str = ""


@dataclass(frozen=True)
class ProposalRecord:
    """A proposal and when its steps happened (None: not taken)."""

    proposal_id: str
    asset_id: str
    customer: str
    state: str
    sent_at: float | None = None
    accepted_at: float | None = None
    declined_at: float | None = None
    expired_at: float | None = None
    done_at: float | None = None
    total: float | None = None
    currency: str = ""
    downtime_h: float = 0.0  # the hours it claims to avoid
    window_start: float | None = None


@dataclass(frozen=True)
class OpenRisk:
    asset_id: str
    action: str
    risk_ts: float | None


@dataclass
class KpiInputs:
    assets: Sequence[AssetInfo]
    warnings: Mapping[str, Sequence[float]]
    service: Sequence[ServiceEntry]
    proposals: Sequence[ProposalRecord] = ()
    running_h: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # asset->month->h
    open_risk: Sequence[OpenRisk] = ()
    tz: Mapping[str, str] = field(default_factory=dict)  # site -> zone (the repair day's end)
    currency: Mapping[str, str] = field(default_factory=dict)  # customer -> its terms' currency


@dataclass(frozen=True)
class Period:
    label: str  # "2026-11"
    start: float
    end: float

    def holds(self, ts: float | None) -> bool:
        return ts is not None and self.start <= ts < self.end


def month_of(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m")


def month(label: str) -> Period:
    """The calendar month "YYYY-MM" (UTC); ValueError for another shape."""
    try:
        y, m = (int(x) for x in label.split("-"))
        start = dt.datetime(y, m, 1, tzinfo=dt.UTC)
    except ValueError:
        raise ValueError(f"a period is a month YYYY-MM, got {label!r}") from None
    days = calendar.monthrange(y, m)[1]
    return Period(f"{y:04d}-{m:02d}", start.timestamp(), start.timestamp() + days * DAY)


def months(end_ts: float, count: int) -> list[Period]:
    """The `count` calendar months up to and including the one holding `end_ts`, oldest first."""
    d = dt.datetime.fromtimestamp(end_ts, dt.UTC)
    y, m = d.year, d.month
    out = []
    for _ in range(count):
        out.append(month(f"{y:04d}-{m:02d}"))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


def day_ts(date: str) -> float:
    d = dt.date.fromisoformat(date)
    return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp()


# ---- warning episodes -----------------------------------------------------------------------
@dataclass(frozen=True)
class Episode:
    """One warning about one part's life, how it was judged and when something was done."""

    asset_id: str
    ts: float
    verdict: str | None  # "confirmed", "false" or None (not judged yet)
    acted_at: float | None


def _verdict(e: ServiceEntry) -> str | None:
    if e.kind == "failure":
        return "confirmed"
    if e.kind == "replacement":
        return "false" if finding_is_false(e.finding) else "confirmed"
    if e.kind == "inspection" and finding_is_defect(e.finding):
        return "confirmed"
    if e.kind == "inspection" and finding_is_false(e.finding):
        return "false"
    return None


def episodes(
    asset_id: str,
    warnings: Iterable[float],
    entries: Sequence[ServiceEntry],
    sent: Sequence[float] = (),
) -> list[Episode]:
    """The warning episodes of one asset. A warning opens an episode; it closes at a
    replacement or failure dated on or after the warning's day, or at an inspection that finds
    it false (a later warning opens the next). The first verdict of its entries judges it; its
    action is the first proposal sent or entry dated from its day on."""
    entries = sorted(entries, key=lambda e: (e.date, e.entry_id or 0))
    out: list[Episode] = []
    times = sorted(warnings)
    i = 0
    while i < len(times):
        ts = times[i]
        day0 = ts // DAY * DAY
        verdict, acted, closed_at = None, None, math.inf
        for e in entries:
            d = day_ts(e.date)
            if d < day0:
                continue
            acted = max(ts, d) if acted is None else acted
            v = _verdict(e)
            verdict = verdict or v
            if e.kind in ("replacement", "failure") or v == "false":
                closed_at = d + DAY
                break
        for s in sorted(sent):
            if ts <= s < closed_at:
                acted = s if acted is None else min(acted, s)
                break
        out.append(Episode(asset_id, ts, verdict, acted))
        while i < len(times) and times[i] < closed_at:
            i += 1
    return out


def missed_failures(
    asset_id: str, warnings: Sequence[float], entries: Sequence[ServiceEntry]
) -> list[ServiceEntry]:
    """Failures with no warning standing in that part's life before the failure day ended."""
    eps = episodes(asset_id, warnings, entries)
    entries = sorted(entries, key=lambda e: (e.date, e.entry_id or 0))
    out = []
    life_start = -math.inf
    for e in entries:
        d = day_ts(e.date)
        if e.kind == "failure":
            standing = [
                ep
                for ep in eps
                if life_start <= ep.ts < d + DAY and not _found_false_before(ep, entries, d)
            ]
            if not standing:
                out.append(e)
        if e.kind in ("replacement", "failure"):
            life_start = d + DAY
    return out


def _found_false_before(ep: Episode, entries: Sequence[ServiceEntry], failure_day: float) -> bool:
    return any(
        ep.ts // DAY * DAY <= day_ts(e.date) < failure_day
        and e.kind == "inspection"
        and finding_is_false(e.finding)
        for e in entries
    )


# ---- the figures ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Figure:
    """A KPI value, or None with `why` (not enough evidence, not recorded); `n` events."""

    value: float | None
    n: int
    why: str = ""
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "n": self.n, "why": self.why, "text": self.text}


def _few(n: int, need: int, what: str) -> str:
    return f"not enough evidence: {n} {what}, {need} needed"


@dataclass
class LedgerLine:
    entry_id: int | None
    asset_id: str
    date: str
    claimed_h: float
    bound_h: float
    counted_h: float
    proposal_id: str
    over_bound: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def ledger_lines(inp: KpiInputs, period: Period, asset_ids: set[str]) -> list[LedgerLine]:
    """The ledger's entries dated in the period, each checked against its bound (one above it
    counts nothing until corrected, as the ledger page's total) and traced to its proposal."""
    done_on: dict[tuple[str, str], str] = {}
    for p in inp.proposals:
        if p.done_at is not None:
            done_on[
                (p.asset_id, dt.datetime.fromtimestamp(p.done_at, dt.UTC).date().isoformat())
            ] = p.proposal_id
    by_asset = _entries_by_asset(inp.service)
    site_of = {a.asset_id: a.site for a in inp.assets}
    out = []
    for e in inp.service:
        if not e.acted_on_warning or e.asset_id not in asset_ids:
            continue
        d = day_ts(e.date)
        if not period.holds(d):
            continue
        end = day_end(e.date, inp.tz.get(site_of.get(e.asset_id, ""), "UTC"))  # as the ledger
        life = _life_start(by_asset.get(e.asset_id, []), e.date)
        warned = [t for t in inp.warnings.get(e.asset_id, ()) if life <= t < end]
        bound = 0.0 if not warned else min(MAX_DOWNTIME_AVOIDED_H, (end - min(warned)) / 3600)
        claimed = float(e.downtime_avoided_h)
        pid = done_on.get((e.asset_id, e.date), "")
        if not pid and "P-" in e.finding:
            pid = "P-" + e.finding.split("P-", 1)[1].split()[0].rstrip(".,;")
        out.append(
            LedgerLine(
                e.entry_id, e.asset_id, e.date, claimed, round(bound, 1),
                claimed if claimed <= bound + 1e-9 else 0.0, pid, claimed > bound + 1e-9,
            )
        )  # fmt: skip
    return out


def _entries_by_asset(entries: Iterable[ServiceEntry]) -> dict[str, list[ServiceEntry]]:
    out: dict[str, list[ServiceEntry]] = {}
    for e in entries:
        out.setdefault(e.asset_id, []).append(e)
    return out


def _life_start(entries: Sequence[ServiceEntry], before: str) -> float:
    ends = [day_ts(e.date) + DAY for e in entries if e.kind in ("replacement", "failure")]
    ends = [t for t in ends if t <= day_ts(before)]
    return max(ends, default=-math.inf)


def _money(amounts: Mapping[str, float]) -> str:
    if not amounts:
        return "0"
    return ", ".join(f"{v:,.2f} {c}".strip() for c, v in sorted(amounts.items()))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def reactive_revenue(
    failures: Sequence[ServiceEntry], currency_of: Mapping[str, str]
) -> dict[str, Any]:
    """What the failures were invoiced, by currency (`currency_of`: asset -> its customer's
    currency); the failures without a repair cost are counted, not guessed."""
    costed = [e for e in failures if e.repair_cost is not None]
    lacking = len(failures) - len(costed)
    amounts: dict[str, float] = {}
    for e in costed:
        cur = currency_of.get(e.asset_id, "")
        amounts[cur] = amounts.get(cur, 0.0) + float(e.repair_cost or 0.0)
    if failures and not costed:
        why = f"not recorded: {_plural(lacking, 'failure')} without a repair cost"
        return {"value": None, "n": len(failures), "why": why, "text": "", "amounts": {},
                "lacking": lacking}  # fmt: skip
    why = f"{lacking} of {_plural(len(failures), 'failure')} without a repair cost, left out"
    return {"value": _money(amounts), "n": len(failures), "why": why if lacking else "",
            "text": f"{_plural(len(costed), 'failure')} costed", "amounts": amounts,
            "lacking": lacking}  # fmt: skip


def availability(failures: Sequence[ServiceEntry], period: Period, machines: int) -> Figure:
    """1 - unplanned stop hours / (period hours x machines), from the failures that recorded
    their stop hours; None with the reason when none did (or there are no machines)."""
    if machines == 0:
        return Figure(None, 0, "no machines")
    timed = [float(e.stop_h) for e in failures if e.stop_h is not None]
    lacking = len(failures) - len(timed)
    if failures and not timed:
        return Figure(
            None, len(failures),
            f"not enough evidence: none of the {_plural(len(failures), 'failure')} in the"
            " period recorded its stop hours",
        )  # fmt: skip
    capacity = (period.end - period.start) / 3600.0 * machines
    stopped = sum(timed)
    value = max(0.0, 1.0 - stopped / capacity)
    text = f"{stopped:,.1f} h stopped in {capacity:,.0f} machine h"
    why = (
        f"{lacking} of {_plural(len(failures), 'failure')} without stop hours, left out"
        " (an upper bound)"
        if lacking
        else ""
    )
    return Figure(round(value, 5), len(failures), why, text)


def period_kpis(inp: KpiInputs, period: Period, customer: str | None = None) -> dict[str, Any]:
    """The service KPIs of one period, for one customer (None: every asset given)."""
    assets = [a for a in inp.assets if customer is None or a.customer == customer]
    ids = {a.asset_id for a in assets}
    entries = _entries_by_asset(e for e in inp.service if e.asset_id in ids)
    props = [p for p in inp.proposals if p.asset_id in ids]
    sent_by_asset: dict[str, list[float]] = {}
    for p in props:
        if p.sent_at is not None:
            sent_by_asset.setdefault(p.asset_id, []).append(p.sent_at)
    eps = [
        ep
        for aid in sorted(ids)
        for ep in episodes(aid, inp.warnings.get(aid, ()), entries.get(aid, []),
                           sent_by_asset.get(aid, []))
        if period.holds(ep.ts)
    ]  # fmt: skip
    confirmed = sum(ep.verdict == "confirmed" for ep in eps)
    false = sum(ep.verdict == "false" for ep in eps)
    judged = confirmed + false
    precision = (
        Figure(confirmed / judged, judged, text=f"{confirmed} of {judged} judged")
        if judged >= MIN_JUDGED
        else Figure(None, judged, _few(judged, MIN_JUDGED, "judged warnings"))
    )
    leads = [(ep.acted_at - ep.ts) / DAY for ep in eps if ep.acted_at is not None]
    lead = (
        Figure(round(statistics.median(leads), 1), len(leads), text="days")
        if len(leads) >= MIN_LEAD_TIMES
        else Figure(None, len(leads), _few(len(leads), MIN_LEAD_TIMES, "warnings acted on"))
    )
    missed = [
        e
        for aid in sorted(ids)
        for e in missed_failures(aid, inp.warnings.get(aid, ()), entries.get(aid, []))
        if period.holds(day_ts(e.date))
    ]
    failures = [
        e for aid in ids for e in entries.get(aid, []) if e.kind == "failure"
        and period.holds(day_ts(e.date))
    ]  # fmt: skip
    sent = [p for p in props if period.holds(p.sent_at)]
    accepted = [p for p in props if period.holds(p.accepted_at)]
    answered = [
        p for p in sent if p.accepted_at or p.declined_at or p.expired_at
    ]  # fmt: skip
    won = sum(p.accepted_at is not None for p in answered)
    rate = (
        Figure(won / len(answered), len(answered), text=f"{won} of {len(answered)} answered")
        if len(answered) >= MIN_ANSWERED
        else Figure(None, len(answered), _few(len(answered), MIN_ANSWERED, "answered proposals"))
    )
    revenue: dict[str, float] = {}
    for p in props:
        if period.holds(p.done_at) and p.total is not None:
            revenue[p.currency] = revenue.get(p.currency, 0.0) + p.total
    lines = ledger_lines(inp, period, ids)
    booked: list[dict[str, Any]] = []
    for p in props:
        if p.state == "accepted" and p.window_start is not None and period.holds(p.accepted_at):
            ws = [t for t in inp.warnings.get(p.asset_id, ()) if t < p.window_start]
            bound = min(MAX_DOWNTIME_AVOIDED_H, (p.window_start - min(ws)) / 3600) if ws else 0.0
            booked.append({"proposal_id": p.proposal_id, "asset_id": p.asset_id,
                           "claimed_h": p.downtime_h, "bound_h": round(bound, 1),
                           "counted_h": round(min(p.downtime_h, bound), 1)})  # fmt: skip
    return {
        "period": period.label,
        "customer": customer,
        "assets": len(ids),
        "warnings": Figure(len(eps), len(eps)).to_dict(),
        "confirmed": confirmed,
        "found_false": false,
        "not_judged": len(eps) - judged,
        "precision": precision.to_dict(),
        "missed_failures": Figure(len(missed), len(missed)).to_dict(),
        "missed": [{"asset_id": e.asset_id, "date": e.date} for e in missed],
        "failures": len(failures),
        "lead_time_days": lead.to_dict(),
        "proposals_sent": len(sent),
        "proposals_accepted": len(accepted),
        "acceptance_rate": rate.to_dict(),
        "revenue_proactive": {"amounts": revenue, "text": _money(revenue)},
        "revenue_reactive": reactive_revenue(failures, _currency_of(inp)),
        "downtime_avoided_h": round(sum(x.counted_h for x in lines), 1),
        "downtime_entries": [x.to_dict() for x in lines],
        "downtime_over_bound": sum(x.over_bound for x in lines),
        "downtime_booked_h": round(sum(float(b["counted_h"]) for b in booked), 1),
        "downtime_booked": booked,
    }


def _currency_of(inp: KpiInputs) -> dict[str, str]:
    return {a.asset_id: inp.currency.get(a.customer, "") for a in inp.assets}


def customer_kpis(inp: KpiInputs, periods: Sequence[Period], customer: str) -> dict[str, Any]:
    """Per customer: availability, MTBF, service revenue by month, open risk."""
    ids = {a.asset_id for a in inp.assets if a.customer == customer}
    last = periods[-1]
    running = sum(inp.running_h.get(aid, {}).get(last.label, 0.0) for aid in ids)
    failed = [
        e for e in inp.service if e.asset_id in ids and e.kind == "failure"
        and last.holds(day_ts(e.date))
    ]  # fmt: skip
    failures = len(failed)
    mtbf = (
        Figure(round(running / failures, 1), failures, text="running h per failure")
        if failures >= MIN_FAILURES
        else Figure(
            None, failures,
            _few(failures, MIN_FAILURES, f"failures in {running:,.0f} running h"),
        )
    )  # fmt: skip
    by_month: list[dict[str, Any]] = []
    for per in periods:
        amounts: dict[str, float] = {}
        for p in inp.proposals:
            if p.asset_id in ids and per.holds(p.done_at) and p.total is not None:
                amounts[p.currency] = amounts.get(p.currency, 0.0) + p.total
        by_month.append({"period": per.label, "amounts": amounts, "text": _money(amounts)})
    risks = sorted(
        (r for r in inp.open_risk if r.asset_id in ids),
        key=lambda r: math.inf if r.risk_ts is None else r.risk_ts,
    )
    return {
        "customer": customer,
        "assets": len(ids),
        "availability": availability(failed, last, len(ids)).to_dict(),
        "mtbf_h": mtbf.to_dict(),
        "running_h": round(running, 1),
        "service_revenue": by_month,
        "open_risk": [
            {"asset_id": r.asset_id, "action": r.action, "risk_ts": r.risk_ts} for r in risks
        ],
    }


def report(inp: KpiInputs, periods: Sequence[Period]) -> dict[str, Any]:
    """All figures: per period for the whole fleet given, per customer for the last period."""
    customers = sorted({a.customer for a in inp.assets})
    return {
        "periods": [p.label for p in periods],
        "fleet": [period_kpis(inp, p) for p in periods],
        "customers": [
            {**customer_kpis(inp, periods, c), "kpis": period_kpis(inp, periods[-1], c)}
            for c in customers
        ],
        "definitions": DEFINITIONS,
        "thresholds": {
            "judged": MIN_JUDGED,
            "lead_times": MIN_LEAD_TIMES,
            "answered": MIN_ANSWERED,
            "failures": MIN_FAILURES,
        },
    }
