"""One set of rules for a service-log entry, shared by `kizashi service add` and the fleet page.

A replacement resets a part's wear and becomes a completed life for the fleet prior, so an entry
that names the wrong part, or a date that has not happened yet, corrupts forecasts silently.
These checks turn such entries into clear errors before anything is stored.
"""

from __future__ import annotations

import datetime as dt
import math

from gateway.store.api import SERVICE_KINDS, Asset, ServiceEntry

# Kinds that end a part's life: they must say which part when the asset has several.
LIFE_ENDING_KINDS = ("replacement", "failure")


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


def check_downtime(hours: float, acted_on_warning: bool) -> float:
    """Hours of unplanned downtime avoided: finite, >= 0, and only with an acted-on warning."""
    if not math.isfinite(hours) or hours < 0:
        raise ValueError("downtime avoided must be a finite number of hours >= 0")
    if hours and not acted_on_warning:
        raise ValueError("downtime avoided needs the entry to be marked as acting on a warning")
    return hours


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
) -> ServiceEntry:
    """A checked entry for `asset` (date default `today`); ValueError saying what is wrong."""
    return ServiceEntry(
        asset.asset_id,
        check_date(date, today) if date else today.isoformat(),
        check_kind(kind),
        resolve_part(asset, kind, part),
        finding,
        by,
        acted_on_warning=acted_on_warning,
        downtime_avoided_h=check_downtime(downtime_avoided_h, acted_on_warning),
    )
