"""Site gateways forward to a central applier through a real private Mosquitto, into PostgreSQL:
the link cut for a simulated day then restored, the fleet server down and back, and a site
gateway process SIGKILLed mid-forward. In every case the centre ends with every frame and event
exactly once (the hourly sums would count a frame applied twice) and the site's state."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from gateway.store.api import Asset
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SqliteStore
from gateway.uplink.central import CentralApplier
from gateway.uplink.config import UplinkConfig
from gateway.uplink.forwarder import Forwarder
from gateway.uplink.wire import decode, encode, up_topic

from .broker import Broker, free_port
from .conftest import PG_URL, pg_available
from .test_store import T0
from .test_store_outlook import outlook
from .uplink_support import (
    event_keys,
    frame_keys,
    frames_messages,
    hourly_totals,
    register_site,
    traffic,
)

pytestmark = pytest.mark.postgres
SITES = {
    "gw-a": ("site-a", ["a1", "a2"]),
    "gw-b": ("site-b", ["b1", "b2"]),
    "gw-c": ("site-c", ["c1", "c2"]),
}
CUSTOMERS = {"gw-a": "acme", "gw-b": "globex", "gw-c": "globex"}
# gw-c's clock (and its nodes') runs a year ahead: forwarding keys on commit ids, never on time
CLOCK_OFFSET = {"gw-a": 0.0, "gw-b": 0.0, "gw-c": 365 * 86400.0}
DAY = 2880  # reports per node in a day at one per 30 s


@pytest.fixture
def central() -> Iterator[PostgresStore]:
    if not pg_available():
        pytest.fail("PostgreSQL not reachable at " + PG_URL)
    pg = PostgresStore(PG_URL, "kz_fleet_" + uuid.uuid4().hex[:12])
    try:
        yield pg
    finally:
        pg.drop_schema()
        pg.close()


def _cfg(port: int) -> UplinkConfig:
    return UplinkConfig(
        enabled=True, port=port, batch=500, ack_timeout_s=1.0, poll_s=0.05, state_every_s=0.5,
        backoff_min_s=0.1, backoff_max_s=0.5,
    )  # fmt: skip


async def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _same(central: PostgresStore, sites: dict[str, SqliteStore]) -> bool:
    keys = sorted(k for s in sites.values() for k in frame_keys(s))
    return frame_keys(central) == keys and event_keys(central) == sorted(
        k for s in sites.values() for k in event_keys(s)
    )


def _check_exactly_once(central: PostgresStore, sites: dict[str, SqliteStore]) -> None:
    assert _same(central, sites)
    for origin, (_, nodes) in SITES.items():
        assert hourly_totals(central, nodes) == hourly_totals(sites[origin], nodes)
        assert central.uplink_mark(origin, "frames") == sites[origin].uplink_mark(origin, "frames")
    assert central.site_customers() == {"site-a": "acme", "site-b": "globex", "site-c": "globex"}


def _traffic(origin: str, store: SqliteStore, start: int, n: int, per_batch: int) -> int:
    return traffic(store, SITES[origin][1], start, n, per_batch, T0 + CLOCK_OFFSET[origin])


def _open_sites(tmp_path: Path) -> dict[str, SqliteStore]:
    sites = {}
    for origin, (site, nodes) in SITES.items():
        sites[origin] = SqliteStore(tmp_path / f"{origin}.db")
        register_site(sites[origin], site, nodes)
    return sites


def test_link_cut_for_a_day_then_restored(tmp_path: Path, central: PostgresStore) -> None:
    broker = Broker(tmp_path, free_port()).start()
    sites = _open_sites(tmp_path)
    cfg = _cfg(broker.port)

    async def scenario() -> None:
        applier = CentralApplier(central, CUSTOMERS, cfg)
        fwds = [Forwarder(s, o, cfg) for o, s in sites.items()]
        tasks = [asyncio.create_task(x.run()) for x in (applier, *fwds)]
        try:
            for origin, s in sites.items():
                await asyncio.to_thread(_traffic, origin, s, 0, 60, 50)
            await _until(lambda: _same(central, sites), 30, "the first hour")
            broker.kill()  # the link is cut; the sites keep committing a day of traffic
            for origin, s in sites.items():
                await asyncio.to_thread(_traffic, origin, s, 60, DAY, 500)
            await asyncio.sleep(1.5)  # the forwarders fail to reconnect meanwhile
            assert all(f.backlog() > 0 for f in fwds)
            broker.start()
            await _until(lambda: _same(central, sites), 120, "the day after the outage")
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    try:
        asyncio.run(scenario())
        _check_exactly_once(central, sites)
        assert len(frame_keys(central)) == 6 * (60 + DAY)
    finally:
        broker.kill()
        for s in sites.values():
            s.close()


def test_fleet_server_down_and_back(tmp_path: Path, central: PostgresStore) -> None:
    broker = Broker(tmp_path, free_port()).start()
    sites = _open_sites(tmp_path)
    cfg = _cfg(broker.port)

    async def scenario() -> None:
        fwds = [Forwarder(s, o, cfg) for o, s in sites.items()]
        tasks = [asyncio.create_task(f.run()) for f in fwds]
        applier_task = asyncio.create_task(CentralApplier(central, CUSTOMERS, cfg).run())
        try:
            for origin, s in sites.items():
                await asyncio.to_thread(_traffic, origin, s, 0, 100, 50)
            await _until(lambda: _same(central, sites), 30, "the first batch")
            applier_task.cancel()  # the fleet server stops; its session stays on the broker
            await asyncio.gather(applier_task, return_exceptions=True)
            for origin, s in sites.items():
                await asyncio.to_thread(_traffic, origin, s, 100, 400, 50)
            a = sites["gw-a"]
            (window,) = a.windows()
            a.write_outlooks([outlook("a1-pump", T0 + 5, window_id=window.window_id)])
            await asyncio.sleep(2.0)
            assert not _same(central, sites)
            applier_task = asyncio.create_task(CentralApplier(central, CUSTOMERS, cfg).run())
            await _until(lambda: _same(central, sites), 60, "the backlog after the restart")
            await _until(lambda: len(central.outlooks()) == 1, 10, "the site's outlook")
        finally:
            applier_task.cancel()
            for t in tasks:
                t.cancel()
            await asyncio.gather(applier_task, *tasks, return_exceptions=True)

    try:
        asyncio.run(scenario())
        _check_exactly_once(central, sites)
        (o,) = central.outlooks()
        (site_o,) = sites["gw-a"].outlooks()
        (cwin,) = central.windows("site-a")
        # the same judgement; computed_at is when the centre took it (its own clock)
        assert o == dataclasses.replace(site_o, window_id=cwin.window_id, computed_at=o.computed_at)
    finally:
        broker.kill()
        for s in sites.values():
            s.close()


def _site_config(tmp_path: Path, port: int) -> Path:
    conf = tmp_path / "gw-a.toml"
    conf.write_text(
        f"""[gateway]
id = "gw-a"
data_dir = "{tmp_path / "gw-a-data"}"
database = "{tmp_path / "gw-a.db"}"
[mqtt]
enabled = false
[http]
enabled = false
[uplink]
enabled = true
port = {port}
batch = 200
ack_timeout_s = 1.0
poll_s = 0.05
backoff_min_s = 0.1
backoff_max_s = 0.5
"""
    )
    return conf


def test_site_gateway_killed_mid_forward(tmp_path: Path, central: PostgresStore) -> None:
    broker = Broker(tmp_path, free_port()).start()
    site = SqliteStore(tmp_path / "gw-a.db")
    register_site(site, "site-a", ["a1", "a2"])
    # two days of reports ending now (older ones the gateway's 30-day retention would prune)
    total = traffic(site, ["a1", "a2"], 0, 6000, 1000, t0=time.time() - 2 * 86400)
    conf = _site_config(tmp_path, broker.port)
    cmd = [sys.executable, "-m", "kizashi.cli", "gateway", "run", "--config", str(conf)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    async def scenario() -> None:
        applier_task = asyncio.create_task(
            CentralApplier(central, {"gw-a": "acme"}, _cfg(broker.port)).run()
        )
        log = (tmp_path / "gw-a.log").open("ab")
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
        try:
            await _until(lambda: central.uplink_mark("gw-a", "frames") >= 1000, 60, "forwarding")
            proc.send_signal(signal.SIGKILL)  # mid-forward: no clean stop, nothing flushed
            proc.wait(10)
            mark = site.uplink_mark("gw-a", "frames")
            assert 0 < mark < total, "the kill came too late to be mid-forward"
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
            await _until(
                lambda: (
                    site.uplink_mark("gw-a", "frames") == total
                    and central.uplink_mark("gw-a", "frames") == total
                ),
                120,
                "the rest after the restart",
            )
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(20)
            applier_task.cancel()
            await asyncio.gather(applier_task, return_exceptions=True)
            log.close()

    try:
        asyncio.run(scenario())
        assert frame_keys(central) == frame_keys(site) and len(frame_keys(site)) == total
        assert hourly_totals(central, ["a1", "a2"]) == hourly_totals(site, ["a1", "a2"])
        # the site gateway raises events of its own (health alarms) while it runs: compare
        # those the centre acknowledged
        emark = site.uplink_mark("gw-a", "events")
        sent = [e for e in site.events_after(0, limit=100000) if e.event_id <= emark]
        assert event_keys(central) == sorted((e.node_id, e.code, e.seq) for e in sent)
        assert len(sent) >= 120  # the traffic's own events at least
    finally:
        broker.kill()
        site.close()


def test_a_state_the_centre_refuses_does_not_stall_the_frames(
    tmp_path: Path, central: PostgresStore
) -> None:
    """PostgreSQL refuses a NUL in text that SQLite stored: the centre answers with an error
    instead of crash-looping (which would block every site), and the frames still flow."""
    broker = Broker(tmp_path, free_port()).start()
    site = SqliteStore(tmp_path / "gw-a.db")
    register_site(site, "site-a", ["a1"])
    site.upsert_asset(Asset("bad", "site-a", "pump", description="nul \x00 inside"))
    total = traffic(site, ["a1"], 0, 100)
    cfg = _cfg(broker.port)
    applier = CentralApplier(central, {"gw-a": "acme"}, cfg)
    fwd = Forwarder(site, "gw-a", cfg)

    async def scenario() -> None:
        tasks = [asyncio.create_task(x.run()) for x in (applier, fwd)]
        try:
            await _until(lambda: len(frame_keys(central)) == total, 30, "the frames")
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    try:
        asyncio.run(scenario())
        assert applier.refused >= 1 and central.asset("bad") is None
        assert frame_keys(central) == frame_keys(site)
    finally:
        broker.kill()
        site.close()


def test_broker_acl_keeps_each_site_under_its_own_id(
    tmp_path: Path, central: PostgresStore
) -> None:
    """The broker config FLEET.md gives: each site user may publish only under its own id, so
    gw-a's credentials cannot pass rows off as gw-b's (the centre applies per origin)."""
    from gateway.provision import mosquitto_hash

    users = {"gw-a": "pass-a-123456", "gw-b": "pass-b-123456", "fleet": "pass-f-123456"}
    (tmp_path / "passwd").write_text(
        "".join(f"{u}:{mosquitto_hash(p)}\n" for u, p in users.items())
    )
    (tmp_path / "acl").write_text(
        "user fleet\ntopic read kizashi/fleet/+/up\ntopic write kizashi/fleet/+/ack\n"
        "pattern write kizashi/fleet/%u/up\npattern read kizashi/fleet/%u/ack\n"
    )
    extra = (
        f"allow_anonymous false\npassword_file {tmp_path / 'passwd'}\nacl_file {tmp_path / 'acl'}\n"
    )
    broker = Broker(tmp_path, free_port(), extra).start()
    sites = _open_sites(tmp_path)
    for origin, s in sites.items():
        _traffic(origin, s, 0, 30, 50)

    def cfg(user: str) -> UplinkConfig:
        return dataclasses.replace(_cfg(broker.port), username=user, password=users[user])

    applier = CentralApplier(central, CUSTOMERS, cfg("fleet"))
    honest = Forwarder(sites["gw-a"], "gw-a", cfg("gw-a"))
    impostor = Forwarder(sites["gw-b"], "gw-b", cfg("gw-a"))  # gw-a's login, gw-b's id

    async def scenario() -> None:
        tasks = [asyncio.create_task(x.run()) for x in (applier, honest, impostor)]
        try:
            await _until(lambda: honest.backlog() == 0, 30, "gw-a's rows")
            await asyncio.sleep(2.5)  # the impostor has sent (and resent) meanwhile
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    try:
        asyncio.run(scenario())
        assert frame_keys(central) == frame_keys(sites["gw-a"])
        assert central.uplink_mark("gw-b", "frames") == 0 and impostor.sent >= 2
        assert impostor.backlog() > 0
    finally:
        broker.kill()
        for s in sites.values():
            s.close()


def test_waiting_messages_one_transaction_and_a_bad_one_alone(
    tmp_path: Path, central: PostgresStore
) -> None:
    """Messages of several sites that wait while the applier is busy (here: its store held)
    are applied in one transaction, each site answered with its own mark after it. A bad
    message among them (one the centre cannot read, or one whose values PostgreSQL refuses) is
    refused and answered alone: the others' frames are all stored."""
    broker = Broker(tmp_path, free_port()).start()
    cfg = _cfg(broker.port)
    good = [f"gw-{k}" for k in range(5)]
    sites: dict[str, SqliteStore] = {}
    for k, origin in enumerate([*good, "gw-bad"]):
        sites[origin] = SqliteStore(tmp_path / f"{origin}.db")
        register_site(sites[origin], f"site-{k}", [f"n{k}"])
        traffic(sites[origin], [f"n{k}"], 0, 40, 40)
    msgs = {o: frames_messages(s, o, 2, 20) for o, s in sites.items()}
    unreadable = dict(msgs["gw-bad"][0], rows=[r[:5] for r in msgs["gw-bad"][0]["rows"]])
    out_of_range = copy.deepcopy(msgs["gw-bad"][0])
    out_of_range["rows"][3][3] = 2**63  # a seq no BIGINT holds
    answers: dict[str, list[dict[str, Any]]] = {}

    def xmins() -> int:
        with central._lock:
            return len(central._q("SELECT DISTINCT xmin::text FROM frames"))

    async def round_of(
        pub: aiomqtt.Client, batch: list[tuple[str, dict[str, Any]]], frames: int
    ) -> None:
        central._lock.acquire()  # the lane's first message waits for it; the others queue
        try:
            for origin, m in batch:
                await pub.publish(up_topic(origin), encode(m), qos=1)
            await asyncio.sleep(1.0)
        finally:
            central._lock.release()
        await _until(lambda: len(frame_keys(central)) == frames, 10, "the good sites' frames")
        await _until(lambda: all(o in answers for o, _ in batch), 10, "every answer")

    async def scenario() -> None:
        applier = CentralApplier(central, {o: "acme" for o in sites}, cfg)
        task = asyncio.create_task(applier.run())
        try:
            await asyncio.wait_for(applier.connected.wait(), 10)
            async with aiomqtt.Client("127.0.0.1", broker.port, identifier="t") as pub:
                await pub.subscribe("kizashi/fleet/+/ack", qos=1)

                async def read() -> None:
                    async for m in pub.messages:
                        origin = m.topic.value.split("/")[2]
                        answers.setdefault(origin, []).append(decode(bytes(m.payload)))  # type: ignore[arg-type]

                reader = asyncio.create_task(read())
                # the lane takes the first message alone (and waits for the store); the others
                # wait together, the bad one among them
                first = [(o, msgs[o][0]) for o in good]
                await round_of(pub, [first[0], ("gw-bad", unreadable), *first[1:]], 5 * 20)
                assert await asyncio.to_thread(xmins) <= 2
                for o in good:
                    assert answers.pop(o) == [{"stream": "frames", "ref": 20, "upto": 20}]
                assert "error" in answers.pop("gw-bad")[0]
                # the database refuses the batch: each message again alone, the good ones stored
                second = [(o, msgs[o][1]) for o in good]
                await round_of(pub, [second[0], ("gw-bad", out_of_range), *second[1:]], 5 * 40)
                for o in good:
                    assert answers.pop(o) == [{"stream": "frames", "ref": 40, "upto": 40}]
                assert "out of range" in answers.pop("gw-bad")[0]["error"]
                reader.cancel()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert (applier.applied, applier.refused) == (10, 2)

    try:
        asyncio.run(scenario())
        assert frame_keys(central) == sorted(k for o in good for k in frame_keys(sites[o]))
        assert {o: central.uplink_mark(o, "frames") for o in sites} == {
            **{o: 40 for o in good}, "gw-bad": 0,
        }  # fmt: skip
    finally:
        broker.kill()
        for s in sites.values():
            s.close()
