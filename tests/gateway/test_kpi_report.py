"""The KPIs read from a real store (both backends) and the weekly KPI snapshot: one outbox event
per finished week, never two, whoever writes it (gateway/kpi_report.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from gateway.kpi_report import KpiSnapshots, inputs_from_store, snapshot, week_of
from gateway.kpis import month, period_kpis
from gateway.proposals import Proposals
from gateway.store.api import (
    Asset,
    CatalogPart,
    CustomerTerms,
    EventRecord,
    MaintenanceWindow,
    Part,
    ServiceEntry,
    Store,
    WriteBatch,
)
from tests.gateway.test_proposals import BEARING, NOW, Clock, outlook

DAY = 86400.0


def world(store: Store) -> Clock:
    store.upsert_asset(
        Asset("spindle-2", "Osaka Works", "Line 1", node_id="n2", description="spindle 2",
              parts=(Part("de-bearing", "drive-end bearing", "6205-2RS"),))
    )  # fmt: skip
    store.upsert_asset(Asset("fan-1", "Osaka Works", "Line 1", node_id="n1"))
    store.put_catalog_part(dataclasses.replace(BEARING, lead_time_days=1.0))
    store.put_catalog_part(CatalogPart("x", "other"))
    store.set_stock("6205-2RS", "main", 2, "anna", at=NOW - 10 * DAY)
    store.put_terms(CustomerTerms("", "EUR", 80.0, 1200.0, NOW, "admin"))
    warned = NOW - 6 * DAY  # 2026-11-26 09:00
    store.write_batch(
        WriteBatch(events=[
            EventRecord(warned, "n2", "baseline_change", {"reason": "rising"}, source="gateway"),
            EventRecord(warned + 3600, "n2", "alarm_alert", {}, source="gateway"),
            EventRecord(warned, "n1", "alarm_danger", {}, source="node"),  # not a warning
        ])
    )  # fmt: skip
    start = NOW - 2 * DAY  # 2026-11-30 09:00, the line stop
    wid = store.add_window(MaintenanceWindow("Osaka Works", start, start + 8 * 3600, "stop"))
    store.write_outlooks([outlook(next(w for w in store.windows() if w.window_id == wid))])
    return Clock(NOW - 5 * DAY)


def test_story_read_back_from_the_store(store: Store) -> None:
    clock = world(store)
    svc = Proposals(store, clock)
    p = svc.make("spindle-2", "ken")
    svc.send(p.proposal_id, "ken")
    clock.t += DAY
    svc.accept(p.proposal_id, "acme-buyer")
    clock.t = NOW - 2 * DAY + 8 * 3600  # the end of the stop
    svc.done(p.proposal_id, "ken")
    store.add_service_entry(ServiceEntry("fan-1", "2026-11-30", "failure"))
    inp = inputs_from_store(store, month("2026-11").start, month("2026-12").end)
    assert inp.warnings == {"spindle-2": [NOW - 6 * DAY, NOW - 6 * DAY + 3600], "fan-1": []}
    k = period_kpis(inp, month("2026-11"))
    assert k["warnings"]["value"] == 1 and k["confirmed"] == 1  # replaced: confirmed
    assert k["proposals_sent"] == 1 and k["proposals_accepted"] == 1
    assert k["missed"] == [{"asset_id": "fan-1", "date": "2026-11-30"}]
    (line,) = k["downtime_entries"]
    assert line["proposal_id"] == p.proposal_id
    # warned 2026-11-26 09:00 UTC, repair dated 2026-11-30: at most 111 h to the day's end
    assert line["bound_h"] == 111.0
    assert 0 < line["counted_h"] == min(line["claimed_h"], 111.0)
    assert k["revenue_proactive"]["amounts"]["EUR"] > 0
    # the stored outlook still asks for work and no open proposal covers it any more
    assert [(r.asset_id, r.action) for r in inp.open_risk] == [("spindle-2", "plan")]


def test_weekly_snapshot_is_written_once_per_week(store: Store) -> None:
    world(store)
    t = datetime(2026, 12, 2, 9, tzinfo=UTC).timestamp()  # Wednesday of 2026-W49
    assert week_of(t).label == "2026-W49"
    clock = Clock(t)
    snaps = KpiSnapshots(store, clock)
    assert snaps.step() == "2026-W48"
    assert KpiSnapshots(store, clock).step() is None  # another process, or a restart
    clock.t += 3 * DAY
    assert snaps.step() is None
    clock.t += 3 * DAY  # Monday 2026-12-07 09:00: W49 has ended
    assert snaps.step() == "2026-W49"
    events = [e for e in store.outbox_after(0) if e.kind == "kpi.weekly"]
    assert [e.payload["week"] for e in events] == ["2026-W48", "2026-W49"]
    w48 = events[0].payload["fleet"]
    assert w48["warnings"]["value"] == 1  # the spindle's, on 2026-11-26
    assert events[0].payload == snapshot(store, week_of(t - 7 * DAY))


def test_add_outbox_once_refuses_no_key(store: Store) -> None:
    with pytest.raises(ValueError, match="key"):
        store.add_outbox_once("kpi.weekly", "", {}, NOW)
    assert store.add_outbox_once("k", "a", {"x": 1}, NOW) is not None
    assert store.add_outbox_once("k", "a", {"x": 2}, NOW) is None
    assert [e.payload for e in store.outbox_after(0)] == [{"x": 1}]


def test_running_hours_by_month_from_the_hourly_arrays(store: Store) -> None:
    from gateway.kpi_report import running_hours
    from gateway.store.api import FrameRecord

    store.upsert_asset(Asset("m", "s", "line", node_id="n9"))
    t0 = datetime(2026, 11, 30, 22, tzinfo=UTC).timestamp()  # 22:00, 23:00, then December
    frames = [
        FrameRecord(node_id="n9", boot_id=1, seq=i + 1, kind="report", node_time=int(t),
                    recv_time=t, ts=t, payload=b"", flags=1 if i % 2 == 0 else 0, dropped=0,
                    runtime_s=60 * i, starts=1, acc_rms_mg=(1, 1, 1),
                    vel_rms_mm_s_x100=(100, 100, 100), peak_mg=10, kurtosis_x100=300,
                    temp_c_x10=300)
        for i, t in enumerate(t0 + 1800 * k for k in range(8))
    ]  # fmt: skip
    store.write_batch(WriteBatch(frames=frames))
    got = running_hours(store, ["m"], month("2026-11").start, month("2026-12").end)
    # two reports an hour, one of them flagged running: half of each hour
    assert got == {"m": {"2026-11": 1.0, "2026-12": 1.0}}


def test_the_proposals_task_writes_the_snapshot(store: Store) -> None:
    """The gateway's periodic `proposals` task (gateway/service.py, fleet_server.py) runs the
    snapshot after each sweep: one pass writes last week's event."""
    import asyncio
    import contextlib

    world(store)
    clock = Clock(datetime(2026, 12, 2, 9, tzinfo=UTC).timestamp())
    snaps = KpiSnapshots(store, clock)

    async def one_pass() -> None:
        task = asyncio.create_task(Proposals(store, clock).run(every_s=3600, also=snaps.step))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if any(e.kind == "kpi.weekly" for e in store.outbox_after(0)):
                break
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(one_pass())
    assert [e.payload["week"] for e in store.outbox_after(0) if e.kind == "kpi.weekly"] == [
        "2026-W48"
    ]
