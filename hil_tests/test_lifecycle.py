"""Node lifecycle on the bench: configuration from the registry, an over-the-air update that
is interrupted and resumed, a rollback of a build that never reaches the gateway, and a board
replacement. The bench plays the gateway (it acks every frame, so a build on trial is
confirmed by its first acked report)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from firmware import ota
from gateway.node_config import NodeConfigSettings, config_hash, desired_config
from gateway.store.api import Asset
from gateway.updates import Build, fleet_key, fleet_public_key, make_build
from hil_tests.stimulus import RUNNING

BASE = {"window": 256, "window_s": 2, "report_s": 10, "alarm_report_s": 2}
SLOW = {"window": 256, "window_s": 5, "report_s": 60, "alarm_report_s": 5}


def _build(tmp_path: Path, version: str) -> Build:
    src = tmp_path / ("build-" + version)
    for name, size in (("firmware/node.mpy", 2500), ("protocol/frames.mpy", 1500)):
        p = src / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes((version.encode() * size)[:size])
    return make_build(src, version, fleet_key(tmp_path / "secrets"))


def _node_json(board_node: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    key = fleet_public_key(tmp_path / "secrets").hex()
    return {"node_id": board_node, "transport": "serial", "fleet_key": key, **extra}


def _ok(board, args: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    ans = board.command("update", args, timeout_sim=30)
    assert ans["code"] == "cmd_ok", ans
    return ans["detail"]


def _commit(board) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The gateway's commit: asked again while the node answers `verifying` (its signature
    and file checks run a slice per loop step)."""
    for _ in range(120):
        ans = board.command("update", {"op": "commit"}, timeout_sim=30)
        if ans["code"] == "cmd_ok":
            return dict(ans["detail"])
        assert ans["detail"].get("why") == "verifying", ans
        time.sleep(0.25)
    raise AssertionError("the node kept verifying")


def _send_files(board, build: Build, start: tuple[int, int], stop_after: int = 0) -> int:  # type: ignore[no-untyped-def]
    """put commands from (file, offset); returns how many were sent (stop early if asked)."""
    sent = 0
    i, off = start
    while i < len(build.files):
        data = build.files[i][1]
        if off >= len(data):
            i, off = i + 1, 0
            continue
        _ok(board, {"op": "put", "i": i, "off": off, "d": data[off : off + 200]})
        off += 200
        sent += 1
        if stop_after and sent >= stop_after:
            break
    return sent


def _stage(board, build: Build) -> None:  # type: ignore[no-untyped-def]
    m = build.manifest
    for off in range(0, len(m), 200):
        _ok(board, {"op": "man", "off": off, "d": m[off : off + 200]})
    _ok(board, {"op": "begin", "sig": build.signature})


def test_registry_configuration_push(board_factory, record):
    """The gateway's configuration from the registry applied whole; its hash reported."""
    board = board_factory(config=BASE, stimulus=RUNNING, speed=15.0)
    info = board.birth["info"]
    asset = Asset("press-7", "plant-a", "press 7", zone_limits=(2.0, 4.0, 6.0))
    want = desired_config(asset, NodeConfigSettings(report_s=10, window_s=2), info)
    ans = board.command("config", want)
    record.equal("config answer", ans["code"], "cmd_ok")
    record.equal("cfg_hash in cmd_ok", ans["detail"].get("cfg_hash"), config_hash(want))
    birth = board.reset()
    record.equal("cfg_hash after reset", birth["info"]["cfg_hash"], config_hash(want))
    record.assert_all()


def test_update_interrupted_then_confirmed(board_factory, record, tmp_path):
    """Update cut by a power loss mid-transfer, resumed where the flash is, then confirmed."""
    board = board_factory(
        config=BASE, stimulus=RUNNING, speed=15.0, node_json=_node_json("hil01", tmp_path)
    )
    build = _build(tmp_path, "0.2.0")
    _stage(board, build)
    _send_files(board, build, (0, 0), stop_after=6)
    board.power_cut()
    st = _ok(board, {"op": "status"})
    record.check(
        "resume point after the power cut",
        (st.get("file"), st.get("off")),
        (st.get("file"), st.get("off")) == (0, 1200),
        "(file 0, offset 1200)",
    )
    _send_files(board, build, (st["file"], st["off"]))
    m = board.bench.mark()
    _commit(board)
    birth = board.wait_birth(m, board.timeout(30))
    record.equal("slot in the next birth", birth["info"].get("slot"), 1)
    ok = board.bench.wait_frame(
        m, lambda f: f["kind"] == "event" and f["code"] == "update_ok", board.timeout(60),
        "update_ok",
    )  # fmt: skip
    record.equal("update_ok slot", ok["detail"].get("slot"), 1)
    t = ota.Table(_flash_fs(board))
    record.equal("table: slot, state, rollbacks", (t.active, t.state, t.rollbacks), (1, 0, 0))
    record.assert_all()


def test_update_rolled_back_when_it_never_reports(board_factory, record, tmp_path):
    """A build that resets before its first report is acked is rolled back after 3 tries."""
    board = board_factory(
        config=SLOW, stimulus=RUNNING, speed=20.0, node_json=_node_json("hil01", tmp_path)
    )
    build = _build(tmp_path, "0.3.0")
    _stage(board, build)
    _send_files(board, build, (0, 0))
    m = board.bench.mark()
    _commit(board)
    slots = [board.wait_birth(m, board.timeout(30))["info"].get("slot")]
    for _ in range(ota.MAX_TRIES):  # cut each trial boot before its first report (60 s)
        slots.append(board.power_cut()["info"].get("slot"))
    record.equal("slots of the boots after the commit", slots, [1, 1, 1, 0])
    record.equal("rollbacks in the last birth", board.birth["info"].get("rollbacks"), 1)
    oks = [f for f in board.bench.since(m, "event") if f["code"] == "update_ok"]
    record.equal("update_ok events", len(oks), 0)
    record.assert_all()


def test_board_replacement_continues_boot_ids(board_factory, record, tmp_path):
    """A new board with the node.json of `kizashi node replace`: boot ids and counters go on."""
    old = board_factory(config=BASE, stimulus=RUNNING, speed=15.0)
    old.reset()
    last = old.bench.wait_reports(old.bench.mark(), 2, old.timeout(30))[-1]
    base = old.birth["boot"] + 1
    counters = {"runtime_s": last["runtime_s"], "starts": last["starts"], "life_s": 0}
    old.stop()
    new = board_factory(
        config=BASE,
        stimulus=RUNNING,
        speed=15.0,
        node_json=_node_json("hil01", tmp_path, boot_base=base, counters=counters),
    )
    info = new.birth["info"]
    record.equal("first boot id of the new board", new.birth["boot"], base)
    record.check(
        "runtime carried over (s)",
        info["runtime_s"],
        info["runtime_s"] >= counters["runtime_s"],
        f">= {counters['runtime_s']}",
    )
    record.equal("starts carried over", info["starts"], counters["starts"])
    record.assert_all()


def _flash_fs(board):  # type: ignore[no-untyped-def]
    from firmware.fsio import VfsFS

    return VfsFS(str(board.flash))
