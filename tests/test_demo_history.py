"""The demo's seeded past (kizashi/demo_history.py) hands over to the live simulated nodes
without a step: the gateway's health monitor, having learned each machine's baseline from the
past, raises no bearing warning on a healthy machine when the real firmware's reports follow.

The live reports come from the real firmware Node (firmware.host.make_node) with the demo's
node configuration and the counters the past leaves it, on its simulated machine from the
origin, decoded by the gateway's decoder and stored as ingest stores a report; the judgement is
the gateway's HealthMonitor.step over the store, as `kizashi demo` runs it."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from firmware.host import FakeClock, QueueTransport, make_node
from gateway.analytics import HealthMonitor
from gateway.decode import decode_frame
from gateway.forecast.early_warning import readings_from_features
from gateway.store import open_store
from gateway.store.api import EventRecord, FrameRecord, ReportRow, WriteBatch
from kizashi.demo import DemoOptions, _ensure_registry
from kizashi.demo_fleet import HISTORY_SEED_DAYS, DemoNode, demo_assets
from kizashi.demo_history import seed_history
from kizashi.demo_story import seed_story, tag_customers
from protocol import frames

# Live hours after the origin: a warning needs its excursion held for 6 running hours
# (WarningParams.hold_s), and every running demo machine runs at least 7 hours from the origin.
LIVE_H = 8.0
# Profiles without a wear story: a warning on one of them at the hand-over is false.
HEALTHY = ("healthy", "shifts", "idle", "imbalance")
WEARING = ("OSK-PRS-02", "STG-SPD-02")  # the demo's bearings wearing out (kizashi/demo_fleet.py)


def live_reports(spec: DemoNode, counters: dict[str, int], flash: Path) -> list[dict[str, Any]]:
    """The node's report frames over LIVE_H from its boot at the origin, each acked as the
    gateway acks it (so the node sends each once)."""
    flash.mkdir(parents=True)
    (flash / "node.json").write_text(json.dumps({"counters": counters}))  # as kizashi demo
    clock, tr = FakeClock(), QueueTransport()
    node = make_node(spec.node_id, spec.profile, tr, clock, str(flash),
                     age_days=spec.age_days, config=spec.node_config)  # fmt: skip
    out: dict[int, dict[str, Any]] = {}
    while clock.ms < LIVE_H * 3_600_000:
        wait = node.poll(clock.ticks_ms())
        got = [decode_frame(p) for _, p in tr.outbox]
        tr.outbox.clear()
        out.update((f["seq"], f) for f in got if f["kind"] == "report")
        if got:
            tr.inbound.append(frames.encode_ack(spec.node_id, got[-1]["boot"], got[-1]["seq"], 0))
        clock.advance(max(wait or 0, 200))
    return [out[s] for s in sorted(out)]


def stored(f: dict[str, Any], ts: float) -> FrameRecord:
    """A decoded report as gateway/ingest.py stores it."""
    acc, vel = f["acc_rms_mg"], f["vel_rms_mm_s_x100"]
    return FrameRecord(
        f["node"], f["boot"], f["seq"], "report", f["time"], ts, ts, b"", f["flags"],
        f["dropped"], f["runtime_s"], f["starts"], (acc[0], acc[1], acc[2]),
        (vel[0], vel[1], vel[2]), f["peak_mg"], f["kurtosis_x100"], f["temp_c_x10"],
    )  # fmt: skip


@dataclass
class HandOver:
    origin: float
    specs: list[DemoNode]
    past: list[EventRecord]  # the monitor's events on the seeded past
    live: list[EventRecord]  # ... and on the live reports after it
    rows: dict[str, list[ReportRow]]  # each node's running reports, oldest first


@pytest.fixture(scope="module")
def handover(tmp_path_factory: pytest.TempPathFactory) -> HandOver:
    tmp = tmp_path_factory.mktemp("handover")
    store = open_store(str(tmp / "k.db"))
    try:
        now = time.time()
        origin = now - 3 * 86400
        _ensure_registry(store, DemoOptions(), now)
        specs = demo_assets(12)
        _, counters = seed_history(store, specs, origin, HISTORY_SEED_DAYS)
        tag_customers(store)
        seed_story(store, origin)
        monitor = HealthMonitor(store)
        past = monitor.step()
        recs = [
            stored(f, origin + f["time"])  # the node's clock counts from its boot at the origin
            for spec in specs
            for f in live_reports(spec, counters[spec.node_id], tmp / "nodes" / spec.node_id)
        ]
        store.write_batch(WriteBatch(frames=recs))
        live = monitor.step()
        rows: dict[str, list[ReportRow]] = {s.node_id: [] for s in specs}
        for r in store.reports_after(0, 10**7):
            if r.flags is not None and r.flags & frames.FLAG_RUNNING:
                rows[r.node_id].append(r)
        return HandOver(origin, specs, past, live, rows)
    finally:
        store.close()


def warnings(events: list[EventRecord]) -> dict[str, str]:
    return {str(e.detail["asset"]): str(e.detail["reason"])
            for e in events if e.code == "baseline_change"}  # fmt: skip


def test_no_healthy_machine_warns_at_the_hand_over(handover: HandOver) -> None:
    healthy = {s.asset.asset_id for s in handover.specs if s.profile in HEALTHY}
    assert len(healthy) == 10
    running = {s.asset.asset_id for s in handover.specs if len(handover.rows[s.node_id]) > 500}
    assert len(running & healthy) == 9  # all but the idle pump ran into the live hours
    false = {a: why for a, why in warnings(handover.live).items() if a in healthy}
    assert false == {}, f"warnings at the hand-over on healthy machines: {false}"


def channels(rows: list[ReportRow]) -> dict[str, float]:
    """The channels the warning rule reads (early_warning.readings_from_features, fed as
    HealthMonitor._warn feeds it), each the median over `rows`."""
    per: dict[str, list[float]] = {}
    for r in rows:
        assert r.acc_rms_g and r.vel_rms_mm_s and r.peak_g is not None and r.kurtosis is not None
        feats = {f"rms_{a}": g for a, g in zip("xyz", r.acc_rms_g, strict=True)}
        feats.update({f"vel_rms_{a}": v for a, v in zip("xyz", r.vel_rms_mm_s, strict=True)})
        feats.update(peak_g=r.peak_g, kurt=r.kurtosis)
        for ch, v in readings_from_features(feats).items():
            per.setdefault(ch, []).append(v)
    return {ch: statistics.median(v) for ch, v in per.items()}


def test_the_seeded_features_continue_into_the_live_ones(handover: HandOver) -> None:
    """Every feature the monitor watches, over the last 6 running hours of the past and the
    first 6 of the live node, within 10 %: the level, the peak and the kurtosis of the
    wearing bearings too, whose impulses grow with the square of their wear."""
    checked = 0
    for spec in handover.specs:
        rows = handover.rows[spec.node_id]
        before = [r for r in rows if r.ts < handover.origin][-36:]  # 10-minute steps
        after = [r for r in rows if r.ts >= handover.origin][:72]  # 5-minute reports
        if len(after) < 12:
            continue  # the idle pump: a few minutes of running in these hours
        past, live = channels(before), channels(after)
        ratios = {ch: round(live[ch] / past[ch], 3) for ch in past}
        assert all(0.9 <= r <= 1.1 for r in ratios.values()), (spec.asset.asset_id, ratios)
        checked += 1
    assert checked == 11


def test_the_wearing_bearings_are_warned_from_their_seeded_wear(handover: HandOver) -> None:
    """The demo's story: its wearing bearings carry a warning from the past, raised by the
    monitor on the seeded readings before the live nodes start (demo_story.py)."""
    past = warnings(handover.past)
    assert set(WEARING) <= set(past), past
