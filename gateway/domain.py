"""The rules every layer shares: service kinds, which of them end a part's life, user roles,
when a part was fitted, the severity zones of a machine group or asset, and what a registry
entry must satisfy. The store persists with them (and only persists), the analytics, the
outlook and the forecast compute with them, the CLI and the page offer and check them; each is
written here once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from protocol import nodeconfig

if TYPE_CHECKING:  # records only for the annotations: the store imports this module
    from gateway.store.api import Asset, CatalogPart, ServiceEntry

# What a service-log entry records. A replacement fits a new part; a failure ends the part's life
# as well (the part is replaced or repaired to new); an inspection changes nothing.
SERVICE_KINDS: tuple[str, ...] = ("inspection", "replacement", "failure")
LIFE_ENDING_KINDS: tuple[str, ...] = ("replacement", "failure")
# Fleet-page users, least to most allowed: viewer reads, technician also records service,
# admin also manages users, the registry and node assignment.
ROLES: tuple[str, ...] = ("viewer", "technician", "admin")

# Velocity RMS zone boundaries per machine group, mm/s (10-1000 Hz): (A/B, B/C, C/D).
ZONE_LIMITS: dict[str, tuple[float, float, float]] = {
    "group1_rigid": (2.3, 4.5, 7.1),  # ISO 10816-3, >300 kW
    "group1_flexible": (3.5, 7.1, 11.0),
    "group2_rigid": (1.4, 2.8, 4.5),  # ISO 10816-3, 15-300 kW
    "group2_flexible": (2.3, 4.5, 7.1),
    "class_I": (0.71, 1.8, 4.5),  # ISO 10816-1, small machines <= 15 kW
    "class_II": (1.12, 2.8, 7.1),
    "class_III": (1.8, 4.5, 11.2),
    "class_IV": (2.8, 7.1, 18.0),
}
ZONES = ("A", "B", "C", "D")
DEFAULT_GROUP = "group2_rigid"
# An asset's node's temperature source: the values the node's config accepts
TEMP_SOURCES: tuple[str, ...] = nodeconfig.TEMP_SOURCES


def asset_zone_limits(asset: Asset) -> tuple[float, float, float]:
    """The asset's own limits if the registry has them, else its group's ISO limits."""
    if asset.zone_limits is not None:
        return asset.zone_limits
    # A group unknown here was written before the registry checked groups.
    return ZONE_LIMITS.get(asset.machine_group, ZONE_LIMITS[DEFAULT_GROUP])


def asset_zone(asset: Asset, v_mm_s: float) -> str:
    """Zone A-D of a velocity RMS on this asset's limits (a boundary value is the lower zone)."""
    return ZONES[sum(1 for x in asset_zone_limits(asset) if v_mm_s > x)]


def check_asset(asset: Asset) -> Asset:
    """Refuse a registry entry the health assessment could not use (ValueError with why)."""
    if not asset.asset_id:
        raise ValueError("asset_id must not be empty")
    if asset.machine_group not in ZONE_LIMITS:
        raise ValueError(
            f"unknown machine group {asset.machine_group!r}; known: {', '.join(ZONE_LIMITS)}"
        )
    z = asset.zone_limits
    if z is not None and not (
        len(z) == 3 and all(math.isfinite(x) for x in z) and 0 < z[0] < z[1] < z[2]
    ):
        raise ValueError(f"zone limits must be three increasing positive mm/s values, got {z}")
    if asset.temp_source not in TEMP_SOURCES:
        raise ValueError(
            f"unknown temperature source {asset.temp_source!r}; known: {', '.join(TEMP_SOURCES)}"
        )
    for p in asset.parts:
        if p.rated_l10_h is not None and not (math.isfinite(p.rated_l10_h) and p.rated_l10_h > 0):
            raise ValueError(f"part {p.part_id}: rated L10 life must be a number of hours > 0")
        lead = p.lead_time_days
        if lead is not None and not (math.isfinite(lead) and lead >= 0):
            raise ValueError(f"part {p.part_id}: lead time must be a number of days >= 0")
    return asset


# Parts stores (docs/SERVICE.md): a reservation's states, and the warehouse name a shortfall is
# reserved under (nothing on any shelf: it must be ordered).
RESERVATION_STATES: tuple[str, ...] = ("reserved", "consumed", "released")
SHORTAGE_WAREHOUSE = ""


def check_catalog_part(part: CatalogPart) -> CatalogPart:
    """Refuse a price-list entry the quotes and reorder planning could not use (ValueError)."""
    pn = part.part_number
    # Makers' numbers have inner spaces ("NU 310 ECP"); outer ones or tabs are typos.
    if not pn or pn != pn.strip() or any(c.isspace() and c != " " for c in pn):
        raise ValueError(f"part number must be non-empty, without outer spaces or tabs, got {pn!r}")
    if not (math.isfinite(part.unit_price) and part.unit_price >= 0):
        raise ValueError(f"part {pn}: unit price must be a finite number >= 0")
    if not (len(part.currency) == 3 and part.currency.isalpha() and part.currency.isupper()):
        raise ValueError(f"part {pn}: currency must be a three-letter code such as EUR or JPY")
    if not (math.isfinite(part.lead_time_days) and part.lead_time_days >= 0):
        raise ValueError(f"part {pn}: lead time must be a number of days >= 0")
    if not (math.isfinite(part.labour_h) and part.labour_h >= 0):
        raise ValueError(f"part {pn}: labour must be a number of hours >= 0")
    check_quantity(part.safety_stock, f"part {pn}: safety stock")
    return part


def check_quantity(qty: object, what: str, minimum: int = 0) -> int:
    """A whole number of pieces >= `minimum` (bools and fractions refused), else ValueError."""
    if isinstance(qty, bool) or not isinstance(qty, int):
        raise ValueError(f"{what} must be a whole number of pieces, got {qty!r}")
    if qty < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {qty}")
    return qty


def check_warehouse(name: str) -> str:
    """A warehouse is named (the empty name stands for a shortfall: SHORTAGE_WAREHOUSE)."""
    if not name.strip() or name != name.strip():
        raise ValueError(f"warehouse must be a non-empty name without outer spaces, got {name!r}")
    return name


# Proposals (docs/SERVICE.md "Proposals"): a proposal's states and the steps between them. A
# draft is the only state whose content may change; from `sent` on it is frozen, and a newer
# outlook makes a new revision instead. `done` follows acceptance only.
PROPOSAL_STATES: tuple[str, ...] = ("draft", "sent", "accepted", "declined", "expired", "done")
PROPOSAL_STEPS: dict[str, tuple[str, ...]] = {
    "send": ("draft",),
    "accept": ("sent",),
    "decline": ("sent",),
    "expire": ("sent",),
    "done": ("accepted",),
}
PROPOSAL_STEP_STATE = {
    "send": "sent",
    "accept": "accepted",
    "decline": "declined",
    "expire": "expired",
    "done": "done",
}
# Outlook actions a proposal can be made from: the ones that ask for work.
PROPOSABLE_ACTIONS: tuple[str, ...] = ("plan", "unplanned_stop", "stop_now")
# The worse of two outlooks (a declined or expired proposal whose risk grew needs a follow-up).
ACTION_RANK = {"none": 0, "watch": 1, "plan": 2, "unplanned_stop": 3, "stop_now": 4}
ZONE_RANK = {None: 0, "A": 1, "B": 2, "C": 3, "D": 4}


def check_terms(currency: str, labour_rate: float, downtime_cost_h: float) -> None:
    """A customer's commercial terms: a three-letter currency, a labour rate per hour and the
    cost of an hour of downtime, both finite and >= 0 (ValueError with what is wrong)."""
    if not (len(currency) == 3 and currency.isalpha() and currency.isupper()):
        raise ValueError(
            f"currency must be a three-letter code such as EUR or JPY, got {currency!r}"
        )
    for what, v in (("labour rate", labour_rate), ("downtime cost per hour", downtime_cost_h)):
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{what} must be a finite amount >= 0, got {v!r}")


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
