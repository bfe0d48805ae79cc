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
