"""The health monitor judges the stored report columns, read after a frame-id watermark: no
payload is decoded again, a restart resumes after the last frame judged."""

from __future__ import annotations

from pathlib import Path

from gateway.analytics import HealthMonitor
from gateway.store import open_store
from gateway.store.api import Asset, FrameRecord, WriteBatch

T0 = 1_800_000_000.0


def _report(seq: int, vel: float) -> FrameRecord:
    v = int(vel * 100)
    ts = T0 + seq * 300
    return FrameRecord(
        node_id="n1", boot_id=1, seq=seq, kind="report", node_time=int(ts), recv_time=ts, ts=ts,
        payload=b"", flags=1, dropped=0, runtime_s=seq * 300, starts=1, acc_rms_mg=(100,) * 3,
        vel_rms_mm_s_x100=(v, v // 2, v // 3), peak_mg=400, kurtosis_x100=10, temp_c_x10=300,
    )  # fmt: skip


def test_alarms_from_columns_and_resume_after_the_watermark(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "k.db"))
    store.upsert_asset(Asset("P-1", "Site", "Pump", "n1", "group2_rigid"))
    # Empty payloads: only the columns can tell the monitor anything.
    store.write_batch(WriteBatch(frames=[_report(s, 1.0) for s in range(1, 4)]))
    state = tmp_path / "health.json"
    mon = HealthMonitor(store, state)
    assert mon.step() == [] and mon.frame_mark == store.last_frame_id()
    store.write_batch(WriteBatch(frames=[_report(s, 6.0) for s in range(4, 6)]))  # zone D
    again = HealthMonitor(store, state)  # a restart: resumes after the frames judged
    assert again.frame_mark == mon.frame_mark
    events = again.step()
    assert [e.code for e in events] == ["alarm_danger"] and again.alarm_state("P-1") == "danger"
    assert events[0].detail["vel_rms_mm_s"] == 6.0
    assert HealthMonitor(store, state).step() == []  # nothing judged twice
    store.close()
