"""`kizashi demo`: the whole system on one machine, with no outside service.

What runs:
- in this process, `kizashi.app.serve`, the same wiring as `kizashi gateway run`: the gateway's
  tasks (pipeline, health, outlook, retention, rollouts) over an SQLite store in the data
  directory, and the fleet page (waitress) at http://HOST:PORT;
- in a child process (`python -m kizashi.sim_fleet`), N simulated nodes running the real
  firmware code (firmware.host) on simulated machines. firmware.host puts its stand-in
  `machine`/`network` modules into that process only: this one, which serves the gateway and
  the page, never loads them (tests/test_layers.py). Each node speaks the framed serial protocol;
  its bytes cross one socketpair (kizashi/sim_fleet.py: length-prefixed (node id, bytes)
  messages) into the ports of a loopback link of serve, so they go through the same deframer
  and pipeline as a real serial port, and the gateway's acks and commands go back the same way.

Stopping (Ctrl-C, SIGTERM, --seconds) stops the fleet first: its last frames arrive, each node
saves its counters to its flash (DATA_DIR/nodes/ID); then the gateway commits its last batch.
A fleet process that ends by itself stops the demo with exit code 1, never a silent fleet.

Time: the fleet starts `--history-days` in the past and runs `--speed` times faster than
the wall clock until it catches up with now, then at real time. The gateway uses the same
simulated clock (the time the fleet reports every 20 ms, not its target: a fleet lagging on a
busy machine must not look like nodes with wrong clocks), so backlogs, wear and forecasts
develop within minutes. A second start on the same data directory resumes where the first
stopped (boot ids go up, counters persist).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.config import GatewayConfig, HttpConfig
from gateway.ingest import PipelineConfig
from gateway.links import LoopbackLink, LoopbackPort
from gateway.node_config import NodeConfigSettings
from gateway.service import ServiceContext
from gateway.store import open_store
from gateway.store.api import Store, User
from kizashi.app import serve
from kizashi.demo_fleet import (
    DEMO_SITE_ZONES,
    DEMO_SITES,
    DEMO_STOCK,
    HISTORY_SEED_DAYS,
    demo_assets,
    demo_catalog,
    demo_windows,
)
from kizashi.demo_history import seed_history
from kizashi.demo_story import (
    CUSTOMER_USER,
    DEMO_CUSTOMERS,
    STORY_ASSET,
    ensure_customer_user,
    seed_story,
    tag_customers,
)
from kizashi.sim_fleet import BYE, DATA, HEADER, STOP, TIME, data_message, message, split_data

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


class FleetProcess:
    """The parent's side of the simulated fleet (kizashi/sim_fleet.py, a child process).

    The child's DATA goes into the LoopbackLink's ports as if the nodes wrote them, and what
    the gateway sends to a port goes back to the child; the child's TIME reports are the
    gateway's clock (`now`), so frames never arrive from the gateway's future or past even
    when the fleet lags behind its target on a loaded machine.
    """

    def __init__(self, link: LoopbackLink, opts: DemoOptions, start: float, origin: float):
        self.link = link
        self.opts = opts
        self.start_s = start
        self.origin = origin
        self.sim_now = start
        self.proc: subprocess.Popen[bytes] | None = None
        self.clean = False  # BYE received: the child stopped and saved its flash
        self.node_errors = 0
        self.stopping = False
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None

    def now(self) -> float:
        return self.sim_now

    async def start(self) -> None:
        parent_sock, child_sock = socket.socketpair()
        cmd = [sys.executable, "-m", "kizashi.sim_fleet", "--fd", str(child_sock.fileno())]
        cmd += ["--data-dir", str(self.opts.data_dir), "--nodes", str(self.opts.nodes)]
        cmd += ["--start", repr(self.start_s), "--speed", repr(self.opts.speed)]
        cmd += ["--wall0", repr(time.time()), "--origin", repr(self.origin)]
        self.proc = subprocess.Popen(cmd, pass_fds=(child_sock.fileno(),))
        child_sock.close()
        reader, self._writer = await asyncio.open_connection(sock=parent_sock)
        for spec in demo_assets(self.opts.nodes):
            port = self.link.port(spec.node_id)
            port.on_data = functools.partial(self._to_child, port)
        self._reader_task = asyncio.create_task(self._read(reader), name="fleet-reader")

    def _to_child(self, port: LoopbackPort, data: bytes) -> None:
        port.read()  # the port keeps what the gateway sent for an in-process node: drop it
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(data_message(port.node_id, data))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                head = await reader.readexactly(HEADER.size)
                body = await reader.readexactly(HEADER.unpack(head)[0])
                kind, rest = body[:1], body[1:]
                if kind == DATA:
                    node_id, data = split_data(rest)
                    self.link.port(node_id).write(data)
                elif kind == TIME:
                    self.sim_now = max(self.sim_now, struct.unpack("!d", rest)[0])
                elif kind == BYE:
                    self.node_errors = struct.unpack("!I", rest)[0]
                    self.clean = True
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the child closed its end: stopped, or died

    def died(self) -> bool:
        """The child ended without being asked to."""
        task = self._reader_task
        return not self.stopping and task is not None and task.done()

    async def stop(self, timeout: float = 60.0) -> int | None:
        """STOP, then wait for its last frames, its flash and its exit. Returns its exit code."""
        self.stopping = True
        if self.proc is None:
            return None
        if self._writer is not None and not self._writer.is_closing():
            with contextlib.suppress(ConnectionError):
                self._writer.write(message(STOP))
                await self._writer.drain()
        if self._reader_task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._reader_task), timeout)
        try:
            code = await asyncio.to_thread(self.proc.wait, 10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = await asyncio.to_thread(self.proc.wait)
        if self._writer is not None:
            self._writer.close()
        return code


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
    if not store.catalog():  # first start only: the page's changes to the books stay
        for part in demo_catalog():
            store.put_catalog_part(part)
        for part_number, warehouse, count in DEMO_STOCK:
            store.set_stock(part_number, warehouse, count, "demo", now)


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
            tag_customers(store)
            pid = seed_story(store, origin)
            print(f"seeded a finished proactive job ({pid} on {STORY_ASSET}) for the KPIs")
        password = _ensure_admin(store)
        customer_password = ensure_customer_user(store)
    finally:
        store.close()

    link = LoopbackLink("loopback")
    fleet = FleetProcess(link, opts, start, origin)
    stop = asyncio.Event()  # the demo's stop: Ctrl-C, SIGTERM, --seconds, a dead fleet
    gateway_stop = asyncio.Event()  # set after the fleet stopped: the gateway's last commit
    started: list[ServiceContext] = []
    failed: list[str] = []

    def on_ready(ctx: ServiceContext) -> None:
        started.append(ctx)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # serve's handlers would stop it first
            loop.add_signal_handler(sig, stop.set)
        print(f"Kizashi demo: {opts.nodes} simulated nodes, data in {opts.data_dir}")
        print(f"fleet page: http://{opts.host}:{opts.port}/  (user admin)")
        if password:
            print(f"admin password (generated, shown once): {password}")
        elif os.environ.get("KIZASHI_ADMIN_PASSWORD"):
            print("admin password: from KIZASHI_ADMIN_PASSWORD")
        print(f"customer login: user {CUSTOMER_USER} ({DEMO_CUSTOMERS['Osaka Press Shop']}, "
              "sees only its own machines and answers its proposals)")  # fmt: skip
        if customer_password:
            print(f"{CUSTOMER_USER} password (generated, shown once): {customer_password}")
        elif os.environ.get("KIZASHI_CUSTOMER_PASSWORD"):
            print(f"{CUSTOMER_USER} password: from KIZASHI_CUSTOMER_PASSWORD")
        print("Ctrl-C stops cleanly.", flush=True)

    def save() -> None:
        _save_state(opts.data_dir, {"origin": origin, "sim_now": fleet.now(), "web_secret": secret})

    async def demo_tasks() -> None:
        while not started:
            await asyncio.sleep(0.05)
        await fleet.start()
        assert fleet.proc is not None
        print(f"simulated fleet: process {fleet.proc.pid}", flush=True)
        deadline = None if opts.seconds is None else time.monotonic() + opts.seconds
        ticks = 0
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
                ticks += 1
                if ticks % 5 == 0:
                    save()  # the simulated clock every 5 s, for a resume
                if fleet.died():
                    code = fleet.proc.poll()
                    failed.append(
                        f"the simulated fleet (process {fleet.proc.pid}) ended by itself "
                        f"(exit code {code}): no node reports any more"
                    )
                    stop.set()
                if deadline is not None and time.monotonic() >= deadline:
                    stop.set()
        finally:
            # The fleet first (its last frames, its flash), then the gateway's last commit.
            code = await fleet.stop()
            if code not in (0, None) and not failed:
                failed.append(f"the simulated fleet exited with code {code}")
            save()
            gateway_stop.set()

    helper = asyncio.create_task(demo_tasks(), name="demo")
    try:
        await serve(
            cfg,
            web={"SECRET_KEY": secret, "CLOCK": fleet.now},  # the page on the fleet's clock
            extra_links=[link],
            stop=gateway_stop,
            on_ready=on_ready,
            clock=fleet.now,
            outlook_every_s=1.0,
        )
    except OSError as e:  # port taken (another demo or gateway), or no such address
        print(f"kizashi demo: cannot serve on {opts.host}:{opts.port}: {e.strerror or e}; "
              "choose another with --port", file=sys.stderr)  # fmt: skip
        return 2
    finally:
        if not helper.done():  # the gateway stopped by itself: stop the fleet all the same
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(helper, 90)
    stored = started[0].pipeline.stored if started else 0
    print(f"stopped; {stored} frames stored this run", flush=True)
    for reason in failed:
        print(f"kizashi demo: {reason}", file=sys.stderr, flush=True)
    return 1 if failed else 0


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
