"""systemd notifications (sd_notify) over $NOTIFY_SOCKET, and the watchdog loop.

The unit (deploy/kizashi-gateway.service) is Type=notify with WatchdogSec: the gateway says
READY=1 once it serves, then WATCHDOG=1 every half watchdog period but only while its health
check (gateway/healthcheck.py) says every component is up. A gateway that stops being healthy,
or whose event loop hangs, stops pinging and systemd restarts it.

The protocol is one datagram per message to the unix socket named in NOTIFY_SOCKET (a leading
"@" is the abstract namespace); without NOTIFY_SOCKET (not under systemd) nothing is sent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

__all__ = ["notify", "watchdog_interval", "watchdog_loop"]


def notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send one sd_notify message; False when there is no NOTIFY_SOCKET or sending failed."""
    path = (env if env is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not path:
        return False
    addr = "\0" + path[1:] if path.startswith("@") else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(addr)
            s.sendall(message.encode())
    except OSError as e:
        log.warning("sd_notify failed", extra={"error": repr(e)})
        return False
    return True


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Half of WATCHDOG_USEC in seconds (systemd's advice), None when no watchdog is set or it
    is meant for another process (WATCHDOG_PID)."""
    e = env if env is not None else os.environ
    usec = e.get("WATCHDOG_USEC", "")
    pid = e.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


async def watchdog_loop(
    healthy: Callable[[], tuple[bool, dict[str, object]]],
    interval_s: float | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """READY=1, then WATCHDOG=1 every `interval_s` while `healthy()` (run in a thread) says
    up; STATUS= names what is down. Runs until cancelled; returns at once outside systemd."""
    env = env if env is not None else dict(os.environ)
    if not env.get("NOTIFY_SOCKET"):
        return
    interval = interval_s or watchdog_interval(env) or 10.0
    notify("READY=1\nSTATUS=serving", env)
    was_ok = True
    while True:
        ok, body = await asyncio.to_thread(healthy)
        if ok:
            notify("WATCHDOG=1" + ("" if was_ok else "\nSTATUS=serving"), env)
        else:
            names = body.get("down")
            down = ", ".join(str(d) for d in names) if isinstance(names, list) else "?"
            notify("STATUS=unhealthy: " + down, env)
            if was_ok:
                log.error("gateway unhealthy, watchdog pings stopped", extra={"down": down})
        was_ok = ok
        await asyncio.sleep(interval)
