"""The gateway process's tasks: `serve(cfg, app_factory)` (started by kizashi/app.py, the
composition root, for `kizashi gateway run` and `kizashi demo`).

Named tasks in one TaskGroup: `pipeline` (commit loop), one `link:<name>` per transport,
`retention`, `health`, `outlook` (gateway/outlook: one judgement per asset, recomputed when
its inputs change, on a store connection of its own), `proposals` (expiry and follow-ups,
gateway/proposals.py) and `webhooks` (the outbox to the [[webhooks]] endpoints), each
supervised (restarted with backoff after an unexpected error). SIGINT/SIGTERM stop the links
first, then the pipeline flushes and commits its last batch, then the store closes. The web
page runs in waitress threads when an app factory is given (`serve(..., app_factory=...)`);
this package never imports the page (fleet_web): the root hands its factory in.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.analytics import HealthMonitor
from gateway.config import GatewayConfig
from gateway.healthcheck import GatewayHealth
from gateway.ingest import IngestPipeline
from gateway.kpi_report import KpiSnapshots
from gateway.links import Link
from gateway.metrics import REGISTRY, Metrics
from gateway.mqtt_link import MqttLink
from gateway.mqtt_native import NativeMqttLink
from gateway.node_config import NodeConfigManager
from gateway.notify import WebhookNotifier
from gateway.outlook import OutlookEngine, outlook_age_s
from gateway.proposals import Proposals
from gateway.rollout import RolloutRunner
from gateway.sdnotify import watchdog_loop
from gateway.serial_link import SerialLink
from gateway.store import open_store
from gateway.store.api import Store
from gateway.store.sql import SqlStore
from gateway.uplink.commands import CommandReceiver
from gateway.uplink.forwarder import Forwarder
from gateway.uplink.site_commands import SiteCommands
from gateway.webhooks import WebhookDispatcher

log = logging.getLogger(__name__)

__all__ = ["AppFactory", "HttpServer", "ServiceContext", "serve", "supervise"]


@dataclass(frozen=True)
class ServiceContext:
    """What a WSGI app factory gets: a store of its own, the config, metrics and pipeline."""

    config: GatewayConfig
    store: Store  # a separate instance (connection) for the web threads
    metrics: Metrics
    pipeline: IngestPipeline
    render_metrics: Callable[[], str]
    outlook: OutlookEngine  # the running engine task (the page refreshes with its own instance)
    health: GatewayHealth | None = None  # what /healthz reports (None: the page's own check)


AppFactory = Callable[[ServiceContext], Callable[..., Any]]


async def supervise(
    name: str,
    factory: Callable[[], Awaitable[None]],
    metrics: Metrics,
    backoff_max: float = 30.0,
) -> None:
    """Run factory() again after an unexpected error (not after cancellation)."""
    delay = 1.0
    while True:
        started = time.monotonic()
        try:
            await factory()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("task failed, restarting", extra={"task": name, "retry_s": delay})
            metrics.inc("kizashi_task_restarts_total", task=name)
        if time.monotonic() - started > 60:
            delay = 1.0
        await asyncio.sleep(delay)
        delay = min(backoff_max, delay * 2)


async def health_loop(monitor: HealthMonitor, every_s: float = 10.0) -> None:
    """Judge newly stored reports: zones, baseline change, alarms (stored as events)."""
    while True:
        await asyncio.to_thread(monitor.step)
        await asyncio.sleep(every_s)


async def retention_loop(
    store: Store, days: float, every_s: float = 3600.0, event_days: float | None = None
) -> None:
    """Raw frames are kept `days`, events `event_days` (a node flooding events cannot grow
    the database for ever: see also the per-node event budget in the pipeline)."""
    while True:
        cutoff = time.time() - days * 86400.0
        n = await asyncio.to_thread(store.prune_frames, cutoff)
        if n:
            log.info("pruned raw frames", extra={"rows": n, "days": days})
        if event_days is not None:
            cutoff = time.time() - event_days * 86400.0
            n = await asyncio.to_thread(store.prune_events, cutoff)
            if n:
                log.info("pruned events", extra={"rows": n, "days": event_days})
        await asyncio.sleep(every_s)


class HttpServer:
    """waitress in a thread, stopped with the process."""

    def __init__(self, app: Callable[..., Any], host: str, port: int, threads: int) -> None:
        waitress = importlib.import_module("waitress")
        self.server: Any = waitress.create_server(app, host=host, port=port, threads=threads)
        self.port: int = int(self.server.effective_port)
        self.thread = threading.Thread(target=self._run, name="http", daemon=True)

    def _run(self) -> None:
        with contextlib.suppress(Exception):  # closing the socket ends the loop with an error
            self.server.run()

    def start(self) -> HttpServer:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.close()
        with contextlib.suppress(Exception):
            self.server.task_dispatcher.shutdown()
        self.thread.join(5)


def _runner(link: Link, pipeline: IngestPipeline) -> Callable[[], Awaitable[None]]:
    def start() -> Awaitable[None]:
        return link.run(pipeline)

    return start


def build_links(cfg: GatewayConfig, metrics: Metrics) -> list[Link]:
    links: list[Link] = []
    if cfg.mqtt_enabled and cfg.mqtt_client == "native":
        links.append(NativeMqttLink(cfg.mqtt, metrics, cfg.mqtt_connections))
    elif cfg.mqtt_enabled:
        links.append(MqttLink(cfg.mqtt, metrics))
    for s in cfg.serial:
        if not s.nodes:
            log.warning(
                "serial port not bound to node ids: any device on it may claim any node",
                extra={"port": s.port, "hint": "set nodes = [...] in its [[serial]] table"},
            )
        links.append(SerialLink(s.port, s.baudrate, metrics, allowed_nodes=s.nodes))
    return links


async def serve(
    cfg: GatewayConfig,
    app_factory: AppFactory | None = None,
    extra_links: Sequence[Link] = (),
    stop: asyncio.Event | None = None,
    metrics: Metrics | None = None,
    on_ready: Callable[[ServiceContext], None] | None = None,
    clock: Callable[[], float] = time.time,
    outlook_every_s: float = 2.0,
) -> None:
    """Run the gateway until `stop` is set (or SIGINT/SIGTERM). `clock` is the time of the
    pipeline, outlook, node configs and rollouts (the demo's simulated clock)."""
    metrics = metrics or REGISTRY
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    url = cfg.database_url
    # The health and notify state files live here; a PostgreSQL site has no SQLite file that
    # would have created it (issue 15 item 22: the health task crash-looped).
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    store = await asyncio.to_thread(open_store, url, cfg.sqlite_synchronous)
    pipeline = IngestPipeline(store, metrics, cfg.pipeline, clock=clock)
    links = build_links(cfg, metrics) + list(extra_links)
    for link in links:
        pipeline.add_link(link)
    node_configs = (  # the registry's configuration pushed to the nodes (gateway.node_config)
        await asyncio.to_thread(NodeConfigManager, pipeline, store, cfg.node_config, metrics, clock)
        if cfg.node_config.enabled
        else None
    )
    web_store = await asyncio.to_thread(open_store, url, cfg.sqlite_synchronous)
    outlook_store = await asyncio.to_thread(open_store, url, cfg.sqlite_synchronous)
    outlook = OutlookEngine(outlook_store, clock=clock)
    health = GatewayHealth.from_settings(
        cfg.health, pipeline, links, outlook_age=lambda: outlook_age_s(web_store)
    )
    ctx = ServiceContext(cfg, web_store, metrics, pipeline, metrics.render, outlook, health)
    http: HttpServer | None = None
    closers: list[Store] = []
    if app_factory is not None and cfg.http.enabled:
        http = HttpServer(app_factory(ctx), cfg.http.host, cfg.http.port, cfg.http.threads).start()
        log.info("http serving", extra={"host": cfg.http.host, "port": http.port})
    log.info("gateway starting", extra={"links": [link.name for link in links], "db": url})
    try:
        async with asyncio.TaskGroup() as tg:
            ptask = tg.create_task(pipeline.run(), name="pipeline")
            side = [
                tg.create_task(
                    supervise("link:" + link.name, _runner(link, pipeline), metrics),
                    name="link:" + link.name,
                )
                for link in links
            ]
            side.append(
                tg.create_task(
                    supervise(
                        "retention",
                        lambda: retention_loop(
                            store, cfg.retention_days, event_days=cfg.event_retention_days
                        ),
                        metrics,
                    ),
                    name="retention",
                )
            )
            monitor = HealthMonitor(store, cfg.data_dir / "health_state.json")
            side.append(
                tg.create_task(
                    supervise("health", lambda: health_loop(monitor), metrics),
                    name="health",
                )
            )
            side.append(
                tg.create_task(
                    supervise("outlook", lambda: outlook.run(outlook_every_s), metrics),
                    name="outlook",
                )
            )
            # Proposals expire and get their follow-up flags; the outbox goes to the webhooks
            # (docs/SERVICE.md), both on a store connection of their own.
            service_store = await asyncio.to_thread(open_store, url, cfg.sqlite_synchronous)
            closers.append(service_store)
            proposals = Proposals(service_store, clock=clock)
            snapshots = KpiSnapshots(service_store, clock=clock)
            side.append(
                tg.create_task(
                    supervise("proposals", lambda: proposals.run(also=snapshots.step), metrics),
                    name="proposals",
                )
            )
            if cfg.webhooks:
                hooks = WebhookDispatcher(service_store, cfg.webhooks, metrics, cfg.gateway_id)
                side.append(
                    tg.create_task(supervise("webhooks", hooks.run, metrics), name="webhooks")
                )
            if cfg.notify.webhook_url:
                notifier = WebhookNotifier(
                    store, cfg.notify, cfg.data_dir / "notify_state.json", cfg.gateway_id, metrics
                )
                side.append(
                    tg.create_task(supervise("notify", notifier.run, metrics), name="notify")
                )
            rollouts = RolloutRunner(
                pipeline, store, cfg.data_dir, clock=clock
            )  # kizashi node update
            side.append(tg.create_task(supervise("rollout", rollouts.run, metrics), name="rollout"))
            if node_configs is not None:
                side.append(
                    tg.create_task(
                        supervise("node_config", node_configs.run, metrics), name="node_config"
                    )
                )
            if cfg.uplink.enabled and isinstance(store, SqlStore):
                # forwards to the fleet server on a store connection of its own (FLEET.md)
                uplink_store = await asyncio.to_thread(open_store, url, cfg.sqlite_synchronous)
                closers.append(uplink_store)
                if not isinstance(uplink_store, SqlStore):
                    raise TypeError("the uplink needs an SQL store")
                forwarder = Forwarder(uplink_store, cfg.gateway_id, cfg.uplink, metrics)
                side.append(
                    tg.create_task(supervise("uplink", forwarder.run, metrics), name="uplink")
                )
                # commands from the fleet server (gateway/uplink/commands.py), applied once each
                command_store = await asyncio.to_thread(open_store, url, cfg.sqlite_synchronous)
                closers.append(command_store)
                if not isinstance(command_store, SqlStore):
                    raise TypeError("fleet commands need an SQL store")
                apply = SiteCommands(command_store, cfg.data_dir, cfg.secrets, clock)
                receiver = CommandReceiver(cfg.gateway_id, cfg.uplink, apply, metrics)
                side.append(
                    tg.create_task(
                        supervise("fleet_commands", receiver.run, metrics), name="fleet_commands"
                    )
                )
            side.append(tg.create_task(watchdog_loop(health.check), name="watchdog"))
            if on_ready is not None:
                on_ready(ctx)
            stop_task = tg.create_task(stop.wait(), name="stop")
            await asyncio.wait([ptask, stop_task], return_when=asyncio.FIRST_COMPLETED)
            log.info("gateway stopping")
            for t in side:
                t.cancel()
            await asyncio.gather(*side, return_exceptions=True)
            pipeline.stop()  # flushes and commits the last batch
            await ptask
            stop_task.cancel()
    finally:
        if http is not None:
            http.close()
        await asyncio.to_thread(store.close)
        await asyncio.to_thread(web_store.close)
        await asyncio.to_thread(outlook_store.close)
        for extra in closers:
            await asyncio.to_thread(extra.close)
        log.info("gateway stopped", extra={"stored": pipeline.stored})
