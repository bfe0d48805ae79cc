"""The shared rules of gateway/domain.py."""

from __future__ import annotations

from gateway.domain import (
    LIFE_ENDING_KINDS,
    SERVICE_KINDS,
    life_start,
    part_install_dates,
    role_at_least,
)
from gateway.store import api
from gateway.store.api import Asset, Part, ServiceEntry


def test_one_definition_everywhere() -> None:
    from fleet_web import admin, asset, auth
    from gateway import analytics, service_entry

    assert api.SERVICE_KINDS is SERVICE_KINDS and asset.SERVICE_KINDS is SERVICE_KINDS
    assert api.ROLES is auth.ROLES is admin.ROLES
    assert analytics.LIFE_EVENT_KINDS is LIFE_ENDING_KINDS is service_entry.LIFE_ENDING_KINDS
    assert set(LIFE_ENDING_KINDS) < set(SERVICE_KINDS)


def test_roles_order() -> None:
    assert role_at_least("admin", "technician") and role_at_least("viewer", "viewer")
    assert not role_at_least("viewer", "technician") and not role_at_least("boss", "viewer")


def test_life_start_and_install_dates() -> None:
    a = Asset("p", "s", "m", parts=(Part("brg", "Bearing", "6205"), Part("fan", "Fan")))
    log = [
        ServiceEntry("p", "2024-01-01", "replacement", "6205"),
        ServiceEntry("p", "2024-03-01", "failure", "fan"),
        ServiceEntry("p", "2024-05-01", "inspection", "brg"),
    ]
    assert life_start(log, 0.0) == 1_709_251_200.0  # 2024-03-01, the failure
    assert life_start(log, 2e9) == 2e9
    got = part_install_dates(a, log, 1_600_000_000.0)
    assert got == {"brg": (1_704_067_200.0, "replacement"), "fan": (1_600_000_000.0, "first_data")}
    assert part_install_dates(a, [], None)["brg"] == (None, None)


def test_the_store_only_persists() -> None:
    """Opening a store loads no forecasting, analytics, outlook or page code."""
    import subprocess
    import sys

    code = (
        "import sys, gateway.store.sqlite, gateway.store.postgres\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('gateway.forecast',"
        " 'gateway.analytics', 'gateway.outlook', 'fleet_web', 'firmware')))\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_zones_of_an_asset() -> None:
    from gateway.domain import ZONE_LIMITS, asset_zone, asset_zone_limits, check_asset
    from gateway.forecast.health import ZONE_LIMITS as FROM_HEALTH

    assert FROM_HEALTH is ZONE_LIMITS
    pump = Asset("p", "s", "m", machine_group="group2_rigid")
    assert asset_zone_limits(pump) == (1.4, 2.8, 4.5)
    assert [asset_zone(pump, v) for v in (1.4, 1.41, 2.9, 4.6)] == ["A", "B", "C", "D"]
    own = Asset("p", "s", "m", zone_limits=(1.0, 2.0, 3.0))
    assert asset_zone(own, 2.5) == "C" and check_asset(own) is own
    import pytest

    with pytest.raises(ValueError, match="unknown machine group"):
        check_asset(Asset("p", "s", "m", machine_group="group9"))


def test_the_page_computes_no_forecast() -> None:
    """fleet_web reads the gateway's stored outlook; it imports no forecasting entry point
    (the outlook engine is only asked to recompute after the page's own writes)."""
    import ast
    from pathlib import Path

    import fleet_web

    banned_modules = ("rul", "predictor", "estimator", "calendar", "prior", "model", "usage",
                      "planning", "decision")  # fmt: skip
    banned_names = {"forecast_many", "forecast_part", "FleetForecaster", "Utilisation",
                    "recommend", "recommend_with_zone", "judge"}  # fmt: skip
    found = []
    for path in Path(fleet_web.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                mod = node.module
                if mod.startswith("gateway.forecast.") and mod.rsplit(".", 1)[1] in banned_modules:
                    found.append(f"{path.name}: {mod}")
                names = {a.name for a in node.names}
                if mod.startswith("gateway") and names & banned_names:
                    found.append(f"{path.name}: {mod} {sorted(names & banned_names)}")
    assert not found, found
