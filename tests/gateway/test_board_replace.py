"""Board replacement (`kizashi node replace`) with the real firmware, pipeline and store.

A new or wiped board starts its boot ids again; without the operator's command the gateway
refuses it (`stale_boot`, the same rule that refuses replays). With it, the board continues
above every boot id the gateway has stored, its frames are accepted, the machine's counters
carry over, the event is on the asset, and the old board's frames are still refused.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from gateway import board_replace, node_cli
from gateway.provision import add_node
from gateway.store import open_store
from gateway.store.api import Asset, Store
from gateway.wire import encode_serial
from tests.gateway.fwharness import Board, pipeline, until

pytestmark = pytest.mark.timeout(120)
NODE = "pump-1"


def _stale(metrics: object) -> float:
    return float(metrics.get("kizashi_frames_rejected_total", reason="stale_boot") or 0)  # type: ignore[attr-defined]


def test_replaced_board_is_accepted_and_old_frames_stay_refused(
    store: Store, tmp_path: Path
) -> None:
    asyncio.run(_replaced_board(store, tmp_path))


async def _replaced_board(store: Store, tmp_path: Path) -> None:
    sdir = tmp_path / "secrets"
    add_node(sdir, NODE)
    store.upsert_asset(Asset("press-7", "plant-a", "press 7", node_id=NODE))
    async with pipeline(store) as (pipe, link, metrics):
        old = Board(link, NODE, tmp_path / "old")
        for _ in range(5):  # boots 1..5: more than the 4 boots the gateway tracks
            await old.run(12)
            await old.settle()
            old.reboot()
        await old.run(12)
        await old.settle()
        assert old.node.boot_id == 6
        await until(lambda: store.node(NODE) is not None and store.node(NODE).boot_id == 6)  # type: ignore[union-attr]
        old_frames = store.recent_frames(NODE, limit=1000)
        runtime_before = old.node.rt.runtime_s
        assert runtime_before > 0

        # A wiped board flashed without the command: boot 1, refused like any old boot.
        wiped = Board(link, NODE, tmp_path / "wiped")
        await wiped.run(6)
        assert wiped.node.boot_id == 1
        await until(lambda: _stale(metrics) >= 1)
        assert len(store.recent_frames(NODE, limit=1000)) == len(old_frames)

        # The operator's command, then the board flashed with the node.json it wrote.
        ident = board_replace.replace_board(store, sdir, NODE, by="ana")
        assert ident["boot_base"] == 7
        assert ident["counters"]["runtime_s"] >= runtime_before - 12
        new_dir = tmp_path / "new"
        new_dir.mkdir()
        shutil.copy(sdir / "nodes" / NODE / "node.json", new_dir / "node.json")
        new = Board(link, NODE, new_dir)
        await new.run(12)
        await new.settle()
        assert new.node.boot_id == 7
        assert new.node.rt.runtime_s >= ident["counters"]["runtime_s"]
        await until(lambda: store.node(NODE).boot_id == 7)  # type: ignore[union-attr]
        stored_new = [f for f in store.recent_frames(NODE, limit=1000) if f.boot_id == 7]
        assert stored_new and stored_new[-1].seq == 0  # the birth and what followed
        # Its next boot goes on from there (the base applies to a blank flash and later).
        new.reboot()
        await new.run(6)
        await new.settle()
        assert new.node.boot_id == 8

        # Replays of the old board's frames (any boot) are still refused.
        dup0 = float(metrics.get("kizashi_frames_duplicate_total") or 0)
        stale0 = _stale(metrics)
        n_stored = len(store.recent_frames(NODE, limit=2000))
        replay = old_frames[:30]
        assert len(replay) >= 15
        for f in replay:
            new.port.write(encode_serial(f.payload))
        await until(
            lambda: (
                float(metrics.get("kizashi_frames_duplicate_total") or 0)
                + _stale(metrics)
                - dup0
                - stale0
                >= len(replay)
            )
        )
        assert len(store.recent_frames(NODE, limit=2000)) == n_stored
        assert pipe.stored > 0

    ev = [e for e in store.events(node_id=NODE, limit=500) if e.code == "board_replaced"]
    assert len(ev) == 1
    assert ev[0].detail["asset_id"] == "press-7" and ev[0].detail["boot_base"] == 7
    assert ev[0].detail["by"] == "ana"
    # The asset keeps its binding and history: hourly points from both boards.
    assert store.asset_for_node(NODE).asset_id == "press-7"  # type: ignore[union-attr]


def test_replace_keeps_wifi_rotates_password(store: Store, tmp_path: Path) -> None:
    sdir = tmp_path / "secrets"
    add_node(sdir, NODE, "10.0.0.5", 1884)
    path = sdir / "nodes" / NODE / "node.json"
    cfg = json.loads(path.read_text())
    cfg["wifi_ssid"], cfg["wifi_password"] = "plant-iot", "secret-wifi"
    path.write_text(json.dumps(cfg))
    ident = board_replace.replace_board(store, sdir, NODE)
    assert ident["boot_base"] == 1 and ident["counters"] == {
        "runtime_s": 0,
        "starts": 0,
        "life_s": 0,
    }
    assert ident["wifi_ssid"] == "plant-iot" and ident["mqtt_host"] == "10.0.0.5"
    assert ident["mqtt_port"] == 1884 and ident["mqtt_password"] != cfg["mqtt_password"]
    assert ident["fleet_key"] == cfg["fleet_key"] and len(cfg["fleet_key"]) == 64
    assert json.loads(path.read_text()) == ident
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    kept = board_replace.replace_board(store, sdir, NODE, rotate=False)
    assert kept["mqtt_password"] == ident["mqtt_password"]


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sdir, db = tmp_path / "secrets", str(tmp_path / "gw.db")
    add_node(sdir, NODE)
    args = ["--secrets", str(sdir), "replace", NODE, "--db", db, "--by", "ana"]
    assert node_cli.main(args) == 2  # never seen, bound to nothing: a typo, not a board
    assert "unknown to the gateway" in capsys.readouterr().err
    s = open_store(db)
    s.upsert_asset(Asset("press-7", "plant-a", "press 7", node_id=NODE))
    s.close()
    assert node_cli.main(args) == 0
    out = capsys.readouterr().out
    assert "boots continue at 1" in out and f"kizashi node flash --port PORT --node {NODE}" in out
    s = open_store(db)
    assert [e.code for e in s.events(node_id=NODE)] == ["board_replaced"]
    s.close()
