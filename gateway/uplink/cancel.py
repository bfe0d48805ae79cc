"""Cancellation through aiomqtt's client context.

Leaving `async with aiomqtt.Client(...)` on a cancellation waits for the disconnection, and if
that wait fails it raises MqttError in place of the CancelledError. A reconnect loop that
catches MqttError would then carry on for ever: the task cannot be stopped (a test's teardown,
or the service's shutdown, hangs). The loops call `raise_if_cancelled` in their handler.

Python 3.11's asyncio.wait_for (aiomqtt's publish waits with it) also drops a cancellation that
arrives as the awaited future completes: the task goes on to its next message still marked as
cancelling. The loops that take message after message (the applier's lanes and reader, the
forwarder) therefore also call `raise_if_cancelled()` at the top of each turn.
"""

from __future__ import annotations

import asyncio

__all__ = ["raise_if_cancelled"]


def raise_if_cancelled(error: BaseException | None = None) -> None:
    """Raise CancelledError when the running task was asked to stop (its MqttError hid it)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError() from error
