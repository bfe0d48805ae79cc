"""What /healthz and the systemd watchdog report: can this gateway do its job right now?

Components, each up or down with a reason:
- `store`: the ingest store can commit (commits are not failing; on a quiet site a probe
  transaction answers, see IngestPipeline.store_status);
- one per link (`link:mqtt`, `link:serial:/dev/ttyUSB0`): connected, or down for less than
  `link_grace_s` (a reconnect in progress is not an outage);
- `outlook`: the outlook engine's heartbeat is younger than `outlook_max_age_s` (None until
  it first ran: up during `startup_grace_s`).

`check()` blocks on the database (the probe): call it from a thread. The overall answer is up
only when every component is up; /healthz then answers 200, otherwise 503 with the body naming
what is down, and the watchdog stops telling systemd the gateway is alive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gateway.ingest import IngestPipeline
from gateway.links import Link

Component = dict[str, Any]


@dataclass(frozen=True)
class HealthSettings:
    """`[health]` in the gateway config: when a component counts as down."""

    link_grace_s: float = 30.0  # a link may be away this long (a reconnect) before it is down
    outlook_max_age_s: float = 600.0  # the outlook heartbeat may be this old
    startup_grace_s: float = 120.0  # an outlook that never ran is down only after this
    store_stale_s: float = 60.0  # no commit for this long: a probe transaction answers


def link_up(link: Link) -> bool:
    """A link with a `connected` event (MQTT, serial) is up while it is set; others (loopback)
    are always up."""
    connected = getattr(link, "connected", None)
    return connected is None or bool(connected.is_set())


class GatewayHealth:
    def __init__(
        self,
        pipeline: IngestPipeline,
        links: Sequence[Link],
        outlook_age: Callable[[], float | None] | None = None,
        link_grace_s: float = 30.0,
        outlook_max_age_s: float = 600.0,
        startup_grace_s: float = 120.0,
        store_stale_s: float = 60.0,
    ) -> None:
        self.pipeline = pipeline
        self.links = list(links)
        self.outlook_age = outlook_age
        self.link_grace_s = link_grace_s
        self.outlook_max_age_s = outlook_max_age_s
        self.startup_grace_s = startup_grace_s
        self.store_stale_s = store_stale_s
        self.started = time.monotonic()
        self._down_since: dict[str, float] = {}

    @classmethod
    def from_settings(
        cls,
        settings: HealthSettings,
        pipeline: IngestPipeline,
        links: Sequence[Link],
        outlook_age: Callable[[], float | None] | None = None,
    ) -> GatewayHealth:
        return cls(pipeline, links, outlook_age, **asdict(settings))

    def check(self) -> tuple[bool, dict[str, Any]]:
        """(all up?, JSON body): {"status": "ok"|"down", "down": [...], "components": {...}}."""
        now = time.monotonic()
        comps: dict[str, Component] = {}
        ok, why = self.pipeline.store_status(self.store_stale_s)
        comps["store"] = {
            "ok": ok,
            "last_commit_age_s": round(now - self.pipeline.last_commit_ok, 1),
        }
        if not ok:
            comps["store"]["error"] = why
        for link in self.links:
            comps["link:" + link.name] = self._link(link, now)
        if self.outlook_age is not None:
            comps["outlook"] = self._outlook(now)
        down = sorted(name for name, c in comps.items() if not c["ok"])
        body = {"status": "down" if down else "ok", "down": down, "components": comps}
        return not down, body

    def _link(self, link: Link, now: float) -> Component:
        if link_up(link):
            self._down_since.pop(link.name, None)
            return {"ok": True}
        down_s = now - self._down_since.setdefault(link.name, now)
        return {
            "ok": down_s < self.link_grace_s,
            "error": "not connected",
            "down_s": round(down_s, 1),
        }

    def _outlook(self, now: float) -> Component:
        assert self.outlook_age is not None
        try:
            age = self.outlook_age()
        except Exception as e:  # the store is down: the store component says so too
            return {"ok": False, "error": "unreadable: " + repr(e)[:200]}
        if age is None:
            in_grace = now - self.started < self.startup_grace_s
            return {"ok": in_grace, "error": "never ran", "age_s": None}
        out: Component = {"ok": age < self.outlook_max_age_s, "age_s": round(age, 1)}
        if not out["ok"]:
            out["error"] = f"older than {self.outlook_max_age_s:.0f} s"
        return out
