"""Alarm webhook: every gateway health event reaches the endpoint once it is up, none twice
in normal operation, none of the history on first start, nothing lost across restarts."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gateway.config import parse_config
from gateway.metrics import Metrics
from gateway.notify import DeliveryError, NotifyConfig, WebhookNotifier
from gateway.store import open_store
from gateway.store.api import Asset, EventRecord, Store, WriteBatch


class Hook:
    """A real HTTP endpoint on loopback that records POSTs and answers with `status`."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(n))
                if hook.status == 200:
                    hook.bodies.append(body)
                    hook.headers.append(dict(self.headers))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def codes(self) -> list[str]:
        return [e["code"] for b in self.bodies for e in b["events"]]


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.server.shutdown()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(str(tmp_path / "k.db"))
    s.upsert_asset(Asset("P-1", "Osaka", "Pump 1", "n1"))
    yield s
    s.close()


def emit(store: Store, *codes: str, source: str = "gateway") -> None:
    events = [EventRecord(1_760_000_000.0 + i, "n1", c, {"zone": "C"}, source=source)  # type: ignore[arg-type]
              for i, c in enumerate(codes)]  # fmt: skip
    store.write_batch(WriteBatch(events=events))


def test_delivers_new_health_events_only(store: Store, hook: Hook, tmp_path: Path) -> None:
    emit(store, "alarm_alert")  # history before the first start: not sent
    cfg = NotifyConfig(hook.url, token="s3cret", batch=2)
    n = WebhookNotifier(store, cfg, tmp_path / "notify.json", "gw-osaka")
    assert n.deliver_once() == 0 and hook.bodies == []
    emit(store, "alarm_danger", "cmd_ok", "baseline_change", "alarm_normal")
    emit(store, "alarm_alert", source="node")  # a node's own event: not a gateway judgement
    assert n.deliver_once() == 2 and n.deliver_once() == 1 and n.deliver_once() == 0
    assert hook.codes == ["alarm_danger", "baseline_change", "alarm_normal"]
    first = hook.bodies[0]["events"][0]
    assert hook.bodies[0]["gateway"] == "gw-osaka"
    assert (first["asset_id"], first["site"], first["machine"]) == ("P-1", "Osaka", "Pump 1")
    assert first["ts"] == "2025-10-09T08:53:20Z" and first["detail"] == {"zone": "C"}
    assert hook.headers[0]["Authorization"] == "Bearer s3cret"


def test_failures_keep_the_watermark_and_restart_resumes(
    store: Store, hook: Hook, tmp_path: Path
) -> None:
    state = tmp_path / "notify.json"
    m = Metrics()
    n = WebhookNotifier(store, NotifyConfig(hook.url), state, metrics=m)
    emit(store, "alarm_alert")
    hook.status = 503
    with pytest.raises(DeliveryError, match="503"):
        n.deliver_once()
    # Gateway restarts while the endpoint is down; the event is still owed.
    n = WebhookNotifier(store, NotifyConfig(hook.url), state, metrics=m)
    hook.status = 200
    assert n.deliver_once() == 1 and hook.codes == ["alarm_alert"]
    hook.server.shutdown()
    hook.server.server_close()
    emit(store, "alarm_danger")
    with pytest.raises(DeliveryError):
        n.deliver_once()  # connection refused
    assert json.loads(state.read_text())["last_event_id"] == n.watermark


def test_run_retries_until_the_endpoint_answers(store: Store, hook: Hook, tmp_path: Path) -> None:
    m = Metrics()
    n = WebhookNotifier(store, NotifyConfig(hook.url, poll_s=0.05), tmp_path / "s.json", metrics=m)
    hook.status = 500
    emit(store, "alarm_alert")

    async def body() -> None:
        task = asyncio.create_task(n.run())
        await asyncio.sleep(1.5)  # first attempt fails, the retry after 1 s succeeds
        hook.status = 200
        for _ in range(100):
            if hook.codes:
                break
            await asyncio.sleep(0.05)
        task.cancel()

    hook.status = 500
    asyncio.run(body())
    assert hook.codes == ["alarm_alert"]
    text = m.render()
    assert "kizashi_notify_failures_total" in text and "kizashi_notify_sent_total 1" in text


def test_config_section() -> None:
    cfg = parse_config(
        {"notify": {"webhook_url": "https://x.example/h", "codes": ["alarm_danger"]}}
    )
    assert cfg.notify.webhook_url == "https://x.example/h" and cfg.notify.codes == ("alarm_danger",)
    assert parse_config({}).notify.webhook_url == ""
    with pytest.raises(ValueError, match="http"):
        parse_config({"notify": {"webhook_url": "ftp://x"}})
    with pytest.raises(ValueError, match="unknown key"):
        parse_config({"notify": {"url": "https://x"}})


def test_run_goes_through_a_backlog_without_waiting(
    store: Store, hook: Hook, tmp_path: Path
) -> None:
    """Hundreds of node events ahead of an alarm are skipped at once, not 200 per poll."""
    n = WebhookNotifier(store, NotifyConfig(hook.url, poll_s=30), tmp_path / "s.json")
    emit(store, *(["cmd_ok"] * 900), source="node")
    emit(store, "alarm_danger")

    async def body() -> None:
        task = asyncio.create_task(n.run())
        for _ in range(100):
            if hook.codes:
                break
            await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(body())
    assert hook.codes == ["alarm_danger"]


def test_events_carry_the_assets_outlook(store: Store, hook: Hook, tmp_path: Path) -> None:
    """The page's advice travels with the alarm: the asset's stored outlook (gateway/outlook)."""
    from gateway.outlook import OutlookEngine
    from gateway.store.api import FrameRecord

    n = WebhookNotifier(store, NotifyConfig(hook.url), tmp_path / "notify.json")
    emit(store, "alarm_alert")
    n.deliver_once()
    assert hook.bodies[0]["events"][0]["outlook"] is None  # not computed yet
    t = 1_760_000_100.0
    store.write_batch(WriteBatch(frames=[FrameRecord(
        node_id="n1", boot_id=1, seq=k, kind="report", node_time=int(t + k), recv_time=t + k,
        ts=t + k, payload=b"", flags=1, dropped=0, runtime_s=1000 + k, starts=1,
        acc_rms_mg=(900,) * 3, vel_rms_mm_s_x100=(600,) * 3, peak_mg=900, kurtosis_x100=10,
        temp_c_x10=400,
    ) for k in range(12)]))  # fmt: skip
    OutlookEngine(store, clock=lambda: t + 60).step()
    emit(store, "alarm_danger")
    n.deliver_once()
    o = hook.bodies[1]["events"][0]["outlook"]
    assert o["zone"] == "D" and o["action"] == "stop_now" and "Stop now" in o["action_text"]
    assert o["need_by"] == "2025-10-09T08:56:00Z"
