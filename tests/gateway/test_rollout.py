"""Staged rollouts (gateway.rollout): canaries first, the rest only when every canary is
confirmed, halted when one rolls back or fails; through the real pipeline to real firmware
Nodes, results in the rollout file and as events on the nodes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from firmware import ota
from firmware.fsio import VfsFS
from gateway import node_cli
from gateway.rollout import RolloutRunner, load_build, plan_rollout
from gateway.store.api import Asset, Store
from gateway.updates import UpdateSender, fleet_key, fleet_public_key, make_build
from tests.gateway.fwharness import Board, pipeline
from tests.gateway.test_updates import _src

pytestmark = pytest.mark.timeout(240)


def _flash(tmp_path: Path, node: str, key_dir: Path) -> Path:
    flash = tmp_path / node
    flash.mkdir()
    (flash / "node.json").write_text(
        json.dumps(
            {"node_id": node, "transport": "serial", "fleet_key": fleet_public_key(key_dir).hex()}
        )
    )
    return flash


async def _run(store: Store, tmp_path: Path, bad_canary: bool) -> tuple[dict, list[Board]]:  # type: ignore[type-arg]
    sdir, data = tmp_path / "secrets", tmp_path / "data"
    nodes = ["n1", "n2", "n3", "n4"]
    build = make_build(_src(tmp_path, "0.2.0"), "0.2.0", fleet_key(sdir))
    doc = plan_rollout(data, build, nodes, 0.25, 1_700_000_000.0)
    assert doc["canaries"] == ["n1"] and doc["rest"] == ["n2", "n3", "n4"]
    assert load_build(data, "0.2.0") == build
    async with pipeline(store) as (pipe, link, _):
        boards = [
            Board(
                link,
                n,
                _flash(tmp_path, n, tmp_path / "other" if bad_canary and n == "n1" else sdir),
            )
            for n in nodes
        ]
        for b in boards:
            await b.run(3)

        def sender(p, node, b):  # type: ignore[no-untyped-def]
            return UpdateSender(p, node, b, answer_timeout_s=0.3, confirm_timeout_s=60)

        runner = RolloutRunner(pipe, store, data, parallel=2, sender_factory=sender)
        task = asyncio.create_task(runner.step())
        while not task.done():
            for b in boards:
                await b.run(0.25, step_ms=250)
        await task
        assert pipe.observers == [] or all(
            not isinstance(getattr(o, "__self__", None), UpdateSender) for o in pipe.observers
        )
    path = data / "rollouts" / (doc["id"] + ".json")
    return json.loads(path.read_text()), boards


def test_rollout_confirms_canaries_then_the_rest(store: Store, tmp_path: Path) -> None:
    doc, boards = asyncio.run(_run(store, tmp_path, bad_canary=False))
    assert doc["state"] == "done"
    assert {n: r["state"] for n, r in doc["results"].items()} == dict.fromkeys(
        ["n1", "n2", "n3", "n4"], "confirmed"
    )
    for b in boards:
        assert ota.Table(VfsFS(str(b.flash_dir))).active == 1
    ev = [e for e in store.events(limit=500) if e.code == "update_confirmed"]
    assert sorted(e.node_id for e in ev) == ["n1", "n2", "n3", "n4"]


def test_a_failed_canary_halts_the_rollout(store: Store, tmp_path: Path) -> None:
    doc, boards = asyncio.run(_run(store, tmp_path, bad_canary=True))
    assert doc["state"] == "halted" and doc["reason"] == "canary n1: failed"
    assert doc["results"] == {"n1": {"state": "failed", "reason": "bad_signature"}}
    for b in boards:  # nobody runs the new build
        assert ota.Table(VfsFS(str(b.flash_dir))).active == 0
    ev = [e for e in store.events(limit=500) if e.code.startswith("update_")]
    assert [(e.node_id, e.code, e.detail["reason"]) for e in ev] == [
        ("n1", "update_failed", "bad_signature")
    ]


def test_cli_plans_a_site_rollout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.store import open_store

    db = str(tmp_path / "gw.db")
    s = open_store(db)
    s.upsert_asset(Asset("a1", "plant-a", "m", node_id="n1"))
    s.upsert_asset(Asset("a2", "plant-a", "m", node_id="n2"))
    s.upsert_asset(Asset("a3", "plant-b", "m", node_id="n3"))
    s.close()
    common = ["--db", db, "--data-dir", str(tmp_path / "data"), "--secrets", str(tmp_path / "s")]
    build = str(_src(tmp_path, "0.3.0"))
    args = ["update", "--build", build, "--version", "0.3.0", "--site", "plant-a", *common]
    assert node_cli.main(args) == 0
    assert "1 canary node(s) first, then 1" in capsys.readouterr().out
    assert node_cli.main(["update", "--status", *common]) == 0
    assert "-0.3.0: running" in capsys.readouterr().out
    bad = ["update", "--build", build, "--version", "0.3.0", "--site", "nowhere", *common]
    assert node_cli.main(bad) == 2
