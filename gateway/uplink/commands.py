"""Commands from the fleet server to a site gateway, the same way back as the uplink.

Topics (msgpack maps, QoS 1, persistent sessions on both ends):

- centre -> site on `kizashi/fleet/<origin>/down`:
  {"v": 1, "id": N, "to": origin, "kind": K, "args": {...}};
- site -> centre on `kizashi/fleet/<origin>/done`: {"id": N, "state": "done" | "refused",
  "reason": "..."}.

The centre's store is the outbox (gateway/store/commands_sql.py): `CommandSender` sends each
origin's oldest pending command, one in flight per origin, so a site applies them in the order
they were made; it sends it again (with backoff up to `backoff_max_s`) until the site answers,
and sends every pending command again when it reconnects. A cut link or a site that is down
only delays: the site's persistent session keeps what the broker holds, and the outbox what
the broker lost. `CommandReceiver` at the site applies each id once (the effect and the id in
one transaction) and answers with the id; a command that arrives again is answered again with
the stored result. A site refuses a command addressed to another id, an unknown kind or bad
arguments, with a reason the centre keeps and shows. The broker's ACL lets a site read only
its own `down` topic and write only its own `done` topic (docs/FLEET.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiomqtt

from gateway.metrics import REGISTRY, Metrics
from gateway.store.sql import SqlStore
from gateway.uplink.cancel import keep_linked, raise_if_cancelled
from gateway.uplink.config import UplinkConfig
from gateway.uplink.wire import ORIGIN_RE, PREFIX, VERSION, decode, encode

log = logging.getLogger(__name__)

__all__ = [
    "DONE_WILDCARD",
    "CommandReceiver",
    "CommandSender",
    "done_topic",
    "down_topic",
]

DONE_WILDCARD = f"{PREFIX}/+/done"


def down_topic(origin: str) -> str:
    return f"{PREFIX}/{origin}/down"


def done_topic(origin: str) -> str:
    return f"{PREFIX}/{origin}/done"


def _origin_of_done(topic: str) -> str | None:
    parts = topic.split("/")
    if len(parts) != 4 or "/".join(parts[:2]) != PREFIX or parts[3] != "done":
        return None
    return parts[2] if ORIGIN_RE.match(parts[2]) else None


class CommandSender:
    """The centre's side: the outbox of `store` to the site gateways in `origins`."""

    def __init__(
        self,
        store: SqlStore,
        origins: Mapping[str, str] | list[str],
        config: UplinkConfig,
        metrics: Metrics | None = None,
        poll_s: float = 1.0,
    ) -> None:
        self.store = store
        self.origins = set(origins)
        self.config = config
        self.metrics = metrics or REGISTRY
        self.poll_s = poll_s
        self.connected = asyncio.Event()
        self.sent = 0  # publications, resends included
        self.answers = 0
        self._due: dict[str, tuple[int, float]] = {}  # origin -> (command in flight, resend at)
        self._wake = asyncio.Event()

    async def run(self) -> None:
        client_id = (self.config.client_id or "kizashi-fleet") + "-commands"
        await keep_linked(
            self.config, client_id, DONE_WILDCARD, self.connected, self._session,
            "fleet commands", lambda up: self._due.clear(),  # reconnected: all pending go now
        )  # fmt: skip

    def poke(self) -> None:
        """Look at the outbox now (a command was queued in this process)."""
        self._wake.set()

    async def _session(self, client: aiomqtt.Client) -> None:
        reader = asyncio.create_task(self._read_answers(client))
        try:
            while not reader.done():
                raise_if_cancelled()  # (3.11's wait_for in publish can drop one)
                self._wake.clear()  # before looking: an answer during the look wakes the next
                await self._send_due(client)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_s):
                        await self._wake.wait()
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        reader.result()

    async def _send_due(self, client: aiomqtt.Client) -> None:
        """Send each origin's oldest pending command unless it is in flight and not overdue
        (the outbox read in two queries, whatever the number of sites)."""
        heads = await asyncio.to_thread(self.store.pending_fleet_heads)
        now = time.monotonic()
        todo = [
            cid
            for origin, cid in heads.items()
            if origin in self.origins  # an origin no longer configured: its commands wait
            and not ((due := self._due.get(origin)) and due[0] == cid and now < due[1])
        ]
        if not todo:
            return
        cmds = await asyncio.to_thread(self.store.fleet_commands_by_id, todo)
        sent: list[int] = []
        for cmd in cmds:
            if cmd.state != "pending":
                continue
            msg = {"v": VERSION, "id": cmd.command_id, "to": cmd.origin, "kind": cmd.kind,
                   "args": cmd.args}  # fmt: skip
            await client.publish(down_topic(cmd.origin), encode(msg), qos=1)
            sent.append(cmd.command_id)
            self.sent += 1
            self.metrics.inc("kizashi_fleet_commands_sent_total", origin=cmd.origin)
            # the same command again after ack_timeout_s, doubling up to backoff_max_s: a site
            # that is down for a day gets a few copies queued in its session, not thousands
            wait = min(
                max(self.config.backoff_max_s, self.config.ack_timeout_s),
                self.config.ack_timeout_s * 2 ** min(cmd.sends, 16),
            )
            self._due[cmd.origin] = (cmd.command_id, now + wait)
        if sent:
            await asyncio.to_thread(self.store.fleet_command_sent, sent, time.time())

    async def _read_answers(self, client: aiomqtt.Client) -> None:
        async for msg in client.messages:
            origin = _origin_of_done(msg.topic.value)
            payload = msg.payload
            if origin is None or origin not in self.origins:
                self.metrics.inc("kizashi_fleet_messages_refused_total", reason="unknown_origin")
                continue
            try:
                ans = decode(bytes(payload)) if isinstance(payload, bytes | bytearray) else {}
                cid, state = int(ans["id"]), str(ans["state"])
                reason = str(ans.get("reason", ""))
                ok = await asyncio.to_thread(
                    self.store.answer_fleet_command, cid, origin, state, reason
                )
            except (ValueError, KeyError, TypeError) as e:
                log.warning("command answer refused", extra={"origin": origin, "error": str(e)})
                self.metrics.inc("kizashi_fleet_messages_refused_total", reason="malformed")
                continue
            if ok:
                self.answers += 1
                self.metrics.inc("kizashi_fleet_commands_answered_total", state=state)
                log.info(
                    "command answered",
                    extra={"origin": origin, "id": cid, "state": state, "reason": reason},
                )
            if self._due.get(origin, (None,))[0] == cid:
                del self._due[origin]  # the next one goes now
                self._wake.set()


class CommandReceiver:
    """The site's side: commands for `origin` applied by `apply` (id, kind, args) ->
    (state, reason); see gateway/uplink/site_commands.py."""

    def __init__(
        self,
        origin: str,
        config: UplinkConfig,
        apply: Callable[[int, str, dict[str, Any]], tuple[str, str]],
        metrics: Metrics | None = None,
    ) -> None:
        self.origin = origin
        self.config = config
        self.apply = apply
        self.metrics = metrics or REGISTRY
        self.connected = asyncio.Event()
        self.received = 0
        self.refused = 0

    async def run(self) -> None:
        await keep_linked(
            self.config, "kizashi-down-" + self.origin, down_topic(self.origin), self.connected,
            self._answer, "fleet commands link",
        )  # fmt: skip

    async def _answer(self, client: aiomqtt.Client) -> None:
        async for msg in client.messages:
            raise_if_cancelled()  # (3.11's wait_for in publish can drop one)
            answer = await self.handle(msg.payload)
            if answer is not None:
                await client.publish(done_topic(self.origin), encode(answer), qos=1)

    async def handle(self, payload: Any) -> dict[str, Any] | None:
        """The answer to one message (None when it names no command id to answer)."""
        self.received += 1
        try:
            msg = decode(bytes(payload)) if isinstance(payload, bytes | bytearray) else {}
            cid = int(msg["id"])
        except (ValueError, KeyError, TypeError) as e:
            log.warning("command refused: unreadable", extra={"error": str(e)})
            self.metrics.inc("kizashi_site_commands_total", state="unreadable")
            return None
        to, kind, args = msg.get("to"), msg.get("kind"), msg.get("args")
        if msg.get("v") != VERSION:
            state, reason = "refused", f"command version {msg.get('v')!r}"
        elif to != self.origin:
            state, reason = "refused", f"addressed to {to!r}, this site gateway is {self.origin!r}"
        elif not isinstance(kind, str) or not isinstance(args, dict):
            state, reason = "refused", "no kind or arguments"
        else:
            state, reason = await asyncio.to_thread(self.apply, cid, kind, args)
        if state != "done":
            self.refused += 1
            log.warning("command refused", extra={"id": cid, "kind": kind, "reason": reason})
        self.metrics.inc("kizashi_site_commands_total", state=state)
        return {"id": cid, "state": state, "reason": reason}
