"""Webhooks: the store's outbox delivered to the sales and CRM side, signed, in order, retried.

The outbox (Store.add_outbox; proposal steps write theirs in the step's own transaction) is a
list of events of any kind ("proposal.sent", "proposal.accepted", ...; other kinds can be added
without changing this module). Each endpoint of the gateway TOML follows it by event id with a
mark kept in the store (`outbox_marks`), so a restart or an unreachable endpoint delays events
but never loses or reorders them (at least once: a receiver de-duplicates by `event_id`). A
failed delivery is retried with exponential backoff (1 s, 2 s, 4 s ... at most backoff_max_s);
after `max_attempts` the event is given up (logged and counted) so one poisoned event cannot
block the endpoint for ever.

    [[webhooks]]
    name = "crm"                          # the mark's key; default the URL
    url = "https://crm.example/hooks/kizashi"
    secret = "..."                        # HMAC-SHA256 key, required
    kinds = ["proposal."]                 # kind prefixes to send; default all
    timeout_s = 5.0
    backoff_max_s = 300.0
    max_attempts = 12

Each POST is one event: body `{"event_id", "kind", "created_at" (ISO 8601 UTC), "gateway",
"payload"}`; headers `X-Kizashi-Event` (kind), `X-Kizashi-Delivery` (event id) and
`X-Kizashi-Signature: sha256=<hex HMAC-SHA256 of the raw body with the endpoint's secret>`.
A 2xx answer is a delivery; anything else (or no answer) is retried.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gateway.metrics import Metrics
from gateway.store.api import OutboxEvent, OutboxMark, Store

log = logging.getLogger("kizashi.webhooks")
KNOWN_KEYS = frozenset(
    {"name", "url", "secret", "kinds", "timeout_s", "backoff_max_s", "max_attempts"}
)


@dataclass(frozen=True)
class WebhookEndpoint:
    url: str
    secret: str
    name: str = ""
    kinds: tuple[str, ...] = ()  # kind prefixes; () = every kind
    timeout_s: float = 5.0
    backoff_max_s: float = 300.0
    max_attempts: int = 12

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must be http(s)://..., got {self.url!r}")
        if not self.secret:
            raise ValueError(f"webhook {self.url}: a secret is required (it signs every POST)")
        if self.timeout_s <= 0 or self.backoff_max_s <= 0 or self.max_attempts < 1:
            raise ValueError("webhook timeout_s, backoff_max_s and max_attempts must be positive")
        if not self.name:
            object.__setattr__(self, "name", self.url)

    def wants(self, kind: str) -> bool:
        return not self.kinds or any(kind.startswith(k) for k in self.kinds)


def parse_webhooks(tables: Sequence[dict[str, Any]]) -> tuple[WebhookEndpoint, ...]:
    """The `[[webhooks]]` tables of the gateway TOML; ValueError naming what is wrong."""
    out = []
    for t in tables:
        unknown = set(t) - KNOWN_KEYS
        if unknown:
            raise ValueError(f"unknown key(s) in [[webhooks]]: {', '.join(sorted(unknown))}")
        out.append(
            WebhookEndpoint(
                url=str(t.get("url", "")), secret=str(t.get("secret", "")),
                name=str(t.get("name", "")), kinds=tuple(str(k) for k in t.get("kinds", ())),
                timeout_s=float(t.get("timeout_s", 5.0)),
                backoff_max_s=float(t.get("backoff_max_s", 300.0)),
                max_attempts=int(t.get("max_attempts", 12)),
            )
        )  # fmt: skip
    names = [e.name for e in out]
    if len(set(names)) != len(names):
        raise ValueError("two [[webhooks]] have the same name (or URL): give each a name")
    return tuple(out)


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: what a receiver recomputes and compares."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_of(e: OutboxEvent, gateway_id: str) -> bytes:
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e.created_at))
    return json.dumps(
        {"event_id": e.event_id, "kind": e.kind, "created_at": created, "gateway": gateway_id,
         "payload": e.payload},
        sort_keys=True, default=str,
    ).encode()  # fmt: skip


class DeliveryError(Exception):
    """The endpoint did not take the event (no answer, or not 2xx)."""


def post(ep: WebhookEndpoint, e: OutboxEvent, body: bytes) -> None:
    req = urllib.request.Request(
        ep.url, data=body, method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "kizashi-gateway",
                 "X-Kizashi-Event": e.kind, "X-Kizashi-Delivery": str(e.event_id),
                 "X-Kizashi-Signature": sign(ep.secret, body)},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=ep.timeout_s) as resp:
            status = int(resp.status)
    except urllib.error.HTTPError as x:
        raise DeliveryError(f"HTTP {x.code}") from None
    except (urllib.error.URLError, OSError) as x:
        raise DeliveryError(type(x).__name__ + ": " + str(getattr(x, "reason", x))) from None
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}")


class WebhookDispatcher:
    """Delivers the outbox to every configured endpoint (the gateway's `webhooks` task)."""

    def __init__(
        self,
        store: Store,
        endpoints: Sequence[WebhookEndpoint],
        metrics: Metrics,
        gateway_id: str = "gw1",
        clock: Callable[[], float] = time.time,
        batch: int = 50,
    ) -> None:
        self.store = store
        self.endpoints = tuple(endpoints)
        self.metrics = metrics
        self.gateway_id = gateway_id
        self.clock = clock  # wall time: backoff is about the endpoint, not the fleet's clock
        self.batch = batch

    def step(self) -> int:
        """One pass over every endpoint; returns the events delivered."""
        return sum(self._endpoint(ep) for ep in self.endpoints)

    def _endpoint(self, ep: WebhookEndpoint) -> int:
        mark = self.store.outbox_mark(ep.name) or OutboxMark(ep.name, 0)
        delivered = 0
        now = self.clock()
        if now < mark.next_at:
            return 0
        for e in self.store.outbox_after(mark.upto, self.batch):
            if not ep.wants(e.kind):
                mark = replace(mark, upto=e.event_id, attempts=0, next_at=0.0, updated_at=now)
                continue
            try:
                post(ep, e, body_of(e, self.gateway_id))
            except DeliveryError as x:
                mark = self._failed(ep, mark, e, str(x), now)
                if mark.upto != e.event_id:
                    break  # retried later; a given-up event lets the next ones go
                continue
            delivered += 1
            self.metrics.inc("kizashi_webhook_deliveries_total", endpoint=ep.name, result="ok")
            mark = replace(
                mark, upto=e.event_id, attempts=0, next_at=0.0, last_error="",
                delivered=mark.delivered + 1, updated_at=now,
            )  # fmt: skip
        self.store.set_outbox_mark(mark)
        pending = max(0, self.store.last_outbox_id() - mark.upto)
        self.metrics.set("kizashi_webhook_pending", float(pending), endpoint=ep.name)
        return delivered

    def _failed(
        self, ep: WebhookEndpoint, mark: OutboxMark, e: OutboxEvent, error: str, now: float
    ) -> OutboxMark:
        attempts = mark.attempts + 1
        if attempts >= ep.max_attempts:
            log.error(
                "webhook event given up",
                extra={"endpoint": ep.name, "event_id": e.event_id, "kind": e.kind,
                       "attempts": attempts, "error": error},
            )  # fmt: skip
            self.metrics.inc(
                "kizashi_webhook_deliveries_total", endpoint=ep.name, result="given_up"
            )
            return replace(
                mark, upto=e.event_id, attempts=0, next_at=0.0, last_error=error,
                given_up=mark.given_up + 1, updated_at=now,
            )  # fmt: skip
        delay = min(ep.backoff_max_s, 2.0 ** (attempts - 1))
        log.warning(
            "webhook delivery failed, will retry",
            extra={"endpoint": ep.name, "event_id": e.event_id, "attempt": attempts,
                   "retry_s": delay, "error": error},
        )  # fmt: skip
        self.metrics.inc("kizashi_webhook_deliveries_total", endpoint=ep.name, result="error")
        return replace(
            mark, attempts=attempts, next_at=now + delay, last_error=error, updated_at=now
        )

    async def run(self, poll_s: float = 1.0) -> None:
        while True:
            await asyncio.to_thread(self.step)
            await asyncio.sleep(poll_s)
