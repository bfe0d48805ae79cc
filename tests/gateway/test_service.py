"""`serve()`: config, named tasks, the WSGI hook, /metrics text, clean stop that commits."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from gateway.config import load_config
from gateway.links import LoopbackLink
from gateway.metrics import Metrics
from gateway.service import ServiceContext, serve
from gateway.store.sqlite import SqliteStore
from kizashi.app import gateway_main
from tests.gateway.broker import free_port
from tests.gateway.simnode import SimNode, report

pytestmark = pytest.mark.timeout(60)
REPO = Path(__file__).resolve().parents[2]


def test_example_config_parses() -> None:
    cfg = load_config(REPO / "deploy" / "gateway.example.toml")
    assert cfg.mqtt.port == 1883 and cfg.serial == ()  # no serial board unless configured
    assert cfg.pipeline.batch_max == 1000 and cfg.retention_days == 30


def test_unknown_config_key_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "g.toml"
    p.write_text("[gateway]\ndata_dri = 'x'\n")
    with pytest.raises(ValueError, match="data_dri"):
        load_config(p)
    assert gateway_main(["nope"]) == 2


def test_serve_ingests_serves_metrics_and_flushes_on_stop(tmp_path: Path) -> None:
    port = free_port()
    p = tmp_path / "g.toml"
    p.write_text(
        "[gateway]\ndata_dir = 'd'\n[mqtt]\nenabled = false\n"
        f"[http]\nhost = '127.0.0.1'\nport = {port}\n"
        # A long batch interval: only the stop can have committed the frames.
        "[pipeline]\nbatch_interval_s = 30.0\n"
    )
    cfg = load_config(p)
    metrics = Metrics()
    link = LoopbackLink("loop", metrics)
    seen: list[ServiceContext] = []

    def factory(ctx: ServiceContext) -> Callable[..., Any]:
        def app(environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
            body = ctx.render_metrics().encode()
            start("200 OK", [("Content-Type", "text/plain; version=0.0.4")])
            return [body]

        return app

    async def body() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(serve(cfg, factory, [link], stop, metrics, on_ready=seen.append))
        while not seen:
            await asyncio.sleep(0.01)
        names = {t.get_name() for t in asyncio.all_tasks()}
        assert {"pipeline", "link:loop", "retention"} <= names
        node = SimNode(link.port("n1"))
        now = int(time.time())
        for s in range(3):
            node.send(report("n1", 1, s, now + s))
        await asyncio.sleep(0.2)
        text = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        )
        assert b"# TYPE kizashi_frames_rejected_total counter" in text
        node.poll()
        assert not node.acks  # nothing committed yet (30 s batch interval)
        stop.set()
        await asyncio.wait_for(task, 20)
        node.poll()
        assert node.acks == [(1, 2)]  # committed and acked during the stop

    asyncio.run(body())
    store = SqliteStore(tmp_path / "d" / "kizashi.db")
    assert len(store.recent_frames("n1")) == 3
    store.close()


def test_config_selects_the_native_mqtt_client(tmp_path: Path) -> None:
    from gateway.mqtt_link import MqttLink
    from gateway.mqtt_native import NativeMqttLink
    from gateway.service import build_links

    path = tmp_path / "gw.toml"
    path.write_text('[mqtt]\nclient = "native"\nconnections = 2\n')
    links = build_links(load_config(path), Metrics())
    assert isinstance(links[0], NativeMqttLink) and links[0].connections == 2
    path.write_text("[mqtt]\n")
    assert isinstance(build_links(load_config(path), Metrics())[0], MqttLink)
    path.write_text('[mqtt]\nclient = "paho"\n')
    with pytest.raises(ValueError, match=r"mqtt\.client"):
        load_config(path)


def test_serve_runs_the_alarm_webhook_when_configured(tmp_path: Path) -> None:
    from gateway.store.api import EventRecord, WriteBatch
    from tests.gateway.test_notify import Hook

    hook = Hook()
    p = tmp_path / "g.toml"
    p.write_text(
        "[gateway]\ndata_dir = 'd'\n[mqtt]\nenabled = false\n[http]\nenabled = false\n"
        f"[notify]\nwebhook_url = '{hook.url}'\npoll_s = 0.1\n"
    )
    cfg = load_config(p)
    seen: list[ServiceContext] = []

    async def body() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(serve(cfg, None, [], stop, Metrics(), on_ready=seen.append))
        while not seen:
            await asyncio.sleep(0.01)
        assert "notify" in {t.get_name() for t in asyncio.all_tasks()}
        await asyncio.sleep(0.3)  # the notifier has started and set its watermark
        ev = EventRecord(time.time(), "n1", "alarm_danger", {"zone": "D"}, source="gateway")
        await asyncio.to_thread(seen[0].store.write_batch, WriteBatch(events=[ev]))
        for _ in range(100):
            if hook.codes:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 20)

    asyncio.run(body())
    hook.server.shutdown()
    assert hook.codes == ["alarm_danger"]
    assert (tmp_path / "d" / "notify_state.json").exists()
