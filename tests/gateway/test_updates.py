"""Over-the-air update end to end: gateway.updates.UpdateSender through the real pipeline and
loopback link to the real firmware Node (firmware/ota.py), with the real store."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from firmware import ed25519, ota, ota_stage
from firmware.fsio import VfsFS
from gateway.store.api import Store
from gateway.updates import UpdateSender, fleet_key, fleet_public_key, make_build
from tests.gateway.fwharness import Board, pipeline

pytestmark = pytest.mark.timeout(180)
NODE = "pump-1"


def _src(tmp_path: Path, version: str) -> Path:
    src = tmp_path / ("build-" + version)
    for name, size in (
        ("firmware/node.mpy", 3000),
        ("firmware/ota.mpy", 1200),
        ("protocol/frames.mpy", 2000),
    ):
        p = src / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes((version.encode() * size)[:size])
    return src


def test_fleet_key_and_signed_build(tmp_path: Path) -> None:
    sdir = tmp_path / "secrets"
    pub = fleet_public_key(sdir)
    assert fleet_public_key(sdir) == pub  # created once, then read
    assert oct((sdir / "fleet_ed25519.json").stat().st_mode & 0o777) == "0o600"
    b = make_build(_src(tmp_path, "0.2.0"), "0.2.0", fleet_key(sdir))
    # what the node checks: the signature of the manifest's SHA-256
    assert ed25519.verify(pub, ota_stage.signed_message(b.manifest), b.signature)
    assert not ed25519.verify(pub, b.manifest, b.signature)
    version, files = ota_stage.parse_manifest(b.manifest)
    assert version == "0.2.0" and [f[0] for f in files] == [n for n, _ in b.files]
    with pytest.raises(ValueError):
        make_build(tmp_path / "empty", "x", fleet_key(sdir))


def test_update_reaches_the_node_resumes_and_is_confirmed(store: Store, tmp_path: Path) -> None:
    asyncio.run(_update(store, tmp_path))


async def _update(store: Store, tmp_path: Path) -> None:
    sdir = tmp_path / "secrets"
    flash = tmp_path / "flash"
    flash.mkdir()
    node_json = {"node_id": NODE, "transport": "serial", "fleet_key": fleet_public_key(sdir).hex()}
    (flash / "node.json").write_text(json.dumps(node_json))
    build = make_build(_src(tmp_path, "0.2.0"), "0.2.0", fleet_key(sdir))
    async with pipeline(store) as (pipe, link, _):
        board = Board(link, NODE, flash)
        await board.run(6)
        await board.settle()
        sender = UpdateSender(
            pipe, NODE, build, chunk=64, answer_timeout_s=0.3, confirm_timeout_s=60
        )
        task = asyncio.create_task(sender.run())
        rebooted = dropped = False
        polled = 0
        while not task.done():
            if not rebooted and sender.commands >= 30:
                board.reboot()  # a power cut in the middle of the transfer
                rebooted = True
            if not dropped and sender.commands >= 60:
                dropped = True
                for _ in range(40):  # a broken link: commands and answers lost
                    board.port.read()
                    await asyncio.sleep(0.02)
            await board.run(0.25, step_ms=250)
            polled += 1
            assert polled < 3000, (sender.state, sender.commands)
        assert rebooted and dropped, (sender.commands, sender.state, sender.reason)
        assert await task == "confirmed", sender.reason
        assert sender.resends > 0 and sender.target_slot == 1
    t = ota.Table(VfsFS(str(flash)))
    assert (t.active, t.state, t.updates, t.rollbacks) == (1, ota.CONFIRMED, 1, 0)
    for name, data in build.files:
        assert (flash / "ota1" / name).read_bytes() == data
    assert board.node.birth_info()["slot"] == 1
    assert os.path.exists(flash / "ota1" / ota.MANIFEST)


def test_refused_build_fails_with_the_nodes_reason(store: Store, tmp_path: Path) -> None:
    async def go() -> None:
        sdir = tmp_path / "secrets"
        flash = tmp_path / "flash"
        flash.mkdir()
        other = tmp_path / "other"
        (flash / "node.json").write_text(json.dumps(
            {"node_id": NODE, "transport": "serial", "fleet_key": fleet_public_key(other).hex()}
        ))  # fmt: skip
        build = make_build(_src(tmp_path, "0.2.0"), "0.2.0", fleet_key(sdir))
        async with pipeline(store) as (pipe, link, _):
            board = Board(link, NODE, flash)
            await board.run(3)
            sender = UpdateSender(pipe, NODE, build, answer_timeout_s=0.3)
            task = asyncio.create_task(sender.run())
            while not task.done():
                await board.run(0.5, step_ms=250)
            assert await task == "failed" and sender.reason == "bad_signature"
        assert ota.Table(VfsFS(str(flash))).active == 0

    asyncio.run(go())
