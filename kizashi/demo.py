"""`kizashi demo`: the whole system on one machine, with no outside service.

What runs, all in this process:
- `kizashi.app.serve`, the same wiring as `kizashi gateway run`: the gateway's tasks (pipeline,
  health, outlook, retention, rollouts) over an SQLite store in the data directory, and the
  fleet page (waitress) at http://HOST:PORT;
- N simulated nodes running the real firmware code (firmware.host) on simulated machines,
  each speaking the framed serial protocol over an in-process loopback link (an extra link of
  serve) into the same deframer and pipeline as a real serial port. firmware.host puts its
  stand-in `machine`/`network` modules into this process: only the demo's, never a gateway's
  (the gateway and page packages never import the firmware, tests/test_layers.py).

Time: the fleet starts `--history-days` in the past and runs `--speed` times faster than
the wall clock until it catches up with now, then at real time. The gateway uses the same
simulated clock, so backlogs, wear and forecasts develop within minutes. A second start on
the same data directory resumes where the first stopped (boot ids go up, counters persist).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.config import GatewayConfig, HttpConfig
from gateway.ingest import PipelineConfig
from gateway.links import LoopbackLink
from gateway.node_config import NodeConfigSettings
from gateway.service import ServiceContext
from gateway.store import open_store
from gateway.store.api import Store, User
from kizashi.app import serve
from kizashi.demo_fleet import (
    DEMO_SITE_ZONES,
    DEMO_SITES,
    HISTORY_SEED_DAYS,
    demo_assets,
    demo_windows,
)
from kizashi.demo_history import seed_history

log = logging.getLogger("kizashi.demo")


@dataclass
class DemoOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data/demo")
    nodes: int = 12
    speed: float = 600.0
    history_days: float = 3.0
    seconds: float | None = None  # stop by itself after this many wall seconds


class SimClock:
    """Simulated wall time shared by the nodes and the gateway.

    Runs `speed` times faster than the wall clock from `start_s` until it reaches the real
    time, then follows the wall clock. Thread-safe reads; the simulator thread advances it.
    """

    def __init__(self, start_s: float, speed: float) -> None:
        self.start_s = start_s
        self.speed = speed
        self._wall0 = time.time()

    def target(self) -> float:
        """Where simulated time should be now."""
        wall = time.time()
        return min(wall, self.start_s + (wall - self._wall0) * self.speed)

    def caught_up(self) -> bool:
        return self.target() >= time.time() - 1.0


class NodeClock:
    """The firmware's view of time (FakeClock interface) on the shared simulated clock.

    ticks_ms counts simulated milliseconds since the node's boot; wall_s is simulated Unix
    time, which the node learns through the gateway's time command like a real board.
    """

    _MASK = (1 << 30) - 1

    def __init__(self, boot_s: float) -> None:
        self.epoch_s = int(boot_s)
        self.ms = 0

    def ticks_ms(self) -> int:
        return self.ms & self._MASK

    def seconds(self) -> float:
        return self.ms / 1000.0

    def wall_s(self) -> int:
        return self.epoch_s + self.ms // 1000

    def advance(self, ms: int) -> None:
        self.ms += int(ms)

    def sleep_ms(self, ms: int) -> None:
        self.advance(ms)


class FleetSimulator:
    """Steps every simulated node in one thread, on the shared simulated clock.

    Nodes are polled when they ask to be (Node.poll returns its next wake-up), so a fleet
    of idle windows costs nothing between them.
    """

    def __init__(
        self, link: LoopbackLink, opts: DemoOptions, clock_start: float, origin: float
    ) -> None:
        from firmware.host import make_node
        from firmware.transports.serial import SerialTransport

        self.opts = opts
        self.sim_now = clock_start
        self.clock = SimClock(clock_start, opts.speed)
        self.stop_event = threading.Event()
        self.nodes: list[Any] = []
        self.node_clocks: list[NodeClock] = []
        self.wake_at: list[float] = []
        self.errors = 0
        for spec in demo_assets(opts.nodes):
            clock = NodeClock(clock_start)
            port = link.port(spec.node_id)
            node = make_node(
                spec.node_id,
                spec.profile,
                SerialTransport(port),
                clock,
                str(opts.data_dir / "nodes" / spec.node_id),
                # Machines keep ageing across demo restarts: simulated time since the origin.
                age_days=spec.age_days + (clock_start - origin) / 86400.0,
                config=spec.node_config,
            )
            self.nodes.append(node)
            self.node_clocks.append(clock)
            self.wake_at.append(clock_start)

    def run(self) -> None:
        while not self.stop_event.is_set():
            target = self.clock.target()
            due = min(self.wake_at)
            if due > target:
                # Nothing to do until simulated time reaches the next wake-up.
                self.sim_now = target
                wall_wait = (due - target) / (self.opts.speed if not self.clock.caught_up() else 1)
                self.stop_event.wait(min(0.05, max(0.001, wall_wait)))
                continue
            self.sim_now = due
            for i, node in enumerate(self.nodes):
                if self.wake_at[i] > due:
                    continue
                clock = self.node_clocks[i]
                clock.ms = int((due - clock.epoch_s) * 1000)
                try:
                    delay_ms = node.poll(clock.ticks_ms()) or 100
                except Exception:  # a crashed node must not stop the fleet; count it
                    self.errors += 1
                    log.exception("simulated node %s failed", node.node_id)
                    delay_ms = 1000
                self.wake_at[i] = due + max(10, min(int(delay_ms), 60_000)) / 1000.0

    def now(self) -> float:
        return self.sim_now


def _ensure_registry(store: Store, opts: DemoOptions, now: float) -> None:
    zones = {s.name: s.tz for s in store.sites()}
    for site in DEMO_SITE_ZONES:  # first start only: a zone changed on the page stays
        if site.name not in zones:
            store.set_site(site)
    known = {a.asset_id for a in store.assets()}
    for spec in demo_assets(opts.nodes):
        if spec.asset.asset_id not in known:
            store.upsert_asset(spec.asset)
    if not store.windows():
        for window in demo_windows(now):
            store.add_window(window)


def _ensure_admin(store: Store) -> str | None:
    """Creates `admin` on first start. Returns the password when this call generated it.

    KIZASHI_ADMIN_PASSWORD sets the password of `admin`, new or existing, but never undoes an
    admin's decision: a disabled or demoted `admin` stays disabled or demoted.
    """
    from fleet_web.auth import hash_password, verify_password

    wanted = os.environ.get("KIZASHI_ADMIN_PASSWORD")
    existing = store.user("admin")
    if existing is None:
        password = wanted or secrets.token_urlsafe(12)
        store.upsert_user(User("admin", hash_password(password), "admin"))
        return None if wanted else password
    if wanted and not verify_password(existing.password_hash, wanted):
        store.upsert_user(dataclasses.replace(existing, password_hash=hash_password(wanted)))
    if existing.disabled:
        print("note: user admin is disabled (another admin can enable it on the admin page)")
    return None


def _load_state(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "demo.json"
    if path.exists():
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded
    return {}


def _save_state(data_dir: Path, state: dict[str, Any]) -> None:
    """demo.json holds the session signing key: owner-only (0600) from its creation on."""
    from gateway.provision import write_private

    write_private(data_dir / "demo.json", json.dumps(state))


def demo_config(opts: DemoOptions) -> GatewayConfig:
    """The gateway's config for the demo: its SQLite file, no broker, the page on --host/--port.

    Nodes and gateway share the simulated clock, so every real millisecond of latency looks
    like `speed` ms of clock offset: the clock limits scale with it, or the gateway would send a
    time command (and log it) to every node every few simulated minutes. The registry's config
    push is off: each demo node runs its scenario's own settings (demo_fleet), on purpose.
    """
    return GatewayConfig(
        gateway_id="demo",
        data_dir=opts.data_dir,
        sqlite_synchronous="NORMAL",
        mqtt_enabled=False,
        http=HttpConfig(enabled=True, host=opts.host, port=opts.port, threads=4),
        pipeline=PipelineConfig(
            clock_tolerance_s=max(5.0, 2.0 * opts.speed),
            clock_step_s=max(300.0, 4.0 * opts.speed),
            bench=True,  # every demo node runs the simulated sensor, on purpose
        ),
        node_config=NodeConfigSettings(enabled=False),
    )


async def run_demo(opts: DemoOptions) -> int:
    """kizashi.app.serve (the gateway's tasks and the page, as `kizashi gateway run`) with the
    simulated nodes as an extra link and the simulated clock as everyone's time."""
    if not opts.data_dir.exists():  # owner-only: the database holds password hashes
        opts.data_dir.mkdir(parents=True, mode=0o700)
    state = _load_state(opts.data_dir)
    # Resume the simulated clock where the previous run stopped; never go backwards.
    origin = float(state.get("origin", time.time() - opts.history_days * 86400))
    start = float(state.get("sim_now", origin))
    secret = state.get("web_secret") or secrets.token_hex(32)
    cfg = demo_config(opts)
    store = open_store(cfg.database_url, synchronous=cfg.sqlite_synchronous)
    try:
        _ensure_registry(store, opts, time.time())
        if "origin" not in state:  # a fresh demo: weeks of past readings before the nodes start
            n, counters = seed_history(store, demo_assets(opts.nodes), origin, HISTORY_SEED_DAYS)
            for node_id, c in counters.items():  # the nodes' runtime and starts continue the past
                flash = opts.data_dir / "nodes" / node_id
                flash.mkdir(parents=True, exist_ok=True)
                (flash / "node.json").write_text(json.dumps({"counters": c}))
            print(f"wrote {HISTORY_SEED_DAYS:.0f} days of past readings ({n} reports)")
        password = _ensure_admin(store)
    finally:
        store.close()

    link = LoopbackLink("loopback")
    sim = FleetSimulator(link, opts, start, origin)
    sim_thread = threading.Thread(target=sim.run, name="fleet-simulator", daemon=True)
    stop = asyncio.Event()  # serve() sets it on SIGINT/SIGTERM too
    started: list[ServiceContext] = []

    def on_ready(ctx: ServiceContext) -> None:
        started.append(ctx)
        sim_thread.start()
        print(f"Kizashi demo: {opts.nodes} simulated nodes, data in {opts.data_dir}")
        print(f"fleet page: http://{opts.host}:{opts.port}/  (user admin)")
        if password:
            print(f"admin password (generated, shown once): {password}")
        elif os.environ.get("KIZASHI_ADMIN_PASSWORD"):
            print("admin password: from KIZASHI_ADMIN_PASSWORD")
        print("Ctrl-C stops cleanly.", flush=True)

    def save() -> None:
        _save_state(opts.data_dir, {"origin": origin, "sim_now": sim.now(), "web_secret": secret})

    async def demo_tasks() -> None:
        deadline = None if opts.seconds is None else time.monotonic() + opts.seconds
        ticks = 0
        while not stop.is_set():
            await asyncio.sleep(1.0)
            ticks += 1
            if started and ticks % 5 == 0:
                save()  # the simulated clock every 5 s, for a resume
            if deadline is not None and time.monotonic() >= deadline:
                stop.set()

    helper = asyncio.create_task(demo_tasks(), name="demo")
    try:
        await serve(
            cfg,
            web={"SECRET_KEY": secret, "CLOCK": sim.now},  # the page on the fleet's clock
            extra_links=[link],
            stop=stop,
            on_ready=on_ready,
            clock=sim.now,
            outlook_every_s=1.0,
        )
    except OSError as e:  # port taken (another demo or gateway), or no such address
        print(f"kizashi demo: cannot serve on {opts.host}:{opts.port}: {e.strerror or e}; "
              "choose another with --port", file=sys.stderr)  # fmt: skip
        return 2
    finally:
        helper.cancel()
        sim.stop_event.set()
        if sim_thread.is_alive():
            sim_thread.join(timeout=10)
        if started:
            save()
    stored = started[0].pipeline.stored if started else 0
    print(f"stopped; {stored} frames stored this run", flush=True)
    return 0


def parse_args(argv: list[str]) -> DemoOptions:
    p = argparse.ArgumentParser(prog="kizashi demo", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--data-dir", type=Path, default=Path("data/demo"))
    p.add_argument("--nodes", type=int, default=12, help="simulated nodes (default 12)")
    p.add_argument("--speed", type=float, default=600.0, help="simulated seconds per wall second")
    p.add_argument(
        "--history-days", type=float, default=3.0, help="start this far in the past (first run)"
    )
    p.add_argument("--seconds", type=float, default=None, help="stop after N wall seconds")
    a = p.parse_args(argv)
    if a.nodes < 1 or a.nodes > 200:
        p.error("--nodes must be 1..200")
    if a.speed < 1:
        p.error("--speed must be >= 1")
    return DemoOptions(a.host, a.port, a.data_dir, a.nodes, a.speed, a.history_days, a.seconds)


def main(argv: list[str]) -> int:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    opts = parse_args(argv)
    return asyncio.run(run_demo(opts))


__all__ = ["DEMO_SITES", "DemoOptions", "main", "run_demo"]
