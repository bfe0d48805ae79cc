"""Configuration from the registry, end to end: the real firmware Node, the pipeline over the
loopback link, the real store (SQLite and PostgreSQL), and gateway.node_config."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from firmware import config as fwconfig
from gateway.node_config import (
    NodeConfigManager,
    NodeConfigSettings,
    config_hash,
    desired_config,
)
from gateway.store.api import Asset, NodeConfigState, Store
from tests.gateway.fwharness import Board, pipeline

pytestmark = pytest.mark.timeout(120)
NODE = "pump-1"
FAST = NodeConfigSettings(report_s=5, window_s=5, retry_s=2.0, recheck_s=0.2)


def state(store: Store, node: str = NODE) -> NodeConfigState | None:
    return next((s for s in store.node_configs() if s.node_id == node), None)


def test_desired_config_follows_the_registry() -> None:
    s = NodeConfigSettings()
    plain = desired_config(None, s)
    assert plain["vel_alarm_mm_s"] == fwconfig.DEFAULTS["vel_alarm_mm_s"]
    own = Asset("a", "s", "m", zone_limits=(1.0, 2.0, 3.0))
    cfg = desired_config(own, s, {"rate_hz": 1600, "band_hz": [10, 500], "window": 512})
    assert (cfg["vel_alarm_mm_s"], cfg["vel_clear_mm_s"]) == (3.0, 2.4)
    assert (cfg["rate_hz"], cfg["band_lo_hz"], cfg["band_hi_hz"], cfg["window"]) == (
        1600,
        10,
        500,
        512,
    )
    group = desired_config(Asset("a", "s", "m", machine_group="group1_rigid"), s)
    assert group["vel_alarm_mm_s"] == 7.1  # ISO 10816-3 group 1 rigid C/D
    assert config_hash(cfg) != config_hash(plain)
    with pytest.raises(ValueError):
        desired_config(None, NodeConfigSettings(report_s=0))
    assert plain["temp_source"] == "auto"  # no asset: what the board has fitted
    none = desired_config(Asset("a", "s", "m", temp_source="none"), s)
    assert none["temp_source"] == "none" and config_hash(none) != config_hash(plain)


def test_temp_source_is_checked_in_the_registry(store: Store) -> None:
    from gateway.domain import TEMP_SOURCES

    assert TEMP_SOURCES == fwconfig.TEMP_SOURCES
    with pytest.raises(ValueError, match="temperature source"):
        store.upsert_asset(Asset("a", "s", "m", temp_source="thermocouple"))
    assert store.asset("a") is None
    store.upsert_asset(Asset("a", "s", "m", temp_source="ds18b20"))
    got = store.asset("a")
    assert got is not None and got.temp_source == "ds18b20"


def test_hash_is_the_nodes_for_single_precision_values() -> None:
    cfg = desired_config(Asset("a", "s", "m", zone_limits=(1.0, 2.0, 5.68)), NodeConfigSettings())
    import struct

    single = {
        k: struct.unpack("<f", struct.pack("<f", v))[0] if isinstance(v, float) else v
        for k, v in cfg.items()
    }
    assert single != cfg and fwconfig.cfg_hash(single) == config_hash(cfg)


def test_registry_config_reaches_the_node(store: Store, tmp_path: Path) -> None:
    asyncio.run(_push(store, tmp_path))


async def _push(store: Store, tmp_path: Path) -> None:
    store.upsert_asset(Asset("press-7", "plant-a", "press 7", node_id=NODE, zone_limits=(1, 2, 3)))
    async with pipeline(store) as (pipe, link, metrics):
        mgr = NodeConfigManager(pipe, store, FAST, metrics)
        task = asyncio.create_task(mgr.run())
        try:
            board = Board(link, NODE, tmp_path / "flash")
            assert board.node.cfg["vel_alarm_mm_s"] == 7.1
            for _ in range(40):
                await board.run(1)
                st = state(store)
                if st is not None and st.state == "applied":
                    break
            st = state(store)
            assert st is not None and st.state == "applied" and st.pushes == 1, st
            assert board.node.cfg["vel_alarm_mm_s"] == 3.0
            # floats travel as float32 (protocol/README.md): 2.4 arrives as 2.4000000953674316
            assert board.node.cfg["vel_clear_mm_s"] == pytest.approx(2.4, rel=1e-7)
            assert fwconfig.cfg_hash(board.node.cfg) == st.desired_hash == st.node_hash
            # A reboot keeps it (config.json on flash) and the birth's hash matches: no push.
            board.reboot()
            await board.run(3)
            await board.settle()
            await asyncio.sleep(0.5)
            st = state(store)
            assert st is not None and st.state == "applied" and st.pushes == 1
            assert board.node.cfg_from_file and board.node.cfg["vel_alarm_mm_s"] == 3.0

            # The operator edits the asset's limits: the periodic check pushes the change.
            a = store.asset("press-7")
            assert a is not None
            store.upsert_asset(dataclasses.replace(a, zone_limits=(2.0, 4.0, 6.0)))
            for _ in range(40):
                await board.run(1)
                if board.node.cfg["vel_alarm_mm_s"] == 6.0 and state(store).state == "applied":  # type: ignore[union-attr]
                    break
            st = state(store)
            assert st is not None and st.state == "applied" and st.pushes == 2
            assert board.node.cfg["vel_clear_mm_s"] == pytest.approx(4.8, rel=1e-7)

            # A node that cannot take it says why, and the page gets the reason.
            odd = tmp_path / "odd"
            other = Board(link, "pump-2", odd, config={"window": 256, "ring_ram": 16})
            for _ in range(40):
                await other.run(1)
                st2 = state(store, "pump-2")
                if st2 is not None and st2.state == "refused":
                    break
            st2 = state(store, "pump-2")
            assert st2 is not None and st2.state == "refused"
            assert st2.reason == "needs_reboot:ring_ram"
            assert other.node.cfg["ring_ram"] == 16 and other.node.cfg["report_s"] == 60
            assert metrics.get("kizashi_config_refused_total") >= 1
            assert metrics.get("kizashi_nodes_config", state="refused") == 1
            assert metrics.get("kizashi_nodes_config", state="applied") == 1
            await other.settle()  # its frames committed and acked
            lag = metrics.get("kizashi_node_ack_lag_seconds", node="pump-2")
            assert 0 < lag < 5  # receipt of its oldest frame in the last commit -> ack
            pushes = st2.pushes
            await other.run(1)
            await asyncio.sleep(0.5)
            assert state(store, "pump-2").pushes == pushes  # type: ignore[union-attr]  # retry_s
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # A restarted gateway knows where every node stands.
    again = NodeConfigManager(_Queue(), store, FAST)
    assert again.states[NODE].state == "applied" and again.states["pump-2"].state == "refused"


class _Queue:
    def __init__(self) -> None:
        self.observers: list[object] = []

    def queue_command(self, *a: object, **k: object) -> int | None:
        return None


def test_registry_temp_source_reaches_the_node_or_is_refused(store: Store, tmp_path: Path) -> None:
    asyncio.run(_temp_source(store, tmp_path))


async def _temp_source(store: Store, tmp_path: Path) -> None:
    # The host board's source is the sensor's die; it has no DS18B20.
    store.upsert_asset(Asset("press-7", "plant-a", "press 7", node_id=NODE, temp_source="none"))
    async with pipeline(store) as (pipe, link, metrics):
        mgr = NodeConfigManager(pipe, store, FAST, metrics)
        task = asyncio.create_task(mgr.run())
        try:
            board = Board(link, NODE, tmp_path / "flash")
            assert board.node.temp.name == "sensor"
            for _ in range(40):
                await board.run(1)
                st = state(store)
                if st is not None and st.state == "applied":
                    break
            assert board.node.cfg["temp_source"] == "none" and board.node.temp.name == "none"
            board.reboot()  # the birth reports the source in force
            await board.run(3)
            await board.settle()
            info = store.node(NODE)
            assert info is not None and info.birth_info["temp_source"] == "none"
            # A probe this board lacks: the node refuses the whole configuration, says why.
            alarm = board.node.cfg["vel_alarm_mm_s"]
            a = store.asset("press-7")
            assert a is not None
            store.upsert_asset(dataclasses.replace(a, temp_source="ds18b20", zone_limits=(1, 2, 3)))
            for _ in range(40):
                await board.run(1)
                st = state(store)
                if st is not None and st.state == "refused":
                    break
            st = state(store)
            assert st is not None and st.reason == "temp_source_unavailable", st
            assert board.node.cfg["temp_source"] == "none"
            assert board.node.cfg["vel_alarm_mm_s"] == alarm != 3.0  # nothing of it applied
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def test_periods_from_the_fleet_server_reach_the_node(store: Store, tmp_path: Path) -> None:
    """A `node_periods` command from the centre (gateway/uplink/site_commands.py) replaces the
    site's [node_config] periods: the node runs them after the next check."""
    from gateway.store.sql import SqlStore
    from gateway.uplink.site_commands import SiteCommands

    assert isinstance(store, SqlStore)
    store.upsert_asset(Asset("press-7", "plant-a", "press 7", node_id=NODE))
    apply = SiteCommands(store, tmp_path, tmp_path / "secrets")
    assert apply(1, "node_periods", {"report_s": 0})[0] == "refused"  # the nodes cannot take it
    assert apply(2, "node_periods", {"report_s": 20, "window_s": 10}) == ("done", "")
    assert store.node_periods() == {"report_s": 20, "window_s": 10}

    async def run() -> None:
        async with pipeline(store) as (pipe, link, metrics):
            mgr = NodeConfigManager(pipe, store, FAST, metrics)
            task = asyncio.create_task(mgr.run())
            try:
                board = Board(link, NODE, tmp_path / "flash")
                for _ in range(40):
                    await board.run(1)
                    st = state(store)
                    if st is not None and st.state == "applied":
                        break
                assert (board.node.cfg["report_s"], board.node.cfg["window_s"]) == (20, 10)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())
