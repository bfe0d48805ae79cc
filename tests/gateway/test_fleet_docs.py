"""docs/FLEET.md documents every uplink and fleet server config key and the fleet command."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.fleet_server import FLEET_KEYS, HTTP_KEYS, parse_fleet_config
from gateway.uplink.config import KEYS as UPLINK_KEYS
from kizashi.cli import COMMANDS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "FLEET.md").read_text()


@pytest.mark.parametrize("key", sorted(UPLINK_KEYS | FLEET_KEYS | HTTP_KEYS))
def test_config_key_documented(key: str) -> None:
    assert f"`{key}`" in DOC or f"fleet] {key}" in DOC or f"[fleet.{key}]" in DOC, key


def test_fleet_command_documented() -> None:
    assert "fleet" in COMMANDS and "kizashi fleet run --config FILE" in DOC
    assert "kizashi fleet demo" in DOC


def test_fleet_config_checks(tmp_path: Path) -> None:
    cfg = parse_fleet_config(
        {"fleet": {"database": "postgresql://x/y", "origins": {"gw-a": "acme"},
                   "mqtt": {"port": 1884, "tls": True}}},
        tmp_path,
    )  # fmt: skip
    assert cfg.origins == {"gw-a": "acme"} and cfg.mqtt.port == 1884 and cfg.mqtt.tls
    with pytest.raises(ValueError, match="database"):
        parse_fleet_config({"fleet": {}})
    with pytest.raises(ValueError, match="unknown key"):
        parse_fleet_config({"fleet": {"database": "x", "origin": {}}})
    with pytest.raises(ValueError, match="origins"):
        parse_fleet_config({"fleet": {"database": "x", "origins": {"gw a": "acme"}}})
    with pytest.raises(ValueError, match="unknown key"):
        parse_fleet_config({"fleet": {"database": "x", "mqtt": {"hots": "h"}}})
