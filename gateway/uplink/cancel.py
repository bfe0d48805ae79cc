"""Cancellation through aiomqtt's client context.

Leaving `async with aiomqtt.Client(...)` waits for the broker to confirm the disconnection,
with no time limit, and if that wait fails it raises MqttError in place of the exception that
was leaving (a CancelledError included). A reconnect loop that catches MqttError would then
carry on for ever, and a wait that never ends keeps the task from stopping: a test's teardown,
or the service's shutdown, hangs. The loops enter the client through `session(client)` (the way
out bounded by `exit_timeout_s`, the leaving exception kept) and call `raise_if_cancelled` in
their MqttError handler.

Python 3.11's asyncio.wait_for (aiomqtt's publish waits with it) also drops a cancellation that
arrives as the awaited future completes: the task goes on to its next message still marked as
cancelling. The loops that take message after message (the applier's lanes and reader, the
forwarder) therefore also call `raise_if_cancelled()` at the top of each turn.

`keep_linked` is that reconnect loop, shared by the uplink's four MQTT clients (forwarder,
applier, command sender and receiver).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType

import aiomqtt

from gateway.uplink.config import UplinkConfig

log = logging.getLogger(__name__)

__all__ = ["keep_linked", "raise_if_cancelled", "session"]


def raise_if_cancelled(error: BaseException | None = None) -> None:
    """Raise CancelledError when the running task was asked to stop (its MqttError hid it)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError() from error


async def _leave(
    client: aiomqtt.Client,
    exc: BaseException | None,
    tb: TracebackType | None,
    timeout_s: float,
) -> None:
    try:
        await asyncio.wait_for(client.__aexit__(type(exc) if exc else None, exc, tb), timeout_s)
    except (TimeoutError, aiomqtt.MqttError) as e:
        if exc is None:
            raise aiomqtt.MqttError(f"disconnect failed: {e!r}") from e
        log.info("mqtt disconnect not confirmed", extra={"error": repr(e)})


@asynccontextmanager
async def session(client: aiomqtt.Client, exit_timeout_s: float = 5.0) -> AsyncIterator[None]:
    """`async with client`, leaving within `exit_timeout_s` and with the original exception."""
    await client.__aenter__()
    try:
        yield
    except BaseException as e:
        await _leave(client, e, e.__traceback__, exit_timeout_s)
        raise
    await _leave(client, None, None, exit_timeout_s)


async def keep_linked(
    config: UplinkConfig,
    client_id: str,
    topic: str,
    connected: asyncio.Event,
    work: Callable[[aiomqtt.Client], Awaitable[None]],
    name: str,
    on_change: Callable[[bool], None] = lambda up: None,
) -> None:
    """Connect as `client_id`, subscribe to `topic` (QoS 1), then `work(client)` until the
    link fails; reconnect with exponential backoff and jitter; until cancelled. `connected`
    is set while subscribed; `on_change(up)` is told each change (a gauge, a reset)."""
    delay = config.backoff_min_s
    while True:
        raise_if_cancelled()
        try:
            client = config.client(client_id)
            async with session(client):
                await client.subscribe(topic, qos=1)
                connected.set()
                on_change(True)
                log.info("%s up", name, extra={"host": config.host, "client_id": client_id})
                delay = config.backoff_min_s
                await work(client)
        except aiomqtt.MqttError as e:
            raise_if_cancelled(e)
            log.warning("%s down", name, extra={"error": str(e), "retry_s": round(delay, 2)})
        finally:
            connected.clear()
            on_change(False)
        await asyncio.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(config.backoff_max_s, delay * 2)
