"""The fleet role end to end: `serve_fleet` (what `kizashi fleet run` runs) on PostgreSQL behind a
private Mosquitto, two site gateways forwarding to it, and its page showing both sites; a
customer's user of the same page sees only its own site."""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from pathlib import Path

import pytest

from fleet_web.auth import hash_password
from gateway.fleet_server import FleetConfig, serve_fleet
from gateway.store.api import User
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SqliteStore
from gateway.uplink.central import CentralApplier
from gateway.uplink.forwarder import Forwarder
from kizashi.app import fleet_app as default_fleet_app
from tests.web.conftest import login

from .broker import Broker, free_port
from .conftest import PG_URL, pg_available
from .test_uplink_broker import _cfg, _until
from .uplink_support import frame_keys, hourly_totals, register_site, traffic

pytestmark = pytest.mark.postgres


def test_fleet_server_shows_every_site(tmp_path: Path) -> None:
    if not pg_available():
        pytest.fail("PostgreSQL not reachable at " + PG_URL)
    schema = "kz_fleetsrv_" + uuid.uuid4().hex[:12]
    url = f"{PG_URL}?schema={schema}"
    broker = Broker(tmp_path, free_port()).start()
    sites = {"gw-a": SqliteStore(tmp_path / "a.db"), "gw-b": SqliteStore(tmp_path / "b.db")}
    register_site(sites["gw-a"], "site-a", ["a1"])
    register_site(sites["gw-b"], "site-b", ["b1"])
    http_port = free_port()
    cfg = FleetConfig(
        database=url,
        origins={"gw-a": "acme", "gw-b": "globex"},
        mqtt=_cfg(broker.port),
        data_dir=tmp_path / "fleet",
        web={"SECRET_KEY": "test-secret", "TESTING": True},
    )
    cfg = FleetConfig(**{**cfg.__dict__, "http": cfg.http.__class__(port=http_port)})
    central = PostgresStore(PG_URL, schema)
    ready: list[CentralApplier] = []

    async def scenario() -> None:
        stop = asyncio.Event()
        server = asyncio.create_task(
            serve_fleet(cfg, default_fleet_app, stop, on_ready=lambda a, _: ready.append(a))
        )
        fwds = [
            asyncio.create_task(Forwarder(s, o, _cfg(broker.port)).run()) for o, s in sites.items()
        ]
        try:
            for origin, s in sites.items():
                await asyncio.to_thread(traffic, s, [origin[-1] + "1"], 0, 50)
            keys = sorted(k for s in sites.values() for k in frame_keys(s))
            await _until(lambda: frame_keys(central) == keys, 60, "both sites at the centre")
            body = await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz").read()
            )
            assert json.loads(body)["status"] in ("ok", "degraded")
        finally:
            stop.set()
            for t in fwds:
                t.cancel()
            await asyncio.gather(server, *fwds, return_exceptions=True)

    try:
        asyncio.run(scenario())
        assert ready and ready[0].applied > 0
        for origin, s in sites.items():  # the registry came first: same hourly sums as the site
            node = [origin[-1] + "1"]
            assert hourly_totals(central, node) == hourly_totals(s, node) == {f"{node[0]}-pump": 50}
        h = hash_password("fleet-pass-1234")
        central.upsert_user(User("team", h, "viewer"))
        central.upsert_user(User("acme-user", h, "viewer", customer="acme"))
        app = default_fleet_app(central, cfg)
        team, cust = app.test_client(), app.test_client()  # type: ignore[attr-defined]
        login(team, "team", "fleet-pass-1234")
        login(cust, "acme-user", "fleet-pass-1234")
        assert team.get("/api/sites").get_json() == ["site-a", "site-b"]
        assert {r["id"] for r in team.get("/api/assets").get_json()} == {"a1-pump", "b1-pump"}
        by_customer = team.get("/api/assets?customer=globex").get_json()
        assert [r["id"] for r in by_customer] == ["b1-pump"]
        assert cust.get("/api/sites").get_json() == ["site-a"]
        assert [r["id"] for r in cust.get("/api/assets").get_json()] == ["a1-pump"]
    finally:
        broker.kill()
        for s in sites.values():
            s.close()
        central.drop_schema()
        central.close()
