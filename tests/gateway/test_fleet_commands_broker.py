"""Commands from the centre to the sites over the real engines: a private Mosquitto with the
per-site users and ACL of docs/FLEET.md, SQLite site gateways, the PostgreSQL centre.

- a service entry and an asset edit made on the centre's page while gw-a is cut off: after the
  link returns the entry is applied once (however many copies arrived), comes back up with the
  site's state and is at the centre once; the edit the site's rules refuse shows its reason;
- gw-a's login cannot read gw-b's commands;
- the fleet prior the centre fits from gw-b's lives, sent down, is what gw-a's outlook uses;
- the warning thresholds the centre tunes from gw-a's and gw-b's warning outcomes (forwarded
  with their states), sent down, are what both sites' health monitors then use.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Collection, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fleet_web.auth import hash_password
from gateway.fleet_server import FleetConfig
from gateway.outlook.engine import OutlookEngine
from gateway.provision import mosquitto_hash
from gateway.store.api import Asset, Part, ServiceEntry, User
from gateway.store.postgres import PostgresStore
from gateway.store.sql import SqlStore
from gateway.store.sqlite import SqliteStore
from gateway.uplink.central import CentralApplier
from gateway.uplink.commands import CommandReceiver, CommandSender
from gateway.uplink.config import UplinkConfig
from gateway.uplink.fleet_prior import PriorPublisher
from gateway.uplink.forwarder import Forwarder
from gateway.uplink.site_commands import SiteCommands
from kizashi.app import fleet_app
from tests.web.conftest import login

from ..analytics.test_analytics import REPORT_S, T0, write_series
from .broker import Broker, free_port
from .conftest import PG_URL, pg_available
from .test_fleet_commands import GROUP, two_sites_outcomes
from .test_uplink_broker import _cfg, _until
from .uplink_support import register_site

pytestmark = pytest.mark.postgres

USERS = {"gw-a": "pass-a-123456", "gw-b": "pass-b-123456", "fleet": "pass-f-123456"}
ACL = (
    "user fleet\n"
    "topic read kizashi/fleet/+/up\ntopic write kizashi/fleet/+/ack\n"
    "topic write kizashi/fleet/+/down\ntopic read kizashi/fleet/+/done\n"
    "pattern write kizashi/fleet/%u/up\npattern read kizashi/fleet/%u/ack\n"
    "pattern read kizashi/fleet/%u/down\npattern write kizashi/fleet/%u/done\n"
)
ORIGINS = {"gw-a": "acme", "gw-b": "globex"}


@pytest.fixture
def central() -> Iterator[PostgresStore]:
    if not pg_available():
        pytest.fail("PostgreSQL not reachable at " + PG_URL)
    pg = PostgresStore(PG_URL, "kz_fcmd_" + uuid.uuid4().hex[:12])
    try:
        yield pg
    finally:
        pg.drop_schema()
        pg.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Any]:
    (tmp_path / "passwd").write_text(
        "".join(f"{u}:{mosquitto_hash(p)}\n" for u, p in USERS.items())
    )
    (tmp_path / "acl").write_text(ACL)
    extra = (
        f"allow_anonymous false\npassword_file {tmp_path / 'passwd'}\nacl_file {tmp_path / 'acl'}\n"
    )
    b = Broker(tmp_path, free_port(), extra).start()
    try:
        yield b
    finally:
        b.kill()


def _login_cfg(port: int, user: str) -> UplinkConfig:
    return dataclasses.replace(
        _cfg(port), username=user, password=USERS[user], ack_timeout_s=0.5, backoff_max_s=1.0
    )


class Site:
    """One site gateway's uplink and command receiver, started and cut off at will."""

    def __init__(self, origin: str, store: SqlStore, port: int, tmp: Path, user: str = "") -> None:
        self.origin, self.store = origin, store
        self.cfg = _login_cfg(port, user or origin)
        self.apply = SiteCommands(store, tmp / origin, tmp / origin / "secrets")
        self.tasks: list[asyncio.Task[None]] = []
        self.receiver: CommandReceiver | None = None

    def start(self, forward: bool = True) -> None:
        self.receiver = CommandReceiver(self.origin, self.cfg, self.apply)
        self.tasks = [asyncio.create_task(self.receiver.run())]
        if forward:
            self.tasks.append(
                asyncio.create_task(Forwarder(self.store, self.origin, self.cfg).run())
            )

    async def cut(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []


@contextlib.asynccontextmanager
async def running(
    central: PostgresStore, fleet: UplinkConfig, sites: Collection[Site], sender: CommandSender
) -> AsyncIterator[None]:
    """The centre's applier and command sender and every site's uplink, running; all stopped
    on the way out."""
    tasks = [
        asyncio.create_task(x.run()) for x in (CentralApplier(central, ORIGINS, fleet), sender)
    ]
    for s in sites:
        s.start()
    try:
        yield
    finally:
        for s in sites:
            await s.cut()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _count(store: SqlStore, finding: str) -> int:
    return sum(1 for e in store.service_log() if e.finding == finding)


def test_a_command_made_while_the_site_is_cut_off_arrives_once(
    tmp_path: Path, broker: Any, central: PostgresStore
) -> None:
    stores = {o: SqliteStore(tmp_path / f"{o}.db") for o in ORIGINS}
    register_site(stores["gw-a"], "site-a", ["a1"])
    register_site(stores["gw-b"], "site-b", ["b1"])
    fleet = _login_cfg(broker.port, "fleet")
    cfg = FleetConfig(database="unused", origins=ORIGINS, mqtt=fleet,
                      web={"SECRET_KEY": "test-secret", "TESTING": True})  # fmt: skip
    central.upsert_user(User("tech", hash_password("tech-pass-1234"), "technician"))
    page = fleet_app(central, cfg).test_client()  # type: ignore[attr-defined]
    sender = CommandSender(central, ORIGINS, fleet)

    async def scenario() -> dict[str, int]:
        sites = {o: Site(o, s, broker.port, tmp_path) for o, s in stores.items()}
        async with running(central, fleet, sites.values(), sender):
            await _until(lambda: central.asset("a1-pump") is not None, 30, "gw-a's registry")
            await sites["gw-a"].cut()  # gw-a is cut off: neither commands nor state pass
            tok = await asyncio.to_thread(login, page, "tech", "tech-pass-1234")
            r = page.post("/assets/a1-pump/service", data={
                "kind": "inspection", "note": "made at the centre", "stop_h": "6",
                "repair_cost": "420", "csrf_token": tok})  # fmt: skip
            assert r.status_code == 302, r.get_data(as_text=True)[:300]
            listed = page.get("/commands").get_data(as_text=True)
            assert "service_add" in listed and "pending" in listed
            # the centre checks what it can at once; the site's rules refuse the rest
            r = page.post("/admin/assets/a1-pump", data={"zones": "not,a,limit", "csrf_token": tok})
            assert r.status_code == 403  # technicians do not edit the registry
            central.upsert_user(User("boss", hash_password("boss-pass-1234"), "admin"))
            admin = fleet_app(central, cfg).test_client()  # type: ignore[attr-defined]
            atok = await asyncio.to_thread(login, admin, "boss", "boss-pass-1234")
            r = admin.post("/admin/assets/a1-pump", data={"zones": "x", "csrf_token": atok})
            assert r.status_code == 400  # malformed: refused at the centre
            r = admin.post("/admin/assets/a1-pump", data={"zones": "7,4,2", "csrf_token": atok})
            assert r.status_code == 302  # well-formed, but limits must rise: the site refuses
            await asyncio.sleep(3.0)  # cut off for a while: the centre sends again meanwhile
            assert _count(stores["gw-a"], "made at the centre") == 0
            assert _count(central, "made at the centre") == 0  # nothing stored at the centre
            sites["gw-a"].start()  # the link returns
            await _until(lambda: not central.pending_fleet_heads(), 30, "both answered")
            await _until(lambda: _count(central, "made at the centre") == 1, 30, "the entry up")
            await asyncio.sleep(1.5)  # more states go up: still one copy
            return {c.kind: c.sends for c in central.fleet_commands()}

    try:
        sends = asyncio.run(scenario())
        assert sends["service_add"] >= 2  # several copies went; the site applied one
        assert _count(stores["gw-a"], "made at the centre") == 1
        assert _count(central, "made at the centre") == 1
        for st in (stores["gw-a"], central):  # the stop hours and invoice went down and up
            (e,) = [e for e in st.service_log() if e.finding == "made at the centre"]
            assert (e.stop_h, e.repair_cost) == (6.0, 420.0)
        done = {c.kind: c for c in central.fleet_commands()}
        assert done["service_add"].state == "done" and done["service_add"].by_user == "tech"
        refused = done["asset_update"]
        assert refused.state == "refused" and "limit" in refused.reason, refused
        api = page.get("/api/commands").get_json()
        assert {(r["kind"], r["state"], r["reason"]) for r in api} == {
            ("service_add", "done", ""), ("asset_update", "refused", refused.reason),
        }  # fmt: skip
        a = stores["gw-a"].asset("a1-pump")
        assert a is not None and a.zone_limits is None  # the refused edit changed nothing
        entry = next(e for e in central.service_log() if e.finding == "made at the centre")
        assert central.fleet_site_id("service", entry.entry_id or 0) is not None  # the site's id
    finally:
        for s in stores.values():
            s.close()


def test_broker_acl_keeps_each_site_to_its_own_commands(
    tmp_path: Path, broker: Any, central: PostgresStore
) -> None:
    """gw-a's login with gw-b's id receives none of gw-b's commands; gw-b itself does."""
    store_b = SqliteStore(tmp_path / "gw-b.db")
    register_site(store_b, "site-b", ["b1"])
    fleet = _login_cfg(broker.port, "fleet")
    sender = CommandSender(central, ORIGINS, fleet)
    cid = central.queue_fleet_command("gw-b", "service_add",
                                      {"asset_id": "b1-pump", "kind": "inspection",
                                       "finding": "for gw-b only"})  # fmt: skip

    async def scenario() -> tuple[int, int]:
        task = asyncio.create_task(sender.run())
        impostor = Site("gw-b", store_b, broker.port, tmp_path, user="gw-a")
        impostor.start(forward=False)
        try:
            await _until(lambda: sender.sent >= 3, 20, "the command sent and sent again")
            assert impostor.receiver is not None
            got = impostor.receiver.received
            await impostor.cut()
            honest = Site("gw-b", store_b, broker.port, tmp_path)
            honest.start(forward=False)
            await _until(lambda: not central.pending_fleet_heads(), 20, "gw-b's own answer")
            await honest.cut()
            return got, sender.sent
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    try:
        got, sent = asyncio.run(scenario())
        assert got == 0 and sent >= 3
        c = central.fleet_command(cid)
        assert c is not None and c.state == "done"
        assert _count(store_b, "for gw-b only") == 1
    finally:
        store_b.close()


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


def test_the_prior_from_every_site_reaches_a_sites_outlook(
    tmp_path: Path, broker: Any, central: PostgresStore
) -> None:
    """gw-b's completed lives, forwarded to the centre, fitted there and sent to gw-a, which
    has none of its own: gw-a's outlook then forecasts from them."""
    part = Part("bearing-de", "Drive-end bearing", "6205", 20000.0, 7.0)
    store_a, store_b = SqliteStore(tmp_path / "gw-a.db"), SqliteStore(tmp_path / "gw-b.db")
    for i, life_h in enumerate([300, 420, 360]):
        store_b.upsert_asset(Asset(f"B{i}", "site-b", "M", f"n{i}", "class_I", "", (part,)))
        write_series(store_b, f"n{i}", [1.0] * (life_h * 3600 // REPORT_S + 30))
        failed = T0 + (life_h * 3600 // REPORT_S) * REPORT_S
        store_b.add_service_entry(ServiceEntry(f"B{i}", _day(failed), "replacement", "bearing-de"))
    store_a.upsert_asset(Asset("A1", "site-a", "M", "m1", "class_I", "", (part,)))
    write_series(store_a, "m1", [1.0] * 200)
    engine = OutlookEngine(store_a, clock=lambda: T0 + 300 * REPORT_S)
    assert "fleet_prior" not in engine.refresh(["A1"])[0].method  # gw-a alone: no prior
    fleet = _login_cfg(broker.port, "fleet")
    stores = {"gw-a": store_a, "gw-b": store_b}

    async def scenario() -> None:
        sites = {o: Site(o, s, broker.port, tmp_path) for o, s in stores.items()}
        sender = CommandSender(central, ORIGINS, fleet)
        async with running(central, fleet, sites.values(), sender):
            await _until(lambda: _count_kind(central, "replacement") == 3, 60, "gw-b's lives")
            await _until(lambda: Forwarder(store_b, "gw-b", fleet).backlog() == 0, 60, "frames")
            assert await asyncio.to_thread(PriorPublisher(central, ORIGINS).publish) == 2
            await _until(lambda: not central.pending_fleet_heads(), 30, "the prior applied")

    try:
        asyncio.run(scenario())
        assert [c.state for c in central.fleet_commands()] == ["done", "done"]
        assert engine.step() >= 1  # a new prior: gw-a's assets are recomputed
        after = store_a.outlooks(["A1"])[0]
        assert "fleet_prior" in after.method, after
        assert "3 completed lives of parts across every site" in after.status_text
    finally:
        store_a.close()
        store_b.close()


def _count_kind(store: SqlStore, kind: str) -> int:
    return sum(1 for e in store.service_log() if e.kind == kind)


def test_warning_thresholds_from_two_sites_reach_both_sites(
    tmp_path: Path, broker: Any, central: PostgresStore
) -> None:
    """A warning found false at gw-a and a defect confirmed at gw-b (each by its own health
    monitor) go up with the sites' states over the broker; the thresholds the centre tunes
    from both (neither site's own) come down as commands and both monitors use them."""
    sites = two_sites_outcomes(tmp_path)
    own = {o: mon.group_params(GROUP)[0].kurt_ratio for o, (_, mon) in sites.items()}
    fleet = _login_cfg(broker.port, "fleet")

    async def scenario() -> None:
        links = {o: Site(o, st, broker.port, tmp_path) for o, (st, _) in sites.items()}
        sender = CommandSender(central, ORIGINS, fleet)
        async with running(central, fleet, links.values(), sender):
            await _until(lambda: len(central.warning_outcomes()) == 2, 60, "both outcomes")
            assert await asyncio.to_thread(PriorPublisher(central, ORIGINS).publish) == 2
            await _until(lambda: not central.pending_fleet_heads(), 30, "the thresholds applied")

    try:
        asyncio.run(scenario())
        cmds = central.fleet_commands()
        assert [(c.kind, c.state) for c in cmds] == [("warning_thresholds", "done")] * 2
        # the centre's page lists them in words
        cfg = FleetConfig(database="unused", origins=ORIGINS, mqtt=fleet,
                          web={"SECRET_KEY": "test-secret", "TESTING": True})  # fmt: skip
        central.upsert_user(User("tech", hash_password("tech-pass-1234"), "technician"))
        page = fleet_app(central, cfg).test_client()  # type: ignore[attr-defined]
        login(page, "tech", "tech-pass-1234")
        assert {r["summary"] for r in page.get("/api/commands").get_json()} == {
            f"warning thresholds of {GROUP} from 2 warning outcomes"
        }
        for origin, (_, mon) in sites.items():
            mon.step()
            params, where, n = mon.group_params(GROUP)
            assert (where, n) == ("fleet", 2)
            assert params.kurt_ratio == pytest.approx(5.6 / 3.2)
            assert own[origin] != pytest.approx(params.kurt_ratio)  # not what it learned alone
    finally:
        for st, _ in sites.values():
            st.close()
