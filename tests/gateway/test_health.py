"""Health that tells the truth (issue 15): /healthz names what is down and answers 503, the
systemd watchdog pings stop while the gateway is unhealthy (a real unix datagram socket), and
a PostgreSQL gateway whose data directory does not exist runs its health task (item 22).
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from fleet_web import create_app
from gateway.config import parse_config
from gateway.healthcheck import GatewayHealth
from gateway.ingest import IngestPipeline
from gateway.links import LoopbackLink
from gateway.metrics import Metrics
from gateway.sdnotify import notify, watchdog_interval, watchdog_loop
from gateway.serial_link import SerialLink
from gateway.service import ServiceContext, serve
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SqliteStore
from tests.gateway.conftest import PG_URL
from tests.gateway.simnode import SimNode, report
from tests.gateway.test_ingest import FAST, run, until

pytestmark = pytest.mark.timeout(60)


def test_health_names_what_is_down_and_healthz_answers_503(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "gw.db")
    m = Metrics()
    pipe = IngestPipeline(store, m, FAST)
    loop_link = LoopbackLink("loop", m)
    serial = SerialLink(str(tmp_path / "no-such-tty"), metrics=m)  # configured, never there
    pipe.add_link(loop_link)
    pipe.add_link(serial)
    ages: list[float | None] = [1.0]
    health = GatewayHealth(pipe, [loop_link, serial], outlook_age=lambda: ages[0], link_grace_s=0.0)
    app = create_app({"SECRET_KEY": "x", "TESTING": True, "HEALTH_CHECK": health.check}, store)
    client = app.test_client()

    async def body() -> None:
        tasks = [asyncio.create_task(pipe.run()), asyncio.create_task(loop_link.run(pipe))]
        tasks.append(asyncio.create_task(serial.run(pipe)))
        node = SimNode(loop_link.port("n1"))
        node.send(report("n1", 1, 0, int(time.time())))
        await until(lambda: node.poll() != [])

        ok, body = await asyncio.to_thread(health.check)
        assert not ok and body["down"] == ["link:serial:" + str(tmp_path / "no-such-tty")]
        assert body["components"]["store"]["ok"] and body["components"]["outlook"]["ok"]
        r = await asyncio.to_thread(client.get, "/healthz")
        assert r.status_code == 503 and r.json is not None
        assert r.json["status"] == "down" and r.json["down"] == body["down"]

        health.links = [loop_link]  # only the loopback link now: all up
        r = await asyncio.to_thread(client.get, "/healthz")
        assert r.status_code == 200 and r.json is not None and r.json["status"] == "ok"

        ages[0] = 3600.0  # the outlook engine stopped
        r = await asyncio.to_thread(client.get, "/healthz")
        assert r.status_code == 503 and r.json is not None and r.json["down"] == ["outlook"]
        ages[0] = 1.0

        # The disk fills: commits fail, and the store is reported down with the real error.
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count={pages}")
        t = int(time.time())
        for s in range(1, 300):
            node.send(report("n1", 1, s, t + s))
            await asyncio.sleep(0.001)
        await until(lambda: pipe.failing_since is not None)
        r = await asyncio.to_thread(client.get, "/healthz")
        assert r.status_code == 503 and r.json is not None and r.json["down"] == ["store"]
        assert "full" in r.json["components"]["store"]["error"]
        store._conn.execute("PRAGMA max_page_count=1000000")
        await until(lambda: pipe.failing_since is None, timeout=10)
        r = await asyncio.to_thread(client.get, "/healthz")
        assert r.status_code == 200

        pipe.stop()
        await tasks[0]
        for task in tasks[1:]:
            task.cancel()
        await asyncio.gather(*tasks[1:], return_exceptions=True)

    try:
        run(body)
    finally:
        store.close()


def _socket(tmp_path: Path) -> tuple[socket.socket, dict[str, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.setblocking(False)
    return sock, {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"}


def _drain(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def test_watchdog_pings_only_while_healthy(tmp_path: Path) -> None:
    sock, env = _socket(tmp_path)
    state: dict[str, Any] = {"ok": True}

    def healthy() -> tuple[bool, dict[str, object]]:
        return state["ok"], {"down": [] if state["ok"] else ["store"]}

    async def body() -> None:
        assert watchdog_interval(env) == pytest.approx(0.05)
        task = asyncio.create_task(watchdog_loop(healthy, env=env))
        await asyncio.sleep(0.5)
        first = _drain(sock)
        assert first[0].startswith("READY=1") and first.count("WATCHDOG=1") >= 5
        state["ok"] = False
        await asyncio.sleep(0.1)
        _drain(sock)  # a ping may have been on its way when the state changed
        await asyncio.sleep(0.5)
        down = _drain(sock)
        assert down and not any("WATCHDOG=1" in msg for msg in down)
        assert all(msg == "STATUS=unhealthy: store" for msg in down)
        state["ok"] = True
        await asyncio.sleep(0.3)
        assert any(msg.startswith("WATCHDOG=1") for msg in _drain(sock))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    try:
        run(body)
        assert notify("WATCHDOG=1", {}) is False  # not under systemd: nothing sent
    finally:
        sock.close()


@pytest.mark.postgres
def test_postgres_gateway_without_data_dir_runs_its_health_task(tmp_path: Path) -> None:
    schema = "kz_test_" + uuid.uuid4().hex[:12]
    data_dir = tmp_path / "missing" / "data"
    cfg = parse_config(
        {
            "gateway": {"data_dir": str(data_dir), "database": f"{PG_URL}?schema={schema}"},
            "mqtt": {"enabled": False},
            "http": {"enabled": False},
        }
    )
    m = Metrics()
    got: list[ServiceContext] = []

    async def body() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(serve(cfg, stop=stop, metrics=m, on_ready=got.append))
        await until(lambda: (data_dir / "health_state.json").exists(), timeout=20)
        await asyncio.sleep(1.5)
        assert m.total("kizashi_task_restarts_total") == 0
        assert got and got[0].health is not None
        _ok, state = await asyncio.to_thread(got[0].health.check)
        assert state["components"]["store"]["ok"], state
        stop.set()
        await task

    try:
        run(body)
    finally:
        pg = PostgresStore(PG_URL, schema)
        pg.drop_schema()
        pg.close()


def test_systemd_unit_uses_the_watchdog() -> None:
    """The unit restarts a gateway that stops pinging: Type=notify with a watchdog period."""
    unit = (Path(__file__).parents[2] / "deploy" / "kizashi-gateway.service").read_text()
    lines = {
        line.split("=", 1)[0]: line.split("=", 1)[1]
        for line in unit.splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert lines["Type"] == "notify" and int(lines["WatchdogSec"]) > 0
    assert lines["Restart"] in ("on-failure", "always", "on-watchdog")


def test_gateway_process_notifies_systemd(tmp_path: Path) -> None:
    """`kizashi gateway run` under a (fake) systemd: READY=1, then watchdog pings while it is
    healthy, through a real unix datagram socket."""
    import os
    import signal
    import subprocess
    import sys

    sock, env = _socket(tmp_path)
    sock.setblocking(True)
    sock.settimeout(1.0)
    conf = tmp_path / "gw.toml"
    conf.write_text(
        f'[gateway]\ndata_dir = "{tmp_path / "data"}"\n[mqtt]\nenabled = false\n'
        "[http]\nenabled = false\n"
    )
    env = {**os.environ, **env, "WATCHDOG_USEC": "400000"}
    cmd = [sys.executable, "-m", "kizashi.cli", "gateway", "run", "--config", str(conf)]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    got: list[str] = []
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end and got.count("WATCHDOG=1") < 3:
            try:
                got.append(sock.recv(4096).decode())
            except TimeoutError:
                continue
        assert got and got[0].startswith("READY=1")
        assert got.count("WATCHDOG=1") >= 3
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        sock.close()
    assert proc.returncode == 0


def test_gateway_process_with_a_missing_serial_port_stops_pinging(tmp_path: Path) -> None:
    """A configured serial port that is not there: /healthz would answer 503, and the
    watchdog pings stop, so systemd restarts the gateway."""
    import os
    import signal
    import subprocess
    import sys

    sock, env = _socket(tmp_path)
    sock.setblocking(True)
    sock.settimeout(1.0)
    conf = tmp_path / "gw.toml"
    conf.write_text(
        f'[gateway]\ndata_dir = "{tmp_path / "data"}"\n[mqtt]\nenabled = false\n'
        f"[http]\nenabled = false\n[health]\nlink_grace_s = 0.5\n"
        f'[[serial]]\nport = "{tmp_path / "no-such-tty"}"\nnodes = ["n1"]\n'
    )
    env = {**os.environ, **env, "WATCHDOG_USEC": "400000"}
    cmd = [sys.executable, "-m", "kizashi.cli", "gateway", "run", "--config", str(conf)]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    got: list[str] = []
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end and sum(m.startswith("STATUS=unhealthy") for m in got) < 5:
            try:
                got.append(sock.recv(4096).decode())
            except TimeoutError:
                continue
        assert got and got[0].startswith("READY=1")
        first_down = next(i for i, m in enumerate(got) if m.startswith("STATUS=unhealthy"))
        assert "link:serial:" in got[first_down]
        assert "WATCHDOG=1" not in got[first_down:]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        sock.close()
