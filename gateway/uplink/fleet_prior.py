"""What the centre learns from every site, sent down to the sites: the fleet prior fitted from
every site's completed lives, and the warning thresholds per machine group tuned from every
site's warning outcomes.

A site alone learns from its own records only. The fleet server holds every site's service
log, hourly history and warning outcomes (forwarded, gateway/uplink), so the same learning a
site runs, run over the central store, learns from all of them:

- `fleet_prior`: `analytics.FleetForecaster.prior`, the service log's completed lives into
  `forecast.fit_fleet_prior`, fed what a site's outlook engine feeds it (gateway/outlook/
  evidence.py, one definition): the health monitor's bearing warnings (forwarded events, read
  by code), so a warned failure gives its warning lead time, and the running age of every
  asset's current part (forwarded hourly history since its last life-ending entry, its span
  computed by the database), a censored life.
  With fewer than two completed lives in the whole fleet (one of them a failure) there is not
  enough evidence: nothing is sent.
- `warning_thresholds`: `early_warning.WarningRecords` over every site's outcomes (each one
  settled by a service entry at its site: a warning confirmed, or found false), per machine
  group; a group is sent only with the thresholds it has evidence for (`early_warning.
  evidence`: a warning found false on one of their channels, the rule of the site's own
  tuning). With no such group nothing is sent.

Each is one mechanism: when what was learned differs from what was last sent (a digest in the
centre's `meta`), it is queued as a command of its kind for every configured site gateway (an
older unanswered one is superseded); each site keeps it (gateway/uplink/site_commands.py) and
uses it instead of its own learning where the centre had evidence, and goes on with what it
has where it had none.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from gateway.analytics import FleetForecaster
from gateway.forecast.early_warning import WarningOutcome, WarningRecords
from gateway.metrics import REGISTRY, Metrics
from gateway.outlook.evidence import fleet_evidence
from gateway.store.sql import SqlStore

log = logging.getLogger(__name__)

__all__ = ["PriorPublisher", "fleet_thresholds"]


def fleet_thresholds(store: SqlStore) -> tuple[dict[str, Any] | None, int]:
    """The warning thresholds learned from every outcome in `store` (the centre's): the
    command's state {"groups": {group: {"thresholds": {name: value}, "outcomes": n}}}, None
    when no group has evidence; and the outcomes behind it."""
    records = WarningRecords()
    rows = store.warning_outcomes()
    for r in rows:
        records.add(r.machine_group, WarningOutcome(r.channel, r.peak_value, r.confirmed))
    learned = records.learned()
    if not learned:
        return None, len(rows)
    groups = {
        g: {"thresholds": t, "outcomes": len(records.outcomes[g])} for g, t in learned.items()
    }
    return {"groups": groups}, len(rows)


class PriorPublisher:
    """Learn over `store` (the centre's) every `every_s`: the fleet prior and the warning
    thresholds; queue each for `origins` when it changed."""

    def __init__(
        self,
        store: SqlStore,
        origins: Iterable[str],
        every_s: float = 3600.0,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.origins = sorted(origins)
        self.every_s = every_s
        self.metrics = metrics or REGISTRY
        self.clock = clock  # the running parts' ages are taken at its time

    def publish(self, force: bool = False) -> int:
        """Learn now; queue what changed (or all, `force`) for every site. Returns the
        commands queued (0: unchanged, or not enough evidence)."""
        return self.publish_prior(force) + self.publish_thresholds(force)

    def publish_prior(self, force: bool = False) -> int:
        forecaster = FleetForecaster(self.store, refit_s=0.0, clock=self.clock)
        # The warnings and running parts a site's outlook engine gives its forecaster: without
        # them the centre's prior would lack the lead times and survivors a site's own has.
        forecaster.warnings, forecaster.running_ages = fleet_evidence(self.store, self.clock())
        prior = forecaster.prior()
        lives = forecaster.n_lives
        self.metrics.set("kizashi_fleet_prior_lives", lives)
        if prior is None:
            log.info("fleet prior: not enough evidence", extra={"completed_lives": lives})
            return 0
        facts = {"lives": lives, "running": forecaster.n_running}
        return self._queue("fleet_prior", prior.to_state(), facts, force)

    def publish_thresholds(self, force: bool = False) -> int:
        state, outcomes = fleet_thresholds(self.store)
        self.metrics.set("kizashi_fleet_warning_outcomes", outcomes)
        if state is None:
            log.info("warning thresholds: not enough evidence", extra={"outcomes": outcomes})
            return 0
        return self._queue("warning_thresholds", state, {"outcomes": outcomes}, force)

    def _queue(self, kind: str, state: dict[str, Any], facts: dict[str, Any], force: bool) -> int:
        """The digest-and-command step shared by every learned kind."""
        digest = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:32]
        if digest == self.store.learned_sent(kind) and not force:
            return 0
        args = {"state": state, **facts, "sites": len(self.origins)}
        for origin in self.origins:
            self.store.queue_fleet_command(origin, kind, args, "fleet")
        self.store.set_learned_sent(kind, digest)
        log.info(f"{kind} queued", extra={**facts, "sites": self.origins})
        return len(self.origins)

    async def run(self) -> None:
        while True:
            await asyncio.to_thread(self.publish)
            await asyncio.sleep(self.every_s)
