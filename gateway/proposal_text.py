"""A proposal's content, written from the data: pure functions, no IO (gateway/proposals.py
gathers the inputs and stores the result; docs/SERVICE.md "Proposals").

Every sentence comes from the stored outlook of the asset (its action, reason, zone, wear
forecast dates and planned stop), the asset's registry entry, the price list and the
customer's terms. Dates are the site's calendar days. A figure the data cannot support is not
written: a missing date reads "not enough evidence", a line the price list lacks is left
unpriced and the total says it is incomplete.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.sitetime import local
from gateway.store.api import Asset, CatalogPart, CustomerTerms, MaintenanceWindow, Outlook

DAY = 86400.0
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve")  # fmt: skip
NO_DECIMALS = ("JPY", "KRW", "HUF", "ISK", "CLP", "VND")
ZONE_WORDS = {
    "C": "zone C: unsatisfactory for long-term running",
    "D": "zone D: severe enough to cause damage",
}


@dataclass(frozen=True)
class Inputs:
    """Everything a proposal is written from."""

    outlook: Outlook
    asset: Asset
    tz: str
    now: float
    customer: str = ""
    window: MaintenanceWindow | None = None
    catalog: Mapping[str, CatalogPart | None] | None = None  # part number -> entry (None: absent)
    free_stock: Mapping[str, int] | None = None  # part number -> free pieces on the shelves
    terms: CustomerTerms | None = None
    chart: Mapping[str, Any] | None = None  # {"t": [...], "v": [...], "zones": [...]}


def count(n: int) -> str:
    return WORDS[n] if 0 <= n < len(WORDS) else str(n)


def duration(seconds: float) -> str:
    """'about three weeks': how far ahead, in the unit a person would use."""
    d = max(0.0, seconds) / DAY
    if d < 1.5:
        return "about a day" if d >= 0.5 else "less than a day"
    if d < 12.5:
        return f"about {count(round(d))} days"
    if d < 8 * 7:
        w = round(d / 7)
        return f"about {count(w)} week" + ("s" if w != 1 else "")
    if d < 700:
        m = round(d / 30.44)
        return f"about {count(m)} month" + ("s" if m != 1 else "")
    y = round(d / 365.25)
    return f"about {count(y)} years"


def day(ts: float, tz: str) -> str:
    """'Wednesday 9 December 2026' on the site's calendar."""
    d = local(ts, tz)
    return f"{d.strftime('%A')} {d.day} {d.strftime('%B %Y')}"


def money(amount: float | None, currency: str) -> str:
    if amount is None:
        return "not priced"
    if currency in NO_DECIMALS:
        return f"{currency} {amount:,.0f}"
    return f"{currency} {amount:,.2f}"


def _part(inp: Inputs) -> tuple[str, str]:
    """(the part in words, its part number) of the outlook's part."""
    o, a = inp.outlook, inp.asset
    p = next((p for p in a.parts if p.part_id == o.part_id), a.parts[0] if a.parts else None)
    name = p.name if p is not None and p.name else (o.part_id or "part")
    if len(name) > 1 and name[0].isupper() and name[1].islower():
        name = name[0].lower() + name[1:]  # inside a sentence ("the drive-end bearing")
    return name, o.part_number or (p.part_number if p is not None else "")


def machine_name(a: Asset) -> str:
    return a.description or a.machine or a.asset_id


def risk(inp: Inputs) -> dict[str, Any]:
    """The risk dates (P10/P50/P90 of the outlook) in words; 'not enough evidence' when the
    outlook has none, never a date it does not hold."""
    o, tz, now = inp.outlook, inp.tz, inp.now
    out: dict[str, Any] = {"p10_ts": o.p10_ts, "p50_ts": o.p50_ts, "p90_ts": o.p90_ts}
    if o.zone == "D":
        out["text"] = "Zone D now: the wear forecast does not apply; the machine should stop."
        out["evidence"] = False
        return out
    if o.p10_ts is None:
        why = o.life_text or "no forecast yet"
        out["text"] = f"Not enough evidence for a risk date ({why})."
        out["evidence"] = False
        return out
    parts = [
        f"Risk date (P10) {day(o.p10_ts, tz)}: a 1 in 10 chance the part fails before then"
        + (" (already passed)" if o.p10_ts <= now else f", {duration(o.p10_ts - now)} from now")
    ]
    if o.p50_ts is not None:
        parts.append(f"most likely (P50) around {day(o.p50_ts, tz)}")
    if o.p90_ts is not None:
        parts.append(f"9 in 10 by {day(o.p90_ts, tz)} (P90)")
    else:
        parts.append("the later estimates lie beyond the planning horizon")
    out["text"] = "; ".join(parts) + "."
    out["evidence"] = True
    return out


def question(inp: Inputs) -> str:
    """The customer-facing sentences: what is measured or happens at the current pace, and
    what we ask (the outlook's stop in the site's calendar)."""
    o, a, tz, now = inp.outlook, inp.asset, inp.tz, inp.now
    part, _ = _part(inp)
    machine = machine_name(a)
    said: list[str] = []
    if o.zone in ZONE_WORDS:
        level = "" if o.level_mm_s is None else f" ({o.level_mm_s:.1f} mm/s)"
        said.append(f"The vibration of {machine} is in {ZONE_WORDS[o.zone]}{level}.")
    life = ""
    if o.zone != "D":  # zone D: the wear forecast does not apply
        thing = f"its {part}" if said else f"the {part} of {machine}"
        if o.p50_ts is not None and o.p50_ts > now:
            life = (
                f"At the current pace, {thing} reaches the end of its life in"
                f" {duration(o.p50_ts - now)}."
            )
        elif o.p10_ts is not None and o.p10_ts > now:
            life = (
                f"At the current pace, {thing} may reach the end of its life in"
                f" {duration(o.p10_ts - now)} (1 in 10 chance; a most likely date is not yet"
                " known)."
            )
        elif o.p10_ts is not None:
            life = f"At the current pace, {thing} is past its risk date ({day(o.p10_ts, tz)})."
        elif not said:
            life = f"Not enough evidence yet for a date when {thing} reaches the end of its life."
    if life:
        said.append(life)
    # "it" is the part when the last sentence was about the part, else the part is named.
    if not o.parts_needed:
        it = (
            f"check the balance, alignment and mounting of {machine}"
            if o.fault.startswith("high vibration")
            else f"inspect {machine} and correct the cause"
        )
    else:
        it = "replace it" if life else f"replace its {part}"
    w = inp.window
    if o.action == "stop_now":
        ask = f"Shall we stop {machine} now and {it.replace('its ', 'the ')}?"
    elif w is not None:
        what = f" ({w.note})" if w.note else ""
        ask = f"Shall we {it} at the planned stop{what} on {day(w.start, tz)}?"
    elif o.need_by_ts is not None:
        ask = f"Shall we arrange a stop to {it} by {day(max(now, o.need_by_ts), tz)}?"
    else:
        ask = f"Shall we arrange a stop to {it}?"
    return " ".join([*said, ask])


def evidence(inp: Inputs) -> list[str]:
    """Why, in words: the measured zone and trend, the forecast's basis, the suspected fault."""
    o = inp.outlook
    out = []
    if o.level_mm_s is not None and o.zone is not None:
        out.append(
            f"Vibration while running: {o.level_mm_s:.2f} mm/s (median of {o.level_n} recent"
            f" readings), zone {o.zone}."
        )
    if o.trend in ("rising", "falling") and o.trend_pct_week is not None:
        out.append(f"Trend: {o.trend}, {o.trend_pct_week:+.1f} % per week.")
    if o.status_text:
        out.append(o.status_text)
    if o.fault:
        out.append(f"Suspected: {o.fault}.")
    if o.hours_per_week is not None:
        out.append(f"The machine runs about {o.hours_per_week:.0f} h per week.")
    if o.action_text:
        out.append(f"Recommendation: {o.action_text}")
    return out


def lines(inp: Inputs) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Parts and labour lines priced from the price list (labour at the customer's rate), and
    the totals; a line without a price stays unpriced and makes the total incomplete."""
    o, terms = inp.outlook, inp.terms
    catalog = inp.catalog or {}
    currency = terms.currency if terms is not None else None
    out: list[dict[str, Any]] = []
    labour_h = 0.0
    missing: list[str] = []
    currencies: set[str] = set()
    for pn, qty in o.parts_needed:
        c = catalog.get(pn)
        line: dict[str, Any] = {"kind": "part", "part_number": pn, "qty": qty,
                                "description": c.description if c else "",
                                "unit_price": None, "amount": None,
                                "currency": c.currency if c else currency}  # fmt: skip
        if c is None:
            line["note"] = "not in the price list"
            missing.append(f"{pn} is not in the price list")
        else:
            line["unit_price"] = c.unit_price
            line["amount"] = round(c.unit_price * qty, 2)
            currencies.add(c.currency)
            labour_h += c.labour_h * qty
        out.append(line)
    if o.parts_needed:
        lab: dict[str, Any] = {"kind": "labour", "hours": round(labour_h, 2),
                               "rate": None, "amount": None, "currency": currency}  # fmt: skip
        if terms is None:
            lab["note"] = "no labour rate: the customer's terms are not set"
            missing.append("the customer's labour rate is not set")
        else:
            lab["rate"] = terms.labour_rate
            lab["amount"] = round(labour_h * terms.labour_rate, 2)
            currencies.add(terms.currency)
        out.append(lab)
    if len(currencies) > 1:
        missing.append("prices are in several currencies (" + ", ".join(sorted(currencies)) + ")")
    amounts = [ln["amount"] for ln in out]
    total = None if missing or not out else round(sum(float(a) for a in amounts), 2)
    cur = next(iter(currencies)) if len(currencies) == 1 else currency
    return out, {"total": total, "currency": cur, "labour_h": round(labour_h, 2),
                 "incomplete": missing}  # fmt: skip


def downtime(inp: Inputs, labour_h: float) -> dict[str, Any]:
    """The unplanned downtime a planned job avoids, and what it costs the customer.

    If the part failed in service instead, the machine would stand for the repair (the
    labour hours) plus, for each part not free on a shelf, the supplier's lead time counted in
    the machine's own running hours (hours per week / 7 a day). Only a job in a planned stop
    avoids that; an unplanned or immediate stop does not."""
    o, terms = inp.outlook, inp.terms
    out: dict[str, Any] = {"hours": None, "cost_h": None, "amount": None, "currency": None}
    if o.action != "plan" or inp.window is None:
        out["text"] = (
            "This work needs a stop outside the planned ones: it avoids no downtime, it limits"
            " the damage."
        )
        return out
    if not o.parts_needed:
        out["text"] = "No part to fit: not enough evidence for the downtime this avoids."
        return out
    hours = labour_h
    why = [f"{labour_h:g} h of repair"]
    free = inp.free_stock or {}
    catalog = inp.catalog or {}
    for pn, qty in o.parts_needed:
        if free.get(pn, 0) >= qty:
            continue
        c = catalog.get(pn)
        lead = c.lead_time_days if c is not None else o.lead_time_days
        if lead is None:
            out["text"] = f"Not enough evidence: the lead time of {pn} is not known."
            return out
        if o.hours_per_week is None:
            out["text"] = (
                f"Not enough evidence: {pn} is not in stock and the machine's running hours"
                " per week are not known yet, so the wait for it cannot be counted."
            )
            return out
        wait = lead * o.hours_per_week / 7.0
        hours += wait
        why.append(f"{wait:.0f} running hours waiting {lead:g} days for {pn} (not in stock)")
    out["hours"] = round(hours, 1)
    if terms is None:
        out["text"] = (
            f"An unplanned failure would stop the machine for about {hours:.0f} h"
            f" ({'; '.join(why)}); not priced: the customer's cost of downtime is not set."
        )
        return out
    out["cost_h"] = terms.downtime_cost_h
    out["currency"] = terms.currency
    out["amount"] = round(hours * terms.downtime_cost_h, 2)
    out["text"] = (
        f"An unplanned failure would stop the machine for about {hours:.0f} h"
        f" ({'; '.join(why)}): about {money(rounded(out['amount']), terms.currency)} at"
        f" {money(terms.downtime_cost_h, terms.currency)} per hour of downtime."
    )
    return out


def rounded(amount: float) -> float:
    """An estimate to three significant figures: the text never claims more precision than
    hours x rate carries (the exact product stays in the numbers)."""
    if amount <= 0 or not math.isfinite(amount):
        return amount
    return round(amount, 2 - math.floor(math.log10(amount)))


def content(inp: Inputs) -> dict[str, Any]:
    """The whole proposal as stored (JSON): frozen from the moment it is sent."""
    o, a, tz = inp.outlook, inp.asset, inp.tz
    part, pn = _part(inp)
    ls, totals = lines(inp)
    w = inp.window
    title_verb = "Replace" if o.parts_needed else "Inspect"
    return {
        "title": f"{title_verb} the {part} of {machine_name(a)}",
        "asset": {"id": a.asset_id, "name": machine_name(a), "machine": a.machine,
                  "site": a.site, "part_id": o.part_id, "part": part, "part_number": pn},
        "customer": inp.customer,
        "tz": tz,
        "question": question(inp),
        "evidence": evidence(inp),
        "risk": risk(inp),
        "action": o.action,
        "reason": o.reason,
        "window": None if w is None else {"window_id": w.window_id, "start": w.start,
                                          "end": w.end, "note": w.note,
                                          "text": day(w.start, tz)},
        "stop_by": o.need_by_ts,
        "order_by": o.order_by_ts,
        "lines": ls,
        "totals": totals,
        "downtime": downtime(inp, float(totals["labour_h"])),
        "chart": dict(inp.chart) if inp.chart else None,
        "outlook_at": o.computed_at,
    }  # fmt: skip


def chart_points(
    t: Sequence[float], v: Sequence[float], limits: tuple[float, float, float], n: int = 150
) -> dict[str, Any]:
    """The vibration history as at most `n` points (the highest of each bucket: a peak is
    never averaged away) and the zone limits: the chart a sent proposal keeps."""
    if not t:
        return {"t": [], "v": [], "zones": list(limits)}
    step = max(1, math.ceil(len(t) / n))
    ts, vs = [], []
    for i in range(0, len(t), step):
        chunk = v[i : i + step]
        k = max(range(len(chunk)), key=chunk.__getitem__)
        ts.append(float(t[i + k]))
        vs.append(round(float(chunk[k]), 3))
    return {"t": ts, "v": vs, "zones": list(limits)}
