"""Alarm notifications: the gateway's health events, POSTed as JSON to the service team's webhook.

A service team cannot watch the fleet page all day; a machine entering zone C or D, or a
persistent change from its baseline, should reach them (ticket system, chat, pager) when it
happens. The store is the source of truth: the notifier follows the events table by event id
(commit order), POSTs each batch, and only then advances its watermark in a small state file,
so a gateway restart or an unreachable endpoint delays notifications but never loses them
(at-least-once: a receiver may see a batch twice after a crash and can de-duplicate by
`event_id`). On its very first start it begins at the newest event instead of sending the
whole history.

    [notify]
    webhook_url = "https://tickets.example/hooks/kizashi"
    token = "..."            # optional: sent as "Authorization: Bearer <token>"
    codes = ["alarm_alert", "alarm_danger", "alarm_normal", "baseline_change",
             "sensor_fault_alarm", "sensor_fault_clear"]

Body: {"gateway": ID, "events": [{"event_id", "ts" (ISO 8601 UTC), "code", "asset_id",
"site", "machine", "node_id", "detail", "outlook"}, ...]} (at most `batch` events per POST).
`outlook` is the asset's stored judgement when the batch is sent (gateway/outlook: "zone",
"action", "action_text", "fault", "need_by", "order_by" (ISO 8601 UTC), "parts_needed",
"life_text"), null before the engine computed one: the same advice the fleet page shows.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.metrics import Metrics
from gateway.store.api import Store, StoredEvent

log = logging.getLogger("kizashi.notify")

# sensor_fault_alarm: an asset whose sensor has been faulted for 10 min is unwatched.
DEFAULT_CODES = (
    "alarm_alert",
    "alarm_danger",
    "alarm_normal",
    "baseline_change",
    "sensor_fault_alarm",
    "sensor_fault_clear",
)


@dataclass(frozen=True)
class NotifyConfig:
    webhook_url: str = ""  # "" = notifications off
    token: str = ""
    codes: tuple[str, ...] = DEFAULT_CODES
    timeout_s: float = 5.0
    batch: int = 50
    poll_s: float = 5.0
    backoff_max_s: float = 300.0

    def __post_init__(self) -> None:
        if self.webhook_url and not self.webhook_url.startswith(("http://", "https://")):
            raise ValueError(f"notify webhook_url must be http(s)://..., got {self.webhook_url!r}")
        if self.batch < 1 or self.timeout_s <= 0 or self.poll_s <= 0:
            raise ValueError("notify batch, timeout_s and poll_s must be positive")


def _iso(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class DeliveryError(Exception):
    """The endpoint did not take the batch (network error or non-2xx status)."""


class WebhookNotifier:
    def __init__(
        self,
        store: Store,
        config: NotifyConfig,
        state_path: Path,
        gateway_id: str = "gw1",
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.state_path = state_path
        self.gateway_id = gateway_id
        self.metrics = metrics or Metrics()
        self.watermark = self._load()

    # -- watermark ------------------------------------------------------------------------
    def _load(self) -> int:
        try:
            return int(json.loads(self.state_path.read_text())["last_event_id"])
        except FileNotFoundError:
            newest = self.store.events(limit=1)
            start = max((e.event_id for e in newest), default=0)
            log.info("notify: first start, from event %d on", start)
            self._save(start)
            return start
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"notify state {self.state_path} unreadable: {e}") from e

    def _save(self, event_id: int) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"last_event_id": event_id}))
        tmp.replace(self.state_path)

    # -- one round ------------------------------------------------------------------------
    def pending(self) -> tuple[list[StoredEvent], int]:
        """The next batch to send and the watermark after it (skipped codes included)."""
        events = self.store.events_after(self.watermark, self.config.batch * 4)
        wanted = [e for e in events if e.source == "gateway" and e.code in self.config.codes]
        batch = wanted[: self.config.batch]
        if len(wanted) > len(batch):
            return batch, batch[-1].event_id
        return batch, events[-1].event_id if events else self.watermark

    def deliver_once(self) -> int:
        """Send the next batch; returns how many events were delivered (0: nothing new).
        Raises DeliveryError and keeps the watermark when the endpoint does not take it."""
        batch, after = self.pending()
        if batch:
            self._post(self._body(batch))
            self.metrics.inc("kizashi_notify_sent_total", len(batch))
        if after != self.watermark:
            self._save(after)
            self.watermark = after
        return len(batch)

    def _body(self, events: Sequence[StoredEvent]) -> bytes:
        by_node = {a.node_id: a for a in self.store.assets() if a.node_id}
        ids = sorted({a.asset_id for e in events if (a := by_node.get(e.node_id)) is not None})
        outlooks = {o.asset_id: o for o in self.store.outlooks(ids)} if ids else {}
        out: list[dict[str, Any]] = []
        for e in events:
            a = by_node.get(e.node_id)
            o = outlooks.get(a.asset_id) if a else None
            out.append({
                "event_id": e.event_id,
                "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e.ts)),
                "code": e.code,
                "asset_id": a.asset_id if a else None,
                "site": a.site if a else None,
                "machine": a.machine if a else None,
                "node_id": e.node_id,
                "detail": e.detail,
                "outlook": None if o is None else {
                    "zone": o.zone, "action": o.action, "action_text": o.action_text,
                    "fault": o.fault, "need_by": _iso(o.need_by_ts),
                    "order_by": _iso(o.order_by_ts),
                    "parts_needed": [{"part": p, "quantity": q} for p, q in o.parts_needed],
                    "life_text": o.life_text,
                },
            })  # fmt: skip
        return json.dumps({"gateway": self.gateway_id, "events": out}, default=str).encode()

    def _post(self, body: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        if self.config.token:
            headers["Authorization"] = f"Bearer {self.config.token}"
        req = urllib.request.Request(self.config.webhook_url, body, headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.config.timeout_s) as resp:
                status = resp.status
        except urllib.error.HTTPError as e:
            status = e.code
        except (OSError, ValueError) as e:  # refused, timeout, DNS, TLS
            raise DeliveryError(str(e)) from e
        if not 200 <= status < 300:
            raise DeliveryError(f"HTTP {status}")

    # -- the task -------------------------------------------------------------------------
    async def run(self) -> None:
        """Deliver forever: poll, send, back off on failure (1 s doubling to backoff_max_s)."""
        delay = 1.0
        while True:
            before = self.watermark
            try:
                await asyncio.to_thread(self.deliver_once)
            except DeliveryError as e:
                self.metrics.inc("kizashi_notify_failures_total")
                log.warning("notify: delivery failed, retrying", extra={"error": str(e),
                            "retry_s": delay})  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(self.config.backoff_max_s, delay * 2)
                continue
            delay = 1.0
            if self.watermark == before:  # caught up; else go on at once (a backlog)
                await asyncio.sleep(self.config.poll_s)
