"""The rules every layer shares: service kinds, which of them end a part's life, user roles, and
when a part was fitted. The store persists with them, the analytics and the outlook compute
with them, the CLI and the page offer and check them; each is written here once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # records only for the annotations: the store imports this module
    from gateway.store.api import Asset, ServiceEntry

# What a service-log entry records. A replacement fits a new part; a failure ends the part's life
# as well (the part is replaced or repaired to new); an inspection changes nothing.
SERVICE_KINDS: tuple[str, ...] = ("inspection", "replacement", "failure")
LIFE_ENDING_KINDS: tuple[str, ...] = ("replacement", "failure")
# Fleet-page users, least to most allowed: viewer reads, technician also records service,
# admin also manages users, the registry and node assignment.
ROLES: tuple[str, ...] = ("viewer", "technician", "admin")


def role_at_least(role: str, wanted: str) -> bool:
    """Whether `role` may do what `wanted` may (unknown roles may do nothing)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(wanted)


def entry_ts(date: str) -> float:
    """A service entry's date (YYYY-MM-DD) as unix seconds at 00:00 UTC (0.0 if malformed)."""
    try:
        return datetime.fromisoformat(date).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


def life_start(entries: Iterable[ServiceEntry], default: float) -> float:
    """When the asset's current part life began: its latest life-ending entry, else `default`
    (usually the start of the history window)."""
    return max([entry_ts(s.date) for s in entries if s.kind in LIFE_ENDING_KINDS] + [default])


def part_install_dates(
    asset: Asset, entries: Sequence[ServiceEntry], first_hour: float | None
) -> dict[str, tuple[float | None, str | None]]:
    """part_id -> (install time, source): the part's latest replacement in the service log
    ("replacement"), else the asset's first hour of data ("first_data"), else (None, None). A
    replacement names its part by part id or part number; one naming no part counts for the
    asset's only part."""
    latest: dict[str, float] = {}
    only = asset.parts[0].part_id if len(asset.parts) == 1 else None
    by_ref = {p.part_number: p.part_id for p in asset.parts if p.part_number}
    by_ref.update({p.part_id: p.part_id for p in asset.parts})
    for s in entries:
        pid = by_ref.get(s.part_id) if s.part_id else only
        ts = entry_ts(s.date)
        if s.kind == "replacement" and pid is not None and ts > 0:
            latest[pid] = max(latest.get(pid, ts), ts)
    out: dict[str, tuple[float | None, str | None]] = {}
    for p in asset.parts:
        if p.part_id in latest:
            out[p.part_id] = (latest[p.part_id], "replacement")
        else:
            out[p.part_id] = (first_hour, "first_data" if first_hour is not None else None)
    return out
