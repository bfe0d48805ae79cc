"""The wiring: the gateway's tasks (gateway.service.serve: store, pipeline, links, outlook,
notifier, rollouts, uplink) with the fleet page (fleet_web) in waitress threads.

`kizashi gateway run` and `kizashi demo` both start through `serve`; the demo only adds its
simulated nodes (an extra link) and its simulated clock. The fleet server's page
(`kizashi fleet run`) is wired here too: the gateway package never imports fleet_web.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from fleet_web import create_app
from gateway.config import GatewayConfig, load_config_or_exit
from gateway.fleet_server import FleetConfig, load_fleet_config, serve_fleet
from gateway.links import Link
from gateway.logs import setup_logging
from gateway.metrics import Metrics, render_metrics
from gateway.service import ServiceContext
from gateway.service import serve as serve_gateway
from gateway.store.sql import SqlStore

log = logging.getLogger(__name__)

__all__ = ["fleet_app", "fleet_main", "gateway_main", "run_main", "serve", "web_app"]


def web_app(ctx: ServiceContext, extra: dict[str, Any] | None = None) -> Callable[..., Any]:
    """The fleet page over the gateway's web store, /metrics included."""
    cfg: dict[str, Any] = {"METRICS_RENDER": render_metrics, **ctx.config.web, **(extra or {})}
    if not ctx.store.users():  # a fresh site: nobody could sign in, say how to fix it
        log.warning(
            "no fleet page user yet: create the first one with "
            "`kizashi user add NAME --role admin --config <this config file>`"
        )
    if ctx.health is not None:
        cfg["HEALTH_CHECK"] = ctx.health.check
    # The page gets an engine instance of its own over its store (create_app makes it) for the
    # refreshes after its writes: they never wait for the task's hourly sweep of the fleet.
    app: Callable[..., Any] = create_app(cfg, store=ctx.store)
    return app


async def serve(
    cfg: GatewayConfig,
    *,
    http: bool = True,
    web: dict[str, Any] | None = None,
    extra_links: Sequence[Link] = (),
    stop: asyncio.Event | None = None,
    metrics: Metrics | None = None,
    on_ready: Callable[[ServiceContext], None] | None = None,
    clock: Callable[[], float] = time.time,
    outlook_every_s: float = 2.0,
) -> None:
    """Run the gateway with its page until `stop` (or SIGINT/SIGTERM). `web` adds page config
    (the demo's CLOCK and SECRET_KEY); `clock` is the gateway's time (the demo's simulated
    one)."""

    def factory(ctx: ServiceContext) -> Callable[..., Any]:
        return web_app(ctx, web)

    await serve_gateway(
        cfg,
        factory if http else None,
        extra_links=extra_links,
        stop=stop,
        metrics=metrics,
        on_ready=on_ready,
        clock=clock,
        outlook_every_s=outlook_every_s,
    )


def run_main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog="kizashi gateway run")
    ap.add_argument("--config", required=True, help="gateway TOML file")
    ap.add_argument("--no-http", action="store_true", help="do not serve the web page")
    args = ap.parse_args(list(argv))
    cfg = load_config_or_exit(args.config)  # a bad config: one line, exit code 2
    setup_logging(cfg.log_level)
    asyncio.run(serve(cfg, http=not args.no_http))
    return 0


def gateway_main(argv: Sequence[str]) -> int:
    """`kizashi gateway run ...`"""
    args = list(argv)
    if args[:1] != ["run"]:
        print("usage: kizashi gateway run --config FILE [--no-http]")
        return 2
    return run_main(args[1:])


def fleet_app(store: SqlStore, cfg: FleetConfig) -> Callable[..., Any]:
    """The fleet page over the central store, with the fleet role's tenancy on."""
    conf: dict[str, Any] = {"METRICS_RENDER": render_metrics, "FLEET_ROLE": True, **cfg.web}
    app: Callable[..., Any] = create_app(conf, store=store)
    return app


def fleet_main(argv: Sequence[str]) -> int:
    """`kizashi fleet run --config FILE [--no-http]`, `kizashi fleet demo` (kizashi/fleet_demo),
    `kizashi fleet command --config FILE ...` (gateway/fleet_command_cli.py)."""
    args = list(argv)
    if args[:1] == ["demo"]:
        from kizashi.fleet_demo import main

        return main(args[1:])
    if args[:1] == ["command"]:
        from gateway.fleet_command_cli import main as command_main

        return command_main(args[1:])
    if args[:1] != ["run"]:
        print(
            "usage: kizashi fleet run --config FILE [--no-http] | kizashi fleet demo [--port P]"
            " | kizashi fleet command --config FILE {list,asset,node,service,window,update,prior}"
        )
        return 2
    ap = argparse.ArgumentParser(prog="kizashi fleet run")
    ap.add_argument("--config", required=True, help="fleet server TOML file")
    ap.add_argument("--no-http", action="store_true", help="do not serve the fleet page")
    ns = ap.parse_args(args[1:])
    cfg = load_fleet_config(ns.config)
    setup_logging(cfg.log_level)
    asyncio.run(serve_fleet(cfg, None if ns.no_http else fleet_app))
    return 0
