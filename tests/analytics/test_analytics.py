"""Health monitoring and the fleet forecaster, on a real SQLite store."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.analytics import FleetForecaster, HealthMonitor
from gateway.store import open_store
from gateway.store.api import Asset, FrameRecord, Part, ServiceEntry, Store, WriteBatch
from protocol import frames

T0 = 1_760_000_000.0
REPORT_S = 300


def report(
    node: str,
    seq: int,
    ts: float,
    vel: float,
    runtime_s: int,
    running: bool = True,
    recv_lag: float = 0.0,
) -> FrameRecord:
    flags = frames.FLAG_RUNNING if running else 0
    payload = frames.encode_report(
        node,
        1,
        seq,
        int(ts),
        flags,
        0,
        runtime_s,
        1,
        [0.1] * 3,
        [vel, vel * 0.5, vel * 0.2],
        0.4,
        0.1,
        30.0,
    )
    f = frames.decode(payload)
    return FrameRecord(
        node, 1, seq, "report", int(ts), ts + recv_lag, ts, payload, f["flags"], 0, runtime_s, 1,
        tuple(f["acc_rms_mg"]), tuple(f["vel_rms_mm_s_x100"]), f["peak_mg"], f["kurtosis_x100"],
        f["temp_c_x10"],
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = open_store(str(tmp_path / "kz.db"))
    s.upsert_asset(Asset("P-1", "Site", "Pump", "n1", "group2_rigid"))
    return s


def write_series(store: Store, node: str, values: list[float], start_seq: int = 1) -> None:
    recs = [
        report(node, start_seq + i, T0 + (start_seq + i) * REPORT_S, v, (start_seq + i) * REPORT_S)
        for i, v in enumerate(values)
    ]
    store.write_batch(WriteBatch(frames=recs))


def codes(store: Store) -> list[str]:
    return [e.code for e in sorted(store.events(limit=1000), key=lambda e: e.ts)]


def test_alarm_enters_at_once_and_clears_with_hysteresis(store: Store, tmp_path: Path) -> None:
    # group2_rigid: B/C at 2.8, C/D at 4.5 mm/s; clear at 90 % of each.
    write_series(store, "n1", [1.0] * 5 + [3.0] + [2.7] * 5 + [2.4] * 2)
    mon = HealthMonitor(store, tmp_path / "health.json")
    mon.step()
    assert codes(store) == ["alarm_alert"]  # 2.7 sits between clear and enter: still alert
    assert mon.alarm_state("P-1") == "alert"
    write_series(store, "n1", [2.4], start_seq=14)  # third point below clear 2.52
    mon.step()
    assert codes(store) == ["alarm_alert", "alarm_normal"]
    alert = next(e for e in store.events(limit=10) if e.code == "alarm_alert")
    assert alert.source == "gateway" and alert.detail["zone"] == "C"


def test_restart_resumes_without_repeating(store: Store, tmp_path: Path) -> None:
    write_series(store, "n1", [5.0] * 3)
    HealthMonitor(store, tmp_path / "health.json").step()
    again = HealthMonitor(store, tmp_path / "health.json")
    assert again.alarm_state("P-1") == "danger"
    assert again.step() == []
    assert codes(store) == ["alarm_danger"]


def test_stopped_machine_is_not_judged(store: Store, tmp_path: Path) -> None:
    recs = [report("n1", i, T0 + i * REPORT_S, 9.0, 0, running=False) for i in range(1, 6)]
    store.write_batch(WriteBatch(frames=recs))
    assert HealthMonitor(store, None).step() == []


def test_bearing_warning_after_a_held_rise_but_not_a_spike_or_a_small_shift(
    store: Store, tmp_path: Path
) -> None:
    rng = random.Random(3)
    # One running day of 5-minute reports is the baseline (time, not a count of points).
    base = [1.0 + rng.gauss(0, 0.03) for _ in range(288)]
    spike = [2.5]
    after_spike = [1.0 + rng.gauss(0, 0.03) for _ in range(20)]
    write_series(store, "n1", base + spike + after_spike)
    mon = HealthMonitor(store, tmp_path / "health.json")
    mon.step()
    assert "baseline_change" not in codes(store)  # one spike is not a change
    assert mon.assets["P-1"].spikes == 1
    # A 40 % shift for 10 hours: the old z-score CUSUM alarmed on it (and on every IMS
    # bearing, issue 14); it is no bearing warning.
    seq = len(base) + 22
    small = [1.4 + rng.gauss(0, 0.03) for _ in range(120)]
    write_series(store, "n1", small, start_seq=seq)
    mon.step()
    assert "baseline_change" not in codes(store)
    # Velocity at 2.4x its baseline held for 7 running hours: one warning, saying why.
    seq += len(small)
    high = [2.4 + rng.gauss(0, 0.03) for _ in range(84)]
    write_series(store, "n1", high[:40], start_seq=seq)
    mon.step()
    again = HealthMonitor(store, tmp_path / "health.json")  # a restart in between
    write_series(store, "n1", high[40:], start_seq=seq + 40)
    again.step()
    assert codes(store) == ["baseline_change"]
    ev = next(e for e in store.events(limit=10) if e.code == "baseline_change")
    assert ev.detail["channel"] == "velocity"
    assert str(ev.detail["reason"]).startswith("velocity RMS 2.4x its baseline for 6")
    # Latched: back to normal levels, no second event and no drop-out.
    write_series(store, "n1", [1.0] * 50, start_seq=seq + len(high))
    again.step()
    assert codes(store) == ["baseline_change"]
    assert again.assets["P-1"].early.warning("bearing") is not None


def test_service_log_clears_false_warnings_retunes_the_group_and_restarts_after_replacement(
    store: Store, tmp_path: Path
) -> None:
    rng = random.Random(4)
    mon = HealthMonitor(store, tmp_path / "health.json")
    mon.step()  # the monitor starts: earlier service entries are not replayed
    base = [1.0 + rng.gauss(0, 0.03) for _ in range(288)]
    high = [2.3 + rng.gauss(0, 0.03) for _ in range(84)]  # 2.3x for 7 h: a warning
    write_series(store, "n1", base + high)
    mon.step()
    assert codes(store) == ["baseline_change"]
    # The inspection finds nothing: the warning is false; it clears and group2_rigid learns.
    store.add_service_entry(ServiceEntry("P-1", _day(T0), "inspection", "", "No defect found"))
    again = HealthMonitor(store, tmp_path / "health.json")
    again.step()
    h = again.assets["P-1"]
    assert h.early.warning("bearing") is None
    assert h.early.params.level_ratio > 2.3  # above what the false warning reached
    # The same level held on does not warn again; the baseline was kept.
    seq = 1 + len(base) + len(high)
    write_series(store, "n1", [2.3 + rng.gauss(0, 0.03) for _ in range(84)], start_seq=seq)
    again.step()
    assert codes(store) == ["baseline_change"]
    # A replacement: a new part, a new baseline to learn.
    store.add_service_entry(ServiceEntry("P-1", _day(T0), "replacement", ""))
    again.step()
    assert again.assets["P-1"].early.state["bearing"].baseline is None


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


def test_forecaster_learns_fleet_prior_from_service_log(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "fleet.db"))
    part = Part("bearing-de", "Drive-end bearing", "6205", 20000.0, 7.0)
    lives_h = [300, 420, 360]
    for i, life_h in enumerate(lives_h):
        node = f"n{i}"
        store.upsert_asset(Asset(f"A{i}", "S", "M", node, "class_I", "", (part,)))
        n = life_h * 3600 // REPORT_S + 30
        write_series(store, node, [1.0] * n)
        failed_at = T0 + (life_h * 3600 // REPORT_S) * REPORT_S
        store.add_service_entry(ServiceEntry(f"A{i}", _day(failed_at), "replacement", "bearing-de"))
    fc = FleetForecaster(store, clock=lambda: T0 + 500 * 3600)
    assert fc.prior() is not None
    assert len(fc.completed_lives) == 3
    for got, want in zip(sorted(fc.completed_lives), sorted(lives_h), strict=True):
        assert abs(got / 3600 - want) <= 24  # day resolution of service dates
    forecast = fc.forecast("A0")
    assert forecast is not None
    assert forecast.status in ("not_enough_data", "prior_only", "healthy_no_trend", "degrading")
    alone = FleetForecaster(open_store(str(tmp_path / "empty.db")))
    assert alone.prior() is None


def test_rough_running_uses_rated_life_faster(tmp_path: Path) -> None:
    """ISO 281 load-life law with severity as the load proxy: (v / v_BC)^3 above zone B."""
    store = open_store(str(tmp_path / "sev.db"))
    part = Part("bearing-de", "Drive-end bearing", "6205", 20000.0, 7.0)
    for asset_id, node, vel in (("SMOOTH", "n1", 1.0), ("ROUGH", "n2", 5.6)):  # class II B/C 2.8
        store.upsert_asset(Asset(asset_id, "S", "M", node, "class_II", "", (part,)))
        write_series(store, node, [vel] * 60)
    fc = FleetForecaster(store, clock=lambda: T0 + 100 * 3600)
    smooth, rough = fc.forecast("SMOOTH"), fc.forecast("ROUGH")
    assert smooth is not None and rough is not None
    assert smooth.p10_s is not None and rough.p10_s is not None
    assert smooth.p10_s / 3600 == pytest.approx(20000, rel=0.01)  # L10 at or below zone B
    assert smooth.p10_s / rough.p10_s == pytest.approx(8.0, rel=0.05)  # twice the B/C limit: 8x


def test_node_clock_ahead_of_the_gateway_misses_nothing(store: Store) -> None:
    """Frames are read by receive time: a node clock an hour ahead must not hide any."""
    ahead = [
        report("n1", i, T0 + i * REPORT_S, 1.0, i * REPORT_S, recv_lag=-3600) for i in range(1, 4)
    ]
    store.write_batch(WriteBatch(frames=ahead))
    mon = HealthMonitor(store, None)
    mon.step()
    late = [
        report("n1", i, T0 + i * REPORT_S, 5.0, i * REPORT_S, recv_lag=-3600) for i in range(4, 6)
    ]
    store.write_batch(WriteBatch(frames=late))
    mon.step()
    assert codes(store) == ["alarm_danger"]
    assert mon.assets["P-1"].last_ts == T0 + 5 * REPORT_S


def test_asset_limits_override_the_group_and_can_change(store: Store, tmp_path: Path) -> None:
    """The maker's limits (zone C from 2.0 mm/s) alarm where group 2 rigid (2.8) would not;
    going back to the group's limits clears the alarm with the usual hysteresis."""
    store.upsert_asset(
        Asset("P-1", "Site", "Pump", "n1", "group2_rigid", zone_limits=(1.0, 2.0, 3.0))
    )
    write_series(store, "n1", [2.5] * 3)
    mon = HealthMonitor(store, tmp_path / "health.json")
    mon.step()
    assert mon.alarm_state("P-1") == "alert" and codes(store) == ["alarm_alert"]
    (alert,) = store.events(limit=10)
    assert alert.detail["zone"] == "C"  # on the asset's limits (group 2 rigid would say B)
    store.upsert_asset(Asset("P-1", "Site", "Pump", "n1", "group2_rigid"))
    write_series(store, "n1", [2.4] * 3, start_seq=4)  # below 90 % of 2.8
    mon = HealthMonitor(store, tmp_path / "health.json")  # also across a restart
    mon.step()
    assert mon.alarm_state("P-1") == "normal" and codes(store) == ["alarm_alert", "alarm_normal"]


def fault_report(node: str, seq: int, ts: float, runtime_s: int) -> FrameRecord:
    """What a node sends while its sensor is faulted: the flag, zeros, running still set."""
    flags = frames.FLAG_RUNNING | frames.FLAG_SENSOR_FAULT
    payload = frames.encode_report(
        node, 1, seq, int(ts), flags, 0, runtime_s, 1, [0.0] * 3, [0.0] * 3, 0.0, 0.0, 30.0
    )
    return FrameRecord(
        node, 1, seq, "report", int(ts), ts, ts, payload, flags, 0, runtime_s, 1,
        (0, 0, 0), (0, 0, 0), 0, 0, 300,
    )  # fmt: skip


def test_sensor_fault_is_never_read_as_healthy_and_alarms_when_it_persists(
    store: Store, tmp_path: Path
) -> None:
    """Zone D vibration, then the sensor faults: the zeros must not clear the alarm, enter the
    hourly history or show as a zone; a fault past SENSOR_FAULT_ALARM_S raises an alarm, and
    measurements returning clear it."""
    from gateway.forecast.health import SENSOR_FAULT_ALARM_S

    write_series(store, "n1", [5.0] * 3)
    mon = HealthMonitor(store, tmp_path / "health.json")
    mon.step()
    assert codes(store) == ["alarm_danger"]
    n_fault = int(SENSOR_FAULT_ALARM_S // REPORT_S) + 2
    recs = [
        fault_report("n1", 4 + i, T0 + (4 + i) * REPORT_S, (4 + i) * 300) for i in range(n_fault)
    ]
    store.write_batch(WriteBatch(frames=recs))
    mon.step()
    assert mon.alarm_state("P-1") == "danger"  # the zeros did not look like a quiet machine
    assert codes(store) == ["alarm_danger", "sensor_fault_alarm"]
    latest = store.latest_states()[0]
    assert latest.flags & frames.FLAG_SENSOR_FAULT  # the page sees the fault ...
    hours = store.hourly_history("P-1", T0, T0 + 10 * 86400)
    assert min(h.vel_rms_max_mm_s for h in hours) >= 5.0  # ... the history never sees zeros
    mon2 = HealthMonitor(store, tmp_path / "health.json")  # restart: the watch resumes
    write_series(store, "n1", [5.0], start_seq=4 + n_fault)
    mon2.step()
    assert codes(store) == ["alarm_danger", "sensor_fault_alarm", "sensor_fault_clear"]


def test_short_sensor_fault_raises_no_alarm(store: Store, tmp_path: Path) -> None:
    write_series(store, "n1", [1.0] * 3)
    store.write_batch(WriteBatch(frames=[fault_report("n1", 4, T0 + 4 * REPORT_S, 1200)]))
    write_series(store, "n1", [1.0], start_seq=5)
    HealthMonitor(store, tmp_path / "health.json").step()
    assert codes(store) == []
