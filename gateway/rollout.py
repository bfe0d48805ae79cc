"""Staged over-the-air rollouts: `kizashi node update` plans one, the gateway runs it.

    kizashi node update --build DIR --version V (--node ID ... | --site S | --all)
                        [--canary-share 0.1] [--db URL] [--data-dir DIR] [--secrets DIR]
    kizashi node update --status [--data-dir DIR]

The command signs the build with the fleet key (gateway.updates.make_build), stores it under
`<data_dir>/updates/<version>/` and writes a rollout file `<data_dir>/rollouts/<id>.json`
(written whole and renamed into place). The gateway's supervised task `rollout`
(`RolloutRunner`) picks up running rollouts: first the canaries (the share `canary_share` of
the target nodes, at least one, in node-id order), each through `UpdateSender`, at most
`parallel` at a time; if every canary is confirmed it goes on with the rest, and if any
canary rolls back or fails the rollout is **halted** there with the reason, and the rest of
the fleet keeps its build. Each node's result is stored in the rollout file and as a gateway
event on the node (`update_confirmed`, `update_rolled_back`, `update_failed`), which the asset
and nodes pages show. The command and the gateway share nothing but these files, so it needs
no connection to the running gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gateway.metrics import REGISTRY
from gateway.store.api import EventRecord, Store, WriteBatch
from gateway.updates import Build, CommandQueue, UpdateSender, fleet_key, make_build

__all__ = ["RolloutRunner", "load_build", "main", "plan_rollout"]

RESULT_EVENTS = {
    "confirmed": "update_confirmed",
    "rolled_back": "update_rolled_back",
    "failed": "update_failed",
}


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
    os.replace(tmp, path)


def save_build(data_dir: Path, build: Build) -> Path:
    d = data_dir / "updates" / build.version
    d.mkdir(parents=True, exist_ok=True)
    for name, data in build.files:
        p = d / "files" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (d / "manifest.json").write_bytes(build.manifest)
    (d / "manifest.sig").write_bytes(build.signature)
    return d


def load_build(data_dir: Path, version: str) -> Build:
    d = data_dir / "updates" / version
    manifest = (d / "manifest.json").read_bytes()
    doc = json.loads(manifest)
    files = tuple((name, (d / "files" / name).read_bytes()) for name, _, _ in doc["files"])
    return Build(doc["version"], manifest, (d / "manifest.sig").read_bytes(), files)


def plan_rollout(
    data_dir: Path, build: Build, nodes: Sequence[str], canary_share: float, now: float
) -> dict[str, Any]:
    if not nodes:
        raise ValueError("no target nodes")
    if not 0.0 < canary_share <= 1.0:
        raise ValueError("canary share must be in (0, 1]")
    save_build(data_dir, build)
    targets = sorted(set(nodes))
    n_canary = max(1, math.ceil(canary_share * len(targets)))
    rid = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + "-" + build.version
    doc = {
        "id": rid,
        "version": build.version,
        "state": "running",
        "reason": "",
        "created": now,
        "canaries": targets[:n_canary],
        "rest": targets[n_canary:],
        "results": {},
    }
    _write_json(data_dir / "rollouts" / (rid + ".json"), doc)
    return doc


class RolloutRunner:
    """Runs the rollout files of `data_dir` (see the module docstring)."""

    def __init__(
        self,
        pipeline: CommandQueue,
        store: Store,
        data_dir: Path,
        parallel: int = 4,
        poll_s: float = 5.0,
        sender_factory: Callable[[CommandQueue, str, Build], UpdateSender] = UpdateSender,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.dir = data_dir / "rollouts"
        self.data_dir = data_dir
        self.parallel = parallel
        self.poll_s = poll_s
        self.sender_factory = sender_factory
        self.clock = clock

    async def run(self) -> None:
        while True:
            await self.step()
            await asyncio.sleep(self.poll_s)

    async def step(self) -> None:
        for path in sorted(self.dir.glob("*.json")) if self.dir.exists() else []:
            doc = json.loads(path.read_text())
            if doc.get("state") == "running":
                await self._run(path, doc)

    async def _run(self, path: Path, doc: dict[str, Any]) -> None:
        build = load_build(self.data_dir, doc["version"])
        sem = asyncio.Semaphore(self.parallel)
        for stage in ("canaries", "rest"):
            todo = [n for n in doc[stage] if n not in doc["results"]]

            async def one(node: str) -> None:
                async with sem:
                    sender = self.sender_factory(self.pipeline, node, build)
                    try:
                        state = await sender.run()
                    finally:
                        self.pipeline.observers.remove(sender.observe)
                    doc["results"][node] = {"state": state, "reason": sender.reason}
                    _write_json(path, doc)
                    await asyncio.to_thread(self._record, node, doc, state, sender.reason)

            await asyncio.gather(*(one(n) for n in todo))
            if stage == "canaries":
                bad = [n for n in doc["canaries"] if doc["results"][n]["state"] != "confirmed"]
                if bad:
                    doc["state"] = "halted"
                    doc["reason"] = "canary " + ", ".join(
                        f"{n}: {doc['results'][n]['state']}" for n in bad
                    )
                    _write_json(path, doc)
                    return
        doc["state"] = "done"
        _write_json(path, doc)

    def _record(self, node: str, doc: dict[str, Any], state: str, reason: str) -> None:
        code = RESULT_EVENTS.get(state, "update_failed")
        REGISTRY.inc("kizashi_updates_total", result=code.removeprefix("update_"))
        detail: dict[str, object] = {"version": doc["version"], "rollout": doc["id"]}
        if reason:
            detail["reason"] = reason[:64]
        ev = EventRecord(self.clock(), node, code, detail, None, None, "gateway")
        self.store.write_batch(WriteBatch(events=[ev]))


def _targets(store: Store, args: argparse.Namespace) -> list[str]:
    if args.node:
        return list(args.node)
    assets = store.assets(site=args.site) if args.site else store.assets()
    nodes = [a.node_id for a in assets if a.node_id]
    if args.site and not nodes:
        raise ValueError(f"no nodes bound to assets of site {args.site!r}")
    return nodes


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog="kizashi node update", description=__doc__.split("\n")[0])
    ap.add_argument("--build", type=Path, help="mpy-cross build dir (firmware/, protocol/)")
    ap.add_argument("--version")
    who = ap.add_mutually_exclusive_group()
    who.add_argument("--node", action="append", help="a node id (repeatable)")
    who.add_argument("--site")
    who.add_argument("--all", action="store_true")
    ap.add_argument("--canary-share", type=float, default=0.1)
    ap.add_argument("--status", action="store_true", help="list rollouts and their results")
    ap.add_argument("--db", default=os.environ.get("KIZASHI_DB", "data/kizashi.db"))
    ap.add_argument("--data-dir", type=Path, default=Path("data"))
    ap.add_argument("--secrets", default=os.environ.get("KIZASHI_SECRETS", "data/secrets"))
    args = ap.parse_args(list(argv))
    if args.status:
        for p in sorted((args.data_dir / "rollouts").glob("*.json")):
            d = json.loads(p.read_text())
            done = ", ".join(f"{n} {r['state']}" for n, r in sorted(d["results"].items()))
            print(
                f"{d['id']}: {d['state']} {d['reason']}".rstrip() + (f" ({done})" if done else "")
            )
        return 0
    if args.build is None or not args.version or not (args.node or args.site or args.all):
        ap.error("--build, --version and one of --node/--site/--all are needed")
    from gateway.store import open_store

    store = open_store(args.db)
    try:
        build = make_build(args.build, args.version, fleet_key(Path(args.secrets)))
        doc = plan_rollout(
            args.data_dir, build, _targets(store, args), args.canary_share, time.time()
        )
    except (ValueError, OSError) as e:
        print(f"kizashi node update: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(
        f"rollout {doc['id']}: {len(doc['canaries'])} canary node(s) first, then"
        f" {len(doc['rest'])}; the gateway runs it (kizashi node update --status)"
    )
    return 0
