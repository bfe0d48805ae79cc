"""Webhook delivery of the outbox to a real HTTP server on loopback: signed with the endpoint's
secret, one event per POST in outbox order, retried with backoff after failures (and never
before its time), given up after max_attempts, filtered by kind, counted in the metrics; the
mark survives a new dispatcher (a restart)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gateway.config import parse_config
from gateway.metrics import Metrics
from gateway.store import open_store
from gateway.store.api import Store
from gateway.webhooks import WebhookDispatcher, WebhookEndpoint, parse_webhooks

SECRET = "s3cret-for-tests"


class Receiver:
    """A loopback HTTP server that records each POST and answers from a script of codes."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.codes: list[int] = []  # answered in order; 204 once used up
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.got.append((dict(self.headers.items()), body))
                code = outer.codes.pop(0) if outer.codes else 204
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(str(tmp_path / "k.db"))
    yield s
    s.close()


class Clock:
    t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_signed_ordered_retried_and_counted(receiver: Receiver, sqlite_store: Store) -> None:
    store = sqlite_store
    ids = [store.add_outbox("proposal.sent", {"proposal_id": "P-1"}, 10.0),
           store.add_outbox("kpi.weekly", {"week": "2026-W49"}, 11.0),
           store.add_outbox("proposal.accepted", {"proposal_id": "P-1"}, 12.0)]  # fmt: skip
    ep = WebhookEndpoint(receiver.url, SECRET, name="crm", kinds=("proposal.",), timeout_s=2.0)
    metrics, clock = Metrics(), Clock()
    hooks = WebhookDispatcher(store, [ep], metrics, "gw-osaka", clock=clock)
    receiver.codes = [500, 503]
    assert hooks.step() == 0  # first try refused
    mark = store.outbox_mark("crm")
    assert mark is not None and (mark.upto, mark.attempts, mark.last_error) == (0, 1, "HTTP 500")
    assert mark.next_at == clock.t + 1.0
    assert hooks.step() == 0 and len(receiver.got) == 1  # not before its time
    clock.t += 1.0
    assert hooks.step() == 0 and store.outbox_mark("crm").next_at == clock.t + 2.0  # type: ignore[union-attr]
    clock.t += 2.0
    # a restart: a new dispatcher resumes from the stored mark
    again = WebhookDispatcher(store, [ep], metrics, "gw-osaka", clock=clock)
    assert again.step() == 2
    bodies = [json.loads(b) for _, b in receiver.got]
    assert [b["event_id"] for b in bodies] == [ids[0], ids[0], ids[0], ids[2]]  # kpi filtered
    headers, raw = receiver.got[-1]
    want = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert headers["X-Kizashi-Signature"] == want
    assert headers["X-Kizashi-Event"] == "proposal.accepted"
    assert headers["X-Kizashi-Delivery"] == str(ids[2])
    assert bodies[-1]["gateway"] == "gw-osaka" and bodies[-1]["payload"] == {"proposal_id": "P-1"}
    final = store.outbox_mark("crm")
    assert final is not None and (final.upto, final.attempts, final.delivered) == (ids[2], 0, 2)
    assert metrics.get("kizashi_webhook_deliveries_total", endpoint="crm", result="ok") == 2
    assert metrics.get("kizashi_webhook_deliveries_total", endpoint="crm", result="error") == 2
    assert metrics.get("kizashi_webhook_pending", endpoint="crm") == 0
    assert again.step() == 0 and len(receiver.got) == 4  # nothing new: nothing sent


def test_given_up_after_max_attempts(receiver: Receiver, sqlite_store: Store) -> None:
    store = sqlite_store
    bad = store.add_outbox("proposal.sent", {"n": 1}, 1.0)
    good = store.add_outbox("proposal.sent", {"n": 2}, 2.0)
    ep = WebhookEndpoint(receiver.url, SECRET, max_attempts=2, timeout_s=2.0)
    metrics, clock = Metrics(), Clock()
    hooks = WebhookDispatcher(store, [ep], metrics, clock=clock)
    receiver.codes = [400, 400]
    assert hooks.step() == 0
    clock.t += 5
    assert hooks.step() == 1  # the first given up after 2 tries, the next one delivered
    mark = store.outbox_mark(receiver.url)
    assert mark is not None and (mark.upto, mark.given_up, mark.delivered) == (good, 1, 1)
    assert [json.loads(b)["event_id"] for _, b in receiver.got] == [bad, bad, good]
    assert metrics.get("kizashi_webhook_deliveries_total", endpoint=receiver.url,
                       result="given_up") == 1  # fmt: skip


def test_unreachable_endpoint_is_retried(sqlite_store: Store) -> None:
    store = sqlite_store
    store.add_outbox("proposal.sent", {}, 1.0)
    r = Receiver()
    url = r.url
    r.close()  # nothing listens there any more
    ep = WebhookEndpoint(url, SECRET, timeout_s=1.0)
    hooks = WebhookDispatcher(store, [ep], Metrics(), clock=Clock())
    assert hooks.step() == 0
    mark = store.outbox_mark(url)
    assert mark is not None and mark.upto == 0 and mark.attempts == 1 and mark.last_error


def test_config() -> None:
    cfg = parse_config(
        {"webhooks": [{"url": "http://127.0.0.1:9/h", "secret": "x", "kinds": ["proposal."]}]}
    )
    assert cfg.webhooks[0].name == "http://127.0.0.1:9/h" and cfg.webhooks[0].kinds == (
        "proposal.",
    )
    for tables, words in [
        ([{"url": "ftp://x", "secret": "x"}], "http"),
        ([{"url": "http://x"}], "secret"),
        ([{"url": "http://x", "secret": "x", "colour": 1}], "unknown key"),
        ([{"url": "http://x", "secret": "a"}, {"url": "http://x", "secret": "b"}], "same name"),
    ]:
        with pytest.raises(ValueError, match=words):
            parse_webhooks(tables)
    with pytest.raises(ValueError, match="list of tables"):
        parse_config({"webhooks": {"url": "http://x"}})


@pytest.mark.timeout(60)
def test_the_gateway_runs_the_proposals_and_webhooks_tasks(
    receiver: Receiver, tmp_path: Path
) -> None:
    import asyncio

    from gateway.config import load_config
    from gateway.service import ServiceContext, serve

    p = tmp_path / "g.toml"
    p.write_text(
        "[gateway]\ndata_dir = 'd'\n[mqtt]\nenabled = false\n[http]\nenabled = false\n"
        f"[[webhooks]]\nname = 'crm'\nurl = '{receiver.url}'\nsecret = '{SECRET}'\n"
    )
    cfg = load_config(p)
    seen: list[ServiceContext] = []
    metrics = Metrics()

    async def body() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(serve(cfg, None, [], stop, metrics, on_ready=seen.append))
        while not seen:
            await asyncio.sleep(0.01)
        names = {t.get_name() for t in asyncio.all_tasks()}
        assert {"proposals", "webhooks"} <= names
        await asyncio.to_thread(seen[0].store.add_outbox, "proposal.sent", {"p": 1}, 1.0)
        for _ in range(100):
            if receiver.got:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 20)

    asyncio.run(body())
    assert [json.loads(b)["kind"] for _, b in receiver.got] == ["proposal.sent"]
    assert metrics.get("kizashi_webhook_deliveries_total", endpoint="crm", result="ok") == 1


def test_fleet_server_config_takes_webhooks() -> None:
    from gateway.fleet_server import parse_fleet_config

    cfg = parse_fleet_config({
        "fleet": {"database": "postgresql://x/y"},
        "webhooks": [{"url": "https://crm.example/h", "secret": "k"}],
    })  # fmt: skip
    assert cfg.webhooks[0].url == "https://crm.example/h"
