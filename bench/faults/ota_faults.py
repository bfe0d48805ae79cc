"""Power cuts during over-the-air updates (issue 16 item 5).

The gateway's own update path (gateway.updates.UpdateSender through an IngestPipeline and a
SerialLink, SQLite store) sends a signed build to a virtual board process
(`python -m firmware.host.vboard`, the unchanged firmware Node on a pty). The board process is
SIGKILLed at random moments: while the manifest, the files or the commit travel, and once on the
trial boot of the new build. After every cut, with the board off, its flash is judged as the
next boot would use it: the slot table must read, and the slot it points to must be the old
build or the whole new one (every file byte for byte, manifest present), never a mix. The board
is powered on again on the same flash; its birth must name the old or the new slot. At the end
the update must be confirmed (the node's `update_ok`, the sender's `confirmed`) and the flash
must run the new build.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.faults.common import ROOT, Result, rng, workdir

NODE = "ota-cut-1"
CONFIG = {"window": 256, "window_s": 2, "report_s": 4, "alarm_report_s": 2}
SPEED = 10.0


class VBoard:
    """One virtual board process on a flash directory; its pty is reached through `link`."""

    def __init__(self, flash: Path, link: Path) -> None:
        self.flash = flash
        self.link = link
        self.proc: subprocess.Popen[str] | None = None
        self.starts = 0

    def start(self) -> None:
        cmd = [
            sys.executable, "-m", "firmware.host.vboard", "--node", NODE,
            "--flash-dir", str(self.flash), "--speed", str(SPEED), "--link", str(self.link),
        ]  # fmt: skip
        if self.starts == 0:
            cmd += ["--config-json", json.dumps(CONFIG)]  # deployed once; then on the flash
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        assert self.proc.stdout is not None
        if not self.proc.stdout.readline():
            raise RuntimeError("virtual board did not start")
        self.starts += 1

    def cut(self) -> None:
        """Power off: SIGKILL wherever the firmware is (RAM lost, flash as it is)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None


def judge_flash(flash: Path, build: Any) -> tuple[int, str]:
    """(slot the next boot runs, '' or what is wrong) for a board that is off."""
    from firmware import ota
    from firmware.fsio import VfsFS

    fs = VfsFS(str(flash))
    t = ota.Table(fs)
    slot = t.active
    if slot == 0:
        return 0, ""  # the factory (old) build at the root
    if fs.read(ota.slot_path(slot, ota.MANIFEST)) != build.manifest:
        return slot, f"slot {slot} active without the build's manifest"
    for name, data in build.files:
        got = fs.read(ota.slot_path(slot, name))
        if got != data:
            return slot, f"slot {slot} active with {name} not the build's ({len(got or b'')} B)"
    return slot, ""


async def _campaign(cuts_wanted: int, seed_rng: Any, d: Path) -> dict[str, Any]:
    from gateway.ingest import IngestPipeline, PipelineConfig
    from gateway.metrics import Metrics
    from gateway.serial_link import SerialLink
    from gateway.store.sqlite import SqliteStore
    from gateway.updates import UpdateSender, fleet_key, fleet_public_key, make_build

    secrets = d / "secrets"
    flash = d / "flash"
    flash.mkdir()
    key = fleet_public_key(secrets).hex()
    (flash / "node.json").write_text(
        json.dumps({"node_id": NODE, "transport": "serial", "fleet_key": key})
    )
    src = d / "build"
    for name, size in (("firmware/node.mpy", 3000), ("protocol/frames.mpy", 2000)):
        p = src / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(bytes(seed_rng.randrange(256) for _ in range(size)))
    build = make_build(src, "0.2.0", fleet_key(secrets))

    store = SqliteStore(d / "gw.db")
    metrics = Metrics()
    cfg = PipelineConfig(batch_interval_s=0.05, housekeeping_s=0.1, clock_tolerance_s=1e9)
    pipe = IngestPipeline(store, metrics, cfg)
    births: list[int | None] = []
    pipe.observers.append(
        lambda f, live: births.append(f["info"].get("slot")) if f["kind"] == "birth" else None
    )
    board = VBoard(flash, d / "tty")
    board.start()
    link = SerialLink(str(d / "tty"), metrics=metrics, reopen_s=0.1, allowed_nodes=(NODE,))
    pipe.add_link(link)
    tasks = [asyncio.create_task(pipe.run()), asyncio.create_task(link.run(pipe))]
    bad: list[str] = []
    phases: dict[str, int] = {}
    slots_after_cut: list[int] = []
    t0 = time.monotonic()
    try:
        while not births and time.monotonic() - t0 < 20:
            await asyncio.sleep(0.05)
        sender = UpdateSender(
            pipe, NODE, build, chunk=96, answer_timeout_s=0.8, attempts=100,
            confirm_timeout_s=120,
        )  # fmt: skip
        run = asyncio.create_task(sender.run())
        # Cut points: random command counts over the transfer (manifest, files, commit), then
        # one after the commit, on the trial boot.
        total = _commands_needed(build, 96)
        points = sorted(seed_rng.sample(range(1, total + 1), min(cuts_wanted - 1, total)))
        cuts = 0
        trial = cuts_wanted > 0
        while not run.done() and (points or trial):
            if points and sender.commands >= points[0] and sender.state == "sending":
                points.pop(0)
                phase = _phase(sender)
            elif sender.state == "committed" and trial:
                trial = False
                points.clear()
                await asyncio.sleep(seed_rng.uniform(0.0, 2.5))  # reboot, birth or first report
                phase = "trial"
            elif sender.state not in ("idle", "sending"):
                points.clear()
                await asyncio.sleep(0.01)
                continue
            else:
                await asyncio.sleep(0.005)
                continue
            board.cut()
            cuts += 1
            phases[phase] = phases.get(phase, 0) + 1
            slot, why = judge_flash(flash, build)
            slots_after_cut.append(slot)
            if why:
                bad.append(f"cut {cuts} ({phase}): {why}")
            await asyncio.sleep(seed_rng.uniform(0.05, 0.3))  # off
            board.start()
        state = await asyncio.wait_for(run, 180)
        slot, why = judge_flash(flash, build)
        if why:
            bad.append("at the end: " + why)
        return {
            "cuts": cuts,
            "cuts_by_phase": phases,
            "slot_after_each_cut": slots_after_cut,
            "birth_slots": births,
            "update": state,
            "reason": sender.reason,
            "target_slot": sender.target_slot,
            "final_slot": slot,
            "commands": sender.commands,
            "resends": sender.resends,
            "wrong": bad,
            "seconds": round(time.monotonic() - t0, 1),
        }
    finally:
        board.cut()
        pipe.stop()
        await asyncio.gather(tasks[0], return_exceptions=True)
        tasks[1].cancel()
        await asyncio.gather(tasks[1], return_exceptions=True)
        store.close()


def _commands_needed(build: Any, chunk: int) -> int:
    n = -(-len(build.manifest) // chunk) + 2  # manifest, begin, commit
    return n + sum(-(-len(data) // chunk) for _, data in build.files)


def _phase(sender: Any) -> str:
    """Rough phase of the transfer for the figures: manifest until `begin` answered."""
    return "files" if sender.target_slot is not None else "manifest"


def ota_power_cut(quick: bool) -> Result:
    r = rng()
    wanted = 5 if quick else 25
    res = Result(
        "ota_power_cut",
        "Power cuts during an over-the-air update (virtual board process, SIGKILL)",
        False,
        f"{wanted} random cuts (at most one on the trial boot) while the gateway's UpdateSender "
        "sends a signed build: after every cut the slot the next boot runs is the old build or "
        "the whole new one (never a mix); every birth names one of them; the update is "
        "confirmed at the end and the flash runs the new build",
    )
    with workdir("ota-cut") as d:
        fig = asyncio.run(_campaign(wanted, r, d))
    res.figures = fig
    allowed = {0, fig["target_slot"]}
    odd_births = [s for s in fig["birth_slots"] if s not in allowed]
    if odd_births:
        fig["wrong"].append(f"births with slots {odd_births}")
    res.passed = (
        not fig["wrong"]
        and fig["update"] == "confirmed"
        and fig["final_slot"] == fig["target_slot"]
        and fig["cuts"] >= min(3, wanted)
    )
    return res
