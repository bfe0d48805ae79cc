"""What the fleet prior is fitted from beside the service log, read from a store: the health
monitor's bearing warnings per asset (warned failures give the warning lead times) and the
running age of every asset's current part (a censored life: parts still running).

A site's outlook engine keeps both current as it goes: the warnings by event-id watermark
(`WarningReader`), the ages of the assets it recomputes from the hourly arrays it reads for
their forecasts (`part_starts`, `part_histories`, `running_ages`). The fleet server reads both
whole from the central store (`fleet_evidence`) before it fits the prior it sends down
(gateway/uplink/fleet_prior.py): the sites forward the monitor's events, the frames of the
hourly history and the service log, so the centre's prior has the lead times and the survivors
each site's own has. The centre needs the ages, not the arrays: it has the database compute
them (`Store.running_spans`, the span `running_ages` takes, read from a few rows per part) and
reads the warnings alone (events by code), so an hourly publish over 20,000 assets with months
of history and millions of events reads neither (bench/fleet_evidence.py, docs/FLEET.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from gateway.analytics import WarningSeen
from gateway.domain import life_start
from gateway.store.api import Asset, ServiceEntry, Store

from . import columns as cols
from .columns import F64

HOUR = 3600.0
DAY = 86400.0
HISTORY_DAYS = 400.0  # hourly history read per part (since its fitting, at most this far back)
BATCH = 2000  # assets per hourly read (and per forecast_many call in the engine)
WARNING_CODE = "baseline_change"  # the health monitor's bearing warning (gateway/analytics.py)


class WarningReader:
    """The monitor's bearing warnings in a store, per asset, read after an event-id
    watermark (each event once)."""

    def __init__(self) -> None:
        self.mark = 0
        self.by_asset: dict[str, list[WarningSeen]] = {}

    def read(self, store: Store, node_asset: Mapping[str, str]) -> set[str]:
        """Read the events stored since the watermark; the assets that got a warning. An
        event names its asset; `node_asset` (node -> asset) is for one that does not."""
        changed: set[str] = set()
        while True:
            events = store.events_after(self.mark, 5000, code=WARNING_CODE)
            for e in events:
                if not e.detail.get("reason"):
                    continue  # (before issue 14 the z-score detector raised it, with no reason)
                aid = str(e.detail.get("asset") or node_asset.get(e.node_id, e.node_id))
                self.by_asset.setdefault(aid, []).append(WarningSeen.from_event(e.ts, e.detail))
                changed.add(aid)
            if not events:
                return changed
            self.mark = events[-1].event_id


def part_starts(
    assets: Sequence[Asset], service: Mapping[str, Sequence[ServiceEntry]], now: float
) -> dict[str, float]:
    """When each asset's current part was fitted: its latest life-ending service entry, at
    most HISTORY_DAYS back."""
    return {
        a.asset_id: life_start(service.get(a.asset_id, ()), now - HISTORY_DAYS * DAY)
        for a in assets
    }


def part_histories(store: Store, since: Mapping[str, float], now: float) -> dict[str, F64]:
    """Each asset's hourly array from `since` (its part's start, `part_starts`) to `now`, in
    one read for the batch."""
    if not since:
        return {}
    cols_all = store.hourly_columns(list(since), min(since.values()), now + HOUR)
    empty = np.zeros((0, cols.WIDTH))
    hist: dict[str, F64] = {}
    for aid, start in since.items():
        m = cols_all.get(aid, empty)
        hist[aid] = m[int(np.searchsorted(m[:, cols.HOUR], start // HOUR * HOUR)) :]
    return hist


def running_ages(hist: Mapping[str, F64]) -> dict[str, float]:
    """The running seconds of each current part: its running hours' span, the age its forecast
    sees (the forecast's clock starts at the part's first running hour). `Store.running_spans`
    computes the same in the database (tests/outlook/test_running_spans.py)."""
    out: dict[str, float] = {}
    for aid, m in hist.items():
        run = cols.running_rows(m)
        out[aid] = float(run[-1, cols.RUNTIME] - run[0, cols.RUNTIME]) if run.shape[0] else 0.0
    return out


def fleet_evidence(
    store: Store, now: float
) -> tuple[dict[str, list[WarningSeen]], dict[str, float]]:
    """(warnings per asset, running seconds of each asset's current part) of every asset in
    `store`, read whole: what `analytics.FleetForecaster` takes as `warnings` and
    `running_ages`. The warnings are read from the first event on every call: a watermark kept
    between calls could pass over an event that a concurrent writer (the fleet server's applier
    lanes) commits later under a lower id. The ages are the span `running_ages` takes of
    `part_histories`, computed by the database without returning the hourly rows."""
    assets = store.assets()
    service: dict[str, list[ServiceEntry]] = {}
    for s in store.service_log():
        service.setdefault(s.asset_id, []).append(s)
    reader = WarningReader()
    reader.read(store, {a.node_id: a.asset_id for a in assets if a.node_id})
    ages: dict[str, float] = {}
    for i in range(0, len(assets), BATCH):
        since = part_starts(assets[i : i + BATCH], service, now)
        ages.update(store.running_spans(since, now + HOUR))  # part_histories' end
    return reader.by_asset, ages
