"""The demo's fleet: which simulated machine each node sits on, and the asset registry.

Twelve positions on three sites in two time zones (Osaka and Kobe in Japan, a Stuttgart
plant in Germany) cover what a service team meets: healthy machines, a bearing wearing out
(fast and slow), imbalance, machines that run in shifts, one idle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gateway.sitetime import zone
from gateway.store.api import Asset, CatalogPart, MaintenanceWindow, Part, Site

DEMO_SITES = ("Osaka Press Shop", "Stuttgart Assembly", "Kobe Water Works")
# Each site's IANA zone: its times are shown and typed in it (kizashi site set).
DEMO_SITE_ZONES = (
    Site(DEMO_SITES[0], "Asia/Tokyo"),
    Site(DEMO_SITES[1], "Europe/Berlin"),
    Site(DEMO_SITES[2], "Asia/Tokyo"),
)

# Demo nodes compute a window and report every 5 simulated minutes: at hundreds of times
# real speed this keeps twelve pure-Python nodes within one core.
DEMO_NODE_CONFIG = {"window_s": 300, "report_s": 300, "alarm_report_s": 300, "save_s": 300}

# A bearing wearing out over weeks: growth of vibration amplitude = 1 + k * days^2 after the
# onset day. Two weeks into its wear when the demo starts (zone B of group 2 rigid), its wear
# trend and the recommended stop show from the first minutes; it reaches zone C weeks later.
FAST_BEARING: dict[str, Any] = {
    "tones": [[24.6, 0.03, 0.02, 0.01], [49.2, 0.01, 0.008, 0.004]],
    "noise_g": 0.01,
    "impulses": [87.3, 0.15, 1210.0, 3.0],
    "schedule": None,
    "growth": [0.005, 0.0],
    "temp_c": [21.0, 41.0],
}
# Days of past readings written on a fresh demo (kizashi/demo_history.py): enough running
# hours for wear forecasts and a utilisation profile from the start.
HISTORY_SEED_DAYS = 21.0


@dataclass(frozen=True)
class DemoNode:
    node_id: str
    profile: str | dict[str, Any]
    asset: Asset
    age_days: float = 0.0
    # A worn part replaced in the seeded past (kizashi/demo_story.py): its vibration rose from
    # `wear_from_days` before the nodes start until `replaced_days` before (days; 0 = none).
    wear_from_days: float = 0.0
    replaced_days: float = 0.0
    node_config: dict[str, int] = field(default_factory=lambda: dict(DEMO_NODE_CONFIG))


def _bearing(number: str, l10_h: float, lead_days: float) -> Part:
    return Part("bearing-de", "Drive-end bearing", number, l10_h, lead_days)


def _seal() -> Part:
    return Part("seal", "Shaft seal", "SEAL-45x62", 16000.0, 5.0)


# (asset id, site index, machine, machine group, profile, age days, parts)
_TABLE: list[tuple[str, int, str, str, str | dict[str, Any], float, tuple[Part, ...]]] = [
    ("OSK-PRS-01", 0, "Servo press 1 main drive", "group2_rigid", "healthy", 0.0,
     (_bearing("6312-2Z/C3", 30000, 14),)),
    ("OSK-PRS-02", 0, "Servo press 2 main drive", "group2_rigid", FAST_BEARING, 12.0,
     (_bearing("6312-2Z/C3", 30000, 5),)),
    ("OSK-FAN-01", 0, "Exhaust fan", "group2_flexible", "imbalance", 20.0,
     (_bearing("6208-2RS", 25000, 7),)),
    ("OSK-CNV-01", 0, "Transfer conveyor drive", "class_I", "shifts", 0.0,
     (_bearing("6205-2Z", 20000, 5),)),
    ("STG-SPD-01", 1, "Machining spindle 1", "class_II", "healthy", 0.0,
     (_bearing("7014-CD/P4A", 15000, 28),)),
    ("STG-SPD-02", 1, "Machining spindle 2", "class_II", "bearing_degrading", 30.0,
     (_bearing("7014-CD/P4A", 15000, 28),)),
    ("STG-CMP-01", 1, "Air compressor", "group2_rigid", "shifts", 0.0,
     (_bearing("NU 310 ECP", 40000, 10), _seal())),
    ("STG-PMP-01", 1, "Coolant pump", "class_I", "idle", 0.0,
     (_bearing("6306-2Z", 20000, 7), _seal())),
    ("KOB-PMP-01", 2, "Raw water pump A", "group1_flexible", "healthy", 0.0,
     (_bearing("6316 M/C3", 50000, 21), _seal())),
    ("KOB-PMP-02", 2, "Raw water pump B", "group1_flexible", "imbalance", 0.0,
     (_bearing("6316 M/C3", 50000, 21), _seal())),
    ("KOB-BLW-01", 2, "Aeration blower", "group2_rigid", "healthy", 0.0,
     (_bearing("22215 E", 45000, 14),)),
    ("KOB-MIX-01", 2, "Sludge mixer", "group2_flexible", "shifts", 0.0,
     (_bearing("6310-2RS", 30000, 10),)),
]  # fmt: skip


# Servo press 1's previous bearing: worn from 19 days before the nodes start, replaced 8 days
# before (the demo's finished proactive job; kizashi/demo_story.py keeps the same days).
_PAST_WEAR = {"OSK-PRS-01": (19.0, 8.0)}


def demo_assets(count: int) -> list[DemoNode]:
    """`count` demo positions: the table above, repeated with new ids beyond twelve."""
    out: list[DemoNode] = []
    for i in range(count):
        asset_id, site, machine, group, profile, age, parts = _TABLE[i % len(_TABLE)]
        round_ = i // len(_TABLE)
        if round_:
            asset_id = f"{asset_id}-{round_ + 1}"
        node_id = f"kz{i + 1:03d}"
        asset = Asset(asset_id, DEMO_SITES[site], machine, node_id, group, "", parts)
        wear = _PAST_WEAR.get(asset_id, (0.0, 0.0))
        out.append(DemoNode(node_id, profile, asset, age, *wear))
    return out


def demo_windows(now: float, weeks: int = 12) -> list[MaintenanceWindow]:
    """A planned stop every other Saturday per site, 08:00-16:00 on the site's own clock,
    staggered by site."""
    out: list[MaintenanceWindow] = []
    for s, site in enumerate(DEMO_SITE_ZONES):
        z = zone(site.tz)
        local = datetime.fromtimestamp(now, z)
        first_saturday = local.date() + timedelta(days=(5 - local.weekday()) % 7)
        for k in range(0, weeks, 2):
            day = first_saturday + timedelta(weeks=k, days=7 * (s % 2))
            start = datetime(day.year, day.month, day.day, 8, tzinfo=z)
            end = datetime(day.year, day.month, day.day, 16, tzinfo=z)
            out.append(
                MaintenanceWindow(site.name, start.timestamp(), end.timestamp(), "planned stop")
            )
    return out


# The demo's price list (docs/SERVICE.md): list price in EUR and labour hours to fit, per part
# number of the registry above; the lead time is the longest any asset's registry entry gives.
_PRICES: dict[str, tuple[str, float, float]] = {
    "6312-2Z/C3": ("deep groove ball bearing 60x130x31, shielded, C3", 68.0, 3.0),
    "6208-2RS": ("deep groove ball bearing 40x80x18, sealed", 14.5, 1.5),
    "6205-2Z": ("deep groove ball bearing 25x52x15, shielded", 7.8, 1.0),
    "7014-CD/P4A": ("super-precision angular contact bearing 70x110x20", 640.0, 8.0),
    "NU 310 ECP": ("cylindrical roller bearing 50x110x27", 92.0, 3.0),
    "6306-2Z": ("deep groove ball bearing 30x72x19, shielded", 11.2, 1.5),
    "6316 M/C3": ("deep groove ball bearing 80x170x39, brass cage, C3", 410.0, 6.0),
    "22215 E": ("spherical roller bearing 75x130x31", 165.0, 4.0),
    "6310-2RS": ("deep groove ball bearing 50x110x27, sealed", 38.0, 2.5),
    "SEAL-45x62": ("radial shaft seal 45x62x8", 6.4, 0.5),
}
# (part number, warehouse, pieces on the shelf when the demo starts)
DEMO_STOCK: tuple[tuple[str, str, int], ...] = (
    ("6312-2Z/C3", "Osaka stores", 2),  # one goes into the seeded past job
    ("6208-2RS", "central", 4),
    ("6205-2Z", "central", 6),
    ("NU 310 ECP", "central", 1),
    ("6316 M/C3", "central", 1),
    ("SEAL-45x62", "central", 10),
    ("SEAL-45x62", "Osaka stores", 2),
)


def demo_catalog() -> list[CatalogPart]:
    """The price list of every part number the demo's registry names."""
    lead: dict[str, float] = {}
    for *_, parts in _TABLE:
        for p in parts:
            lead[p.part_number] = max(lead.get(p.part_number, 0.0), p.lead_time_days or 0.0)
    return [
        CatalogPart(pn, text, price, "EUR", lead[pn], labour_h, safety_stock=1 if price < 20 else 0)
        for pn, (text, price, labour_h) in sorted(_PRICES.items())
    ]
