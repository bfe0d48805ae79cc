"""The KPIs' inputs read from the store, and the weekly KPI snapshot for the webhooks.

`inputs_from_store` is the one reader of gateway/kpis.py's records: the page (fleet_web/kpis.py,
through FleetData.kpi_inputs) and the weekly snapshot use it. `KpiSnapshots.step` runs in the
gateway's periodic `proposals` task: once a week (ISO weeks, Monday 00:00 UTC) it writes the
KPIs of the week that ended as one `kpi.weekly` outbox event, keyed by the week, so a restart
or a second gateway process never sends a week twice (Store.add_outbox_once).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gateway.domain import PROPOSABLE_ACTIONS
from gateway.kpis import (
    AssetInfo,
    KpiInputs,
    OpenRisk,
    Period,
    ProposalRecord,
    month,
    month_of,
    period_kpis,
)
from gateway.service_entry import MAX_DOWNTIME_AVOIDED_H, WARNING_EVENTS
from gateway.store.api import Store

log = logging.getLogger(__name__)

DAY = 86400.0
WEEK = 7 * DAY
# Warnings are read this far before the period too: an episode that began before it, and the
# bound of a ledger entry in it (never longer than this), need them.
WARNING_LOOKBACK_S = MAX_DOWNTIME_AVOIDED_H * 3600.0
OPEN_STATES = ("sent", "accepted")


def inputs_from_store(
    store: Store, start: float, end: float, asset_ids: Sequence[str] | None = None
) -> KpiInputs:
    """Everything gateway/kpis.py needs for periods within [start, end), for `asset_ids`
    (default every asset)."""
    customers_of: Callable[[], dict[str, str]] | None = getattr(store, "site_customers", None)
    tags = customers_of() if customers_of is not None else {}
    wanted = None if asset_ids is None else set(asset_ids)
    assets = [a for a in store.assets() if wanted is None or a.asset_id in wanted]
    ids = [a.asset_id for a in assets]
    infos = [
        AssetInfo(a.asset_id, a.site, tags.get(a.site, ""), a.description or a.machine)
        for a in assets
    ]
    nodes = [a.node_id for a in assets if a.node_id]
    times = store.event_times(nodes, WARNING_EVENTS, start - WARNING_LOOKBACK_S, end)
    warnings = {a.asset_id: times.get(a.node_id, []) for a in assets if a.node_id}
    mine = set(ids)
    service = [e for e in store.service_log() if e.asset_id in mine]
    steps: dict[str, dict[str, float]] = {}
    for ev in store.proposal_events():
        steps.setdefault(ev.proposal_id, {}).setdefault(ev.state, ev.at)
    records = []
    for p in store.proposals():
        if p.asset_id not in mine:
            continue
        s = steps.get(p.proposal_id, {})
        totals = p.content.get("totals") or {}
        down = p.content.get("downtime") or {}
        total = totals.get("total")
        records.append(
            ProposalRecord(
                p.proposal_id, p.asset_id, p.customer, p.state,
                sent_at=s.get("sent", p.sent_at), accepted_at=s.get("accepted"),
                declined_at=s.get("declined"), expired_at=s.get("expired"),
                done_at=s.get("done"), total=None if total is None else float(total),
                currency=str(totals.get("currency") or ""),
                downtime_h=float(down.get("hours") or 0.0), window_start=p.window_start,
            )
        )  # fmt: skip
    running = running_hours(store, ids, start, end)
    covered = {p.asset_id for p in records if p.state in OPEN_STATES}
    risk = [
        OpenRisk(o.asset_id, o.action, o.p10_ts)
        for o in store.outlooks(ids)
        if o.action in PROPOSABLE_ACTIONS and o.asset_id not in covered
    ]
    tz = {s.name: s.tz for s in store.sites()}
    currency = {t.customer: t.currency for t in store.all_terms()}  # none set: no currency
    return KpiInputs(infos, warnings, service, records, running, risk, tz, currency)


# hourly_columns' columns (the store's hourly row without asset_id): the count of reports and
# of those flagged running
_N, _N_RUNNING = 1, 15


def running_hours(
    store: Store, ids: Sequence[str], start: float, end: float
) -> dict[str, dict[str, float]]:
    """asset -> month -> running hours (each hour counts its share of reports flagged running),
    summed over the store's hourly arrays (no record per hour)."""
    first = month(month_of(start))
    periods = [first]
    while periods[-1].end < end:
        periods.append(month(month_of(periods[-1].end)))
    out: dict[str, dict[str, float]] = {}
    for aid, m in store.hourly_columns(ids, start, end).items():
        share = m[:, _N_RUNNING] / np.maximum(m[:, _N], 1.0)
        hours = m[:, 0]
        per = out.setdefault(aid, {})
        for p in periods:
            inside = (hours >= p.start) & (hours < p.end)
            if inside.any():
                per[p.label] = float(share[inside].sum())
    return out


def week_of(ts: float) -> Period:
    """The ISO week (Monday 00:00 UTC on) holding `ts`, labelled like 2026-W49."""
    d = dt.datetime.fromtimestamp(ts, dt.UTC).date()
    monday = d - dt.timedelta(days=d.weekday())
    start = dt.datetime(monday.year, monday.month, monday.day, tzinfo=dt.UTC).timestamp()
    year, week, _ = monday.isocalendar()
    return Period(f"{year}-W{week:02d}", start, start + WEEK)


def snapshot(store: Store, week: Period) -> dict[str, Any]:
    """The `kpi.weekly` payload: the week's KPIs for the whole fleet and per customer."""
    inp = inputs_from_store(store, week.start, week.end)
    customers = sorted({a.customer for a in inp.assets})
    return {
        "week": week.label,
        "start": dt.datetime.fromtimestamp(week.start, dt.UTC).isoformat(),
        "end": dt.datetime.fromtimestamp(week.end, dt.UTC).isoformat(),
        "fleet": period_kpis(inp, week),
        "customers": [period_kpis(inp, week, c) for c in customers] if len(customers) > 1 else [],
    }


class KpiSnapshots:
    """Writes each finished week's snapshot once (part of the gateway's periodic work)."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock
        self.settled = ""  # the last week found written: no need to compute it again

    def step(self) -> str | None:
        """The week written now, or None (not due, or written before)."""
        now = self.clock()
        last = week_of(week_of(now).start - 1.0)  # the week that ended most recently
        if last.label == self.settled or not self.store.assets():
            return None  # a gateway with no machines has nothing to report
        key = f"kpi.weekly:{last.label}"
        payload = snapshot(self.store, last)
        event_id = self.store.add_outbox_once("kpi.weekly", key, payload, now)
        self.settled = last.label
        if event_id is None:
            return None
        log.info("weekly KPI snapshot queued", extra={"week": last.label, "event_id": event_id})
        return last.label
