"""The central fleet server (docs/FLEET.md): `serve_fleet(cfg, app_factory)`, started with the
page by kizashi/app.py (`kizashi fleet run --config FILE`).

The same software in its fleet role: no node links and no outlook engine of its own; it applies
what the site gateways forward (gateway/uplink/central.py) into its store (PostgreSQL) and serves
one fleet page over every site. Config (TOML):

    [fleet]            database (URL, required), data_dir, log_level, prior_every_s (how often
                       the fleet prior is refitted from every site's lives and the warning
                       thresholds retuned from every site's warning outcomes and, when they
                       changed, sent down: gateway/uplink/fleet_prior.py; 0 = never), appliers
                       (parallel applier connections, PostgreSQL only; default 4)
    [fleet.mqtt]       the central broker: keys of gateway/uplink/config.py (host, port, tls...)
    [fleet.origins]    site gateway id = "customer": the only origins applied, and their customer
    [http]             enabled, host, port, threads (as the site gateway)
    [web]              passed to the page (as the site gateway)
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.config import HttpConfig
from gateway.kpi_report import KpiSnapshots
from gateway.metrics import REGISTRY, Metrics
from gateway.proposals import Proposals
from gateway.service import HttpServer, supervise
from gateway.store import open_store
from gateway.store.sql import SqlStore
from gateway.uplink.central import CentralApplier
from gateway.uplink.commands import CommandSender
from gateway.uplink.config import UplinkConfig, parse_uplink
from gateway.uplink.fleet_prior import PriorPublisher
from gateway.uplink.wire import ORIGIN_RE
from gateway.webhooks import WebhookDispatcher, WebhookEndpoint, parse_webhooks

log = logging.getLogger(__name__)

__all__ = ["FleetConfig", "load_fleet_config", "serve_fleet"]

FLEET_KEYS = {"database", "data_dir", "log_level", "mqtt", "origins", "prior_every_s", "appliers"}
HTTP_KEYS = {"enabled", "host", "port", "threads"}


@dataclass(frozen=True)
class FleetConfig:
    database: str
    origins: dict[str, str]  # site gateway id -> customer
    mqtt: UplinkConfig = field(default_factory=UplinkConfig)
    data_dir: Path = Path("fleet-data")
    log_level: str = "INFO"
    http: HttpConfig = field(default_factory=HttpConfig)
    web: dict[str, Any] = field(default_factory=dict)
    webhooks: tuple[WebhookEndpoint, ...] = ()  # [[webhooks]] as on a gateway
    prior_every_s: float = 3600.0
    # Applier lanes (a database connection each, origins partitioned among them); SQLite
    # (tests) always has one: its writers serialise on the file anyway.
    appliers: int = 4


def parse_fleet_config(data: dict[str, Any], base: Path = Path(".")) -> FleetConfig:
    unknown = set(data) - {"fleet", "http", "web", "webhooks"}
    if unknown:
        raise ValueError(f"unknown section(s): {', '.join(sorted(unknown))}")
    fleet = data.get("fleet", {})
    sections = (("fleet", fleet, FLEET_KEYS), ("http", data.get("http", {}), HTTP_KEYS))
    for section, table, keys in sections:
        bad = set(table) - keys
        if bad:
            raise ValueError(f"unknown key(s) in [{section}]: {', '.join(sorted(bad))}")
    if not fleet.get("database"):
        raise ValueError("[fleet] database is required (postgresql://...)")
    origins = {str(k): str(v) for k, v in dict(fleet.get("origins", {})).items()}
    for origin, customer in origins.items():
        if not ORIGIN_RE.match(origin) or not customer.strip():
            raise ValueError(f"[fleet.origins] {origin!r}: an id [A-Za-z0-9_.-] and a customer")
    http = data.get("http", {})
    appliers = fleet.get("appliers", 4)
    if not isinstance(appliers, int) or not 1 <= appliers <= 32:
        raise ValueError("[fleet] appliers: a whole number from 1 to 32")
    return FleetConfig(
        database=str(fleet["database"]),
        origins=origins,
        mqtt=parse_uplink(dict(fleet.get("mqtt", {})), "fleet.mqtt"),
        data_dir=base / str(fleet.get("data_dir", "fleet-data")),
        log_level=str(fleet.get("log_level", "INFO")),
        http=HttpConfig(
            enabled=bool(http.get("enabled", True)),
            host=str(http.get("host", "127.0.0.1")),
            port=int(http.get("port", 8080)),
            threads=int(http.get("threads", 4)),
        ),
        web=dict(data.get("web", {})),
        webhooks=parse_webhooks(list(data.get("webhooks", []))),
        prior_every_s=float(fleet.get("prior_every_s", 3600.0)),
        appliers=appliers,
    )


def load_fleet_config(path: str | Path) -> FleetConfig:
    p = Path(path)
    with p.open("rb") as f:
        return parse_fleet_config(tomllib.load(f), p.parent)


def _open(url: str) -> SqlStore:
    store = open_store(url)
    if not isinstance(store, SqlStore):  # both backends are; a future one must say so
        raise TypeError("the fleet server needs an SQL store")
    return store


async def serve_fleet(
    cfg: FleetConfig,
    app_factory: Callable[[SqlStore, FleetConfig], Callable[..., Any]] | None = None,
    stop: asyncio.Event | None = None,
    metrics: Metrics | None = None,
    on_ready: Callable[[CentralApplier, int | None], None] | None = None,
) -> None:
    """Run the fleet server until `stop` (or SIGINT/SIGTERM)."""
    metrics = metrics or REGISTRY
    stop = stop or asyncio.Event()
    if threading.current_thread() is threading.main_thread():
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    store = await asyncio.to_thread(_open, cfg.database)
    web_store = await asyncio.to_thread(_open, cfg.database)
    lanes = cfg.appliers if cfg.database.startswith(("postgresql:", "postgres:")) else 1
    more = [await asyncio.to_thread(_open, cfg.database) for _ in range(lanes - 1)]
    applier = CentralApplier(store, cfg.origins, cfg.mqtt, metrics, more)
    http: HttpServer | None = None
    if app_factory is not None and cfg.http.enabled:
        app = app_factory(web_store, cfg)
        http = HttpServer(app, cfg.http.host, cfg.http.port, cfg.http.threads).start()
        log.info("fleet page serving", extra={"host": cfg.http.host, "port": http.port})
    # commands to the sites (the page's writes, rollouts, the prior) on connections of their own
    command_store = await asyncio.to_thread(_open, cfg.database)
    sender = CommandSender(command_store, cfg.origins, cfg.mqtt, metrics)
    tasks = [
        asyncio.create_task(supervise("fleet_uplink", applier.run, metrics)),
        asyncio.create_task(supervise("fleet_commands", sender.run, metrics)),
    ]
    if cfg.prior_every_s > 0:
        prior = PriorPublisher(command_store, cfg.origins, cfg.prior_every_s, metrics)
        tasks.append(asyncio.create_task(supervise("fleet_prior", prior.run, metrics)))
    # Proposals are made and answered on the fleet page too (customers sign in here):
    # their expiry and follow-ups, and the outbox to the webhooks (docs/SERVICE.md).
    # The weekly KPI snapshot (per customer here) goes with them (gateway/kpi_report.py).
    proposals = Proposals(store)
    snapshots = KpiSnapshots(store, time.time)
    tasks.append(
        asyncio.create_task(
            supervise("proposals", lambda: proposals.run(also=snapshots.step), metrics)
        )
    )
    if cfg.webhooks:
        hooks = WebhookDispatcher(store, cfg.webhooks, metrics, "fleet")
        tasks.append(asyncio.create_task(supervise("webhooks", hooks.run, metrics)))
    try:
        if on_ready is not None:
            on_ready(applier, None if http is None else http.port)
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await asyncio.to_thread(command_store.close)
        if http is not None:
            http.close()
        for st in (store, web_store, *more):
            await asyncio.to_thread(st.close)
