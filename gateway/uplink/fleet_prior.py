"""The fleet prior fitted at the centre from every site's completed lives, sent down to the sites.

A site alone learns from its own failures only. The fleet server holds every site's service
log and hourly history (forwarded, gateway/uplink), so the same fit a site runs
(`analytics.FleetForecaster.prior`, the service log's completed lives into
`forecast.fit_fleet_prior`) run over the central store learns from all of them. When the fitted
prior differs from the one last sent, it is queued as a `fleet_prior` command for every
configured site gateway (an older unanswered one is superseded); each site keeps it and its
outlook uses it instead of its own fit (gateway/uplink/site_commands.py). With fewer than two
completed lives in the whole fleet there is not enough evidence: nothing is sent, and each
site goes on with what it has.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Iterable

from gateway.analytics import FleetForecaster
from gateway.metrics import REGISTRY, Metrics
from gateway.store.sql import SqlStore

log = logging.getLogger(__name__)

__all__ = ["PriorPublisher"]


class PriorPublisher:
    """Fit the prior over `store` (the centre's) every `every_s`; queue it for `origins`."""

    def __init__(
        self,
        store: SqlStore,
        origins: Iterable[str],
        every_s: float = 3600.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.origins = sorted(origins)
        self.every_s = every_s
        self.metrics = metrics or REGISTRY

    def publish(self, force: bool = False) -> int:
        """Fit now; queue the prior for every site when it changed (or `force`). Returns the
        commands queued (0: unchanged, or not enough evidence)."""
        forecaster = FleetForecaster(self.store, refit_s=0.0)
        prior = forecaster.prior()
        lives = forecaster.n_lives
        self.metrics.set("kizashi_fleet_prior_lives", lives)
        if prior is None:
            log.info("fleet prior: not enough evidence", extra={"completed_lives": lives})
            return 0
        state = prior.to_state()
        digest = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:32]
        if digest == self.store.prior_sent() and not force:
            return 0
        args = {"state": state, "lives": lives, "sites": len(self.origins)}
        for origin in self.origins:
            self.store.queue_fleet_command(origin, "fleet_prior", args, "fleet")
        self.store.set_prior_sent(digest)
        log.info("fleet prior queued", extra={"completed_lives": lives, "sites": self.origins})
        return len(self.origins)

    async def run(self) -> None:
        while True:
            await asyncio.to_thread(self.publish)
            await asyncio.sleep(self.every_s)
