"""One set of rules for a service-log entry, shared by `kizashi service add` and the fleet page.

A replacement resets a part's wear and becomes a completed life for the fleet prior, so an entry
that names the wrong part, or a date that has not happened yet, corrupts forecasts silently.
These checks turn such entries into clear errors before anything is stored.
"""

from __future__ import annotations

import datetime as dt
import math

from gateway.domain import LIFE_ENDING_KINDS, SERVICE_KINDS
from gateway.sitetime import zone
from gateway.store.api import Asset, ServiceEntry, Store

# Kinds that end a part's life: they must say which part when the asset has several.

# The downtime-avoided ledger is the product's headline figure, so its inputs are bounded:
# hours avoided can be no more than the time from Kizashi's warning to the repair (the stop
# could not have lasted longer than the warning was early), and never more than 90 days, a
# generous unplanned stop (a part with a 12-week lead time, then the repair). Entries beyond
# either bound are refused; an admin corrects old ones on the ledger page.
MAX_DOWNTIME_AVOIDED_H = 90 * 24.0
# The longest stop one service entry may record: 90 days, as the ledger's bound (a part with a
# 12-week lead time, then the repair); more is a typo (minutes for hours) rather than a stop.
MAX_STOP_H = 90 * 24.0
# Events that are a Kizashi warning about an asset: the gateway's vibration alarms and
# baseline change, and the node's own vibration alarm.
WARNING_EVENT_CODES = ("alarm_alert", "alarm_danger", "baseline_change", "alarm")
# Who may raise each warning: the gateway's health events, the node's own alarm. A node sending
# "alarm_danger" is not a Kizashi warning (issue 15: node and gateway codes are separate).
WARNING_EVENTS = frozenset(
    {("gateway", "alarm_alert"), ("gateway", "alarm_danger"), ("gateway", "baseline_change"),
     ("node", "alarm")}
)  # fmt: skip


def check_kind(kind: str) -> str:
    if kind not in SERVICE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(SERVICE_KINDS)}")
    return kind


def check_date(text: str, today: dt.date) -> str:
    """An ISO date (YYYY-MM-DD) that is not after `today`; returned normalised."""
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"date must be YYYY-MM-DD, got {text!r}") from None
    if day > today:
        raise ValueError(f"date {day.isoformat()} is in the future (today is {today.isoformat()})")
    return day.isoformat()


def resolve_part(asset: Asset, kind: str, ref: str) -> str:
    """The part id an entry refers to, from a part id or part number; "" for none.

    With no reference, a replacement or failure means the asset's only part; with several
    parts it must name one. A reference the asset's registry does not know is refused (a typo
    would otherwise leave the worn part's history in place).
    """
    ref = ref.strip()
    known = {p.part_id: p.part_id for p in asset.parts}
    known.update({p.part_number: p.part_id for p in asset.parts if p.part_number})
    names = ", ".join(p.part_id + (f" ({p.part_number})" if p.part_number else "")
                      for p in asset.parts)  # fmt: skip
    if not ref:
        if kind in LIFE_ENDING_KINDS and len(asset.parts) > 1:
            raise ValueError(f"asset {asset.asset_id} has several parts ({names}): name one")
        return asset.parts[0].part_id if kind in LIFE_ENDING_KINDS and asset.parts else ""
    if not asset.parts:
        return ref  # nothing registered to check against: keep what the technician wrote
    if ref not in known:
        raise ValueError(f"asset {asset.asset_id} has no part {ref!r} (it has: {names})")
    return known[ref]


def day_start(day: str, tz: str | None) -> float:
    """The start (local midnight) of calendar day `day` (YYYY-MM-DD) at the site."""
    d = dt.date.fromisoformat(day)
    return dt.datetime(d.year, d.month, d.day, tzinfo=zone(tz)).timestamp()


def day_end(day: str, tz: str | None) -> float:
    """The end of calendar day `day` at the site: the latest a repair dated that day can have
    happened."""
    return day_start((dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat(), tz)


def downtime_bound(warned_at: float | None, repaired_by: float | None) -> float:
    """The most downtime an acted-on warning can have avoided, in hours: the time from the
    warning to the repair, at most MAX_DOWNTIME_AVOIDED_H; 0 without a warning on record."""
    if warned_at is None or repaired_by is None:
        return 0.0
    return max(0.0, min(MAX_DOWNTIME_AVOIDED_H, (repaired_by - warned_at) / 3600.0))


def check_downtime(
    hours: float,
    acted_on_warning: bool,
    warned_at: float | None = None,
    repaired_by: float | None = None,
) -> float:
    """Hours of unplanned downtime avoided: finite, >= 0, only with an acted-on warning, at
    most the time from the warning (`warned_at`) to the repair (`repaired_by`) and at most
    MAX_DOWNTIME_AVOIDED_H. Without `repaired_by` (no history to check) only the absolute
    bound applies. ValueError says which bound and why."""
    if not math.isfinite(hours) or hours < 0:
        raise ValueError("downtime avoided must be a finite number of hours >= 0")
    if hours and not acted_on_warning:
        raise ValueError("downtime avoided needs the entry to be marked as acting on a warning")
    if hours > MAX_DOWNTIME_AVOIDED_H:
        raise ValueError(
            f"downtime avoided of {hours:g} h is more than {MAX_DOWNTIME_AVOIDED_H:g} h"
            " (90 days), the longest unplanned stop the ledger accepts"
        )
    if hours and repaired_by is not None and warned_at is None:
        raise ValueError(
            "downtime avoided needs a Kizashi warning on record for this asset before the"
            " repair (a vibration alarm or baseline change); none was found"
        )
    bound = downtime_bound(warned_at, repaired_by)
    if hours and repaired_by is not None and hours > bound:
        first = dt.datetime.fromtimestamp(warned_at or 0.0, dt.UTC).strftime("%Y-%m-%d %H:%M")
        raise ValueError(
            f"downtime avoided can be at most {bound:.1f} h: the first warning came at"
            f" {first} UTC, {bound:.1f} h before the end of the repair day"
        )
    return hours


def check_stop_h(hours: float | None) -> float | None:
    """Hours the machine stood still for the job: None (not recorded), or finite, >= 0 and at
    most MAX_STOP_H; ValueError says which."""
    if hours is None:
        return None
    if not math.isfinite(hours) or hours < 0:
        raise ValueError("stop_h (hours the machine stood still) must be a finite number >= 0")
    if hours > MAX_STOP_H:
        raise ValueError(
            f"stop_h of {hours:g} h is more than {MAX_STOP_H:g} h (90 days), the longest stop"
            " one service entry may record"
        )
    return hours


def check_repair_cost(amount: float | None) -> float | None:
    """What the job was invoiced: None (not recorded), or a finite amount >= 0."""
    if amount is None:
        return None
    if not math.isfinite(amount) or amount < 0:
        raise ValueError("repair_cost (what the job was invoiced) must be a finite amount >= 0")
    return amount


def first_warning(store: Store, asset: Asset, day: str, tz: str | None = None) -> float | None:
    """When Kizashi first warned about `asset` before the repair dated `day`: the earliest
    warning event (WARNING_EVENTS: code and who raised it) of its node since the last
    replacement or failure before that day. None when there is none (or the asset has no node)."""
    if not asset.node_id:
        return None
    before = [
        e.date for e in store.service_log(asset.asset_id)
        if e.kind in LIFE_ENDING_KINDS and e.date < day
    ]  # fmt: skip
    since = day_start(max(before), tz) if before else None
    end = day_end(day, tz)
    times = [
        e.ts
        for e in store.events(node_id=asset.node_id, since=since, limit=100_000)
        if (e.source, e.code) in WARNING_EVENTS and e.ts < end
    ]
    return min(times) if times else None


def build_entry(
    asset: Asset,
    kind: str,
    today: dt.date,
    *,
    date: str | None = None,
    part: str = "",
    finding: str = "",
    by: str = "",
    acted_on_warning: bool = False,
    downtime_avoided_h: float = 0.0,
    store: Store | None = None,
    tz: str | None = None,
    stop_h: float | None = None,
    repair_cost: float | None = None,
) -> ServiceEntry:
    """A checked entry for `asset` (date default `today`, the site's calendar day); ValueError
    saying what is wrong. With `store`, downtime avoided is bounded by the time from the
    asset's first warning on record to the end of the repair day (in the site's zone `tz`);
    without one (no event history to check against) only by MAX_DOWNTIME_AVOIDED_H. `stop_h`
    and `repair_cost` are optional (None: not recorded), checked by check_stop_h and
    check_repair_cost."""
    day = check_date(date, today) if date else today.isoformat()
    check_kind(kind)
    stop_h = check_stop_h(stop_h)
    repair_cost = check_repair_cost(repair_cost)
    part_id = resolve_part(asset, kind, part)
    if store is not None and downtime_avoided_h:
        warned = first_warning(store, asset, day, tz)
        hours = check_downtime(downtime_avoided_h, acted_on_warning, warned, day_end(day, tz))
    else:
        hours = check_downtime(downtime_avoided_h, acted_on_warning)
    return ServiceEntry(
        asset.asset_id,
        day,
        kind,
        part_id,
        finding,
        by,
        acted_on_warning=acted_on_warning,
        downtime_avoided_h=hours,
        stop_h=stop_h,
        repair_cost=repair_cost,
    )
