"""The same storage tests over SQLite and PostgreSQL (real databases)."""

from __future__ import annotations

import pytest

from gateway.store.api import (
    Asset,
    BirthRecord,
    EventRecord,
    FrameRecord,
    MaintenanceWindow,
    NodeStatus,
    Part,
    SeqState,
    ServiceEntry,
    Store,
    User,
    WriteBatch,
)

T0 = 1_700_000_000.0  # an hour boundary: 1699999200 + 800
HOUR = int(T0 // 3600) * 3600


def report(
    node: str, seq: int, ts: float, vel: int = 100, boot: int = 1, **kw: object
) -> FrameRecord:
    fields: dict[str, object] = dict(
        node_id=node,
        boot_id=boot,
        seq=seq,
        kind="report",
        node_time=int(ts),
        recv_time=ts + 0.5,
        ts=ts,
        payload=b"\x91\x01",
        flags=1,
        dropped=0,
        runtime_s=1000 + seq,
        starts=3,
        acc_rms_mg=(100, 200, 300),
        vel_rms_mm_s_x100=(vel, vel * 2, vel * 3),
        peak_mg=900,
        kurtosis_x100=300,
        temp_c_x10=415,
    )
    fields.update(kw)
    return FrameRecord(**fields)  # type: ignore[arg-type]  # test helper: keys match fields


def test_reports_feed_latest_hourly_and_frames(store: Store) -> None:
    frames = [report("n1", s, T0 + 10 * s, vel=100 + s) for s in range(1, 6)]
    store.write_batch(WriteBatch(frames=frames))
    latest = store.latest_states()
    assert len(latest) == 1
    st = latest[0]
    assert st.asset_id == "n1" and st.node_id == "n1" and st.site == ""
    assert st.ts == T0 + 50
    assert st.vel_rms_mm_s == pytest.approx((1.05, 2.10, 3.15))
    assert st.acc_rms_g == pytest.approx((0.1, 0.2, 0.3))
    assert st.temp_c == pytest.approx(41.5)
    assert st.runtime_s == 1005
    hist = store.hourly_history("n1", T0 - 7200, T0 + 7200)
    assert len(hist) == 1
    h = hist[0]
    assert h.hour == HOUR and h.n == 5
    assert h.vel_rms_mm_s[0] == pytest.approx(1.03)
    assert h.vel_rms_max_mm_s == pytest.approx(3.15)
    assert h.running_fraction == 1.0
    recent = store.recent_frames("n1", limit=3)
    assert [f.seq for f in recent] == [5, 4, 3]
    assert recent[0].payload == b"\x91\x01"


def test_duplicate_frame_is_ignored_and_old_backfill_keeps_latest(store: Store) -> None:
    store.write_batch(WriteBatch(frames=[report("n1", 2, T0 + 100)]))
    store.write_batch(WriteBatch(frames=[report("n1", 2, T0 + 100)]))
    assert len(store.recent_frames("n1")) == 1
    # A backfilled older frame is stored but does not replace the newer latest state.
    store.write_batch(WriteBatch(frames=[report("n1", 1, T0 + 50, vel=999, backfilled=True)]))
    assert store.latest_states()[0].ts == T0 + 100
    frames = store.recent_frames("n1")
    assert {(f.seq, f.backfilled) for f in frames} == {(2, False), (1, True)}


def test_hourly_adds_up_across_batches_and_hours(store: Store) -> None:
    store.write_batch(WriteBatch(frames=[report("n1", 1, HOUR + 10, temp_c_x10=None)]))
    store.write_batch(WriteBatch(frames=[report("n1", 2, HOUR + 20, vel=300)]))
    store.write_batch(WriteBatch(frames=[report("n1", 3, HOUR + 3600 + 5)]))
    hist = store.hourly_history("n1", HOUR, HOUR + 7200)
    assert [(h.hour, h.n) for h in hist] == [(HOUR, 2), (HOUR + 3600, 1)]
    assert hist[0].vel_rms_mm_s[0] == pytest.approx(2.0)
    assert hist[0].temp_c == pytest.approx(41.5)  # mean over reports with a temperature
    assert store.hourly_history("n1", HOUR + 3600, HOUR + 7200)[0].n == 1


def test_registered_asset_and_filters(store: Store) -> None:
    store.upsert_asset(
        Asset(
            "pump-1",
            "plant-a",
            "P101",
            node_id="n1",
            machine_group="group2_flexible",
            parts=(Part("de-bearing", "DE bearing", "6309-2Z", 26000.0, 14.0),),
        )
    )
    store.upsert_asset(Asset("fan-2", "plant-b", "F7", node_id="n2", machine_group="class_I"))
    store.write_batch(
        WriteBatch(frames=[report("n1", 1, T0), report("n2", 1, T0), report("n3", 1, T0)])
    )
    assert [s.asset_id for s in store.latest_states()] == ["fan-2", "n3", "pump-1"]
    assert [s.asset_id for s in store.latest_states(site="plant-a")] == ["pump-1"]
    assert [s.asset_id for s in store.latest_states(machine_group="class_I")] == ["fan-2"]
    assert [s.asset_id for s in store.latest_states(asset_ids=["n3"])] == ["n3"]
    assert store.latest_states(asset_ids=[]) == []
    assert store.hourly_history("pump-1", T0 - 3600, T0 + 3600)[0].n == 1
    a = store.asset_for_node("n1")
    assert a is not None and a.parts[0].part_number == "6309-2Z"
    assert a.parts[0].rated_l10_h == 26000.0
    # Moving node n1 to another asset releases it from pump-1.
    store.upsert_asset(Asset("pump-9", "plant-a", "P109", node_id="n1"))
    p1 = store.asset("pump-1")
    assert p1 is not None and p1.node_id is None
    assert [x.asset_id for x in store.assets(site="plant-a")] == ["pump-1", "pump-9"]
    assert store.delete_asset("pump-9") and not store.delete_asset("pump-9")
    assert store.asset("pump-9") is None


def test_births_status_events_and_seq_state(store: Store) -> None:
    info: dict[str, object] = {
        "fw": "1.2.0",
        "board": "esp32",
        "sensor": "adxl345",
        "reset": "watchdog",
    }
    store.write_batch(WriteBatch(births=[BirthRecord("n1", 4, T0, info)]))
    store.write_batch(
        WriteBatch(
            births=[BirthRecord("n1", 5, T0 + 60, {**info, "reset": "power_on"})],
            node_status=[NodeStatus("n1", T0 + 61, True, 2, 96, 2, 1, -0.25)],
            events=[
                EventRecord(T0 + 61, "n1", "overheat", {"temp": 91}, 5, 7),
                EventRecord(T0 + 62, "n1", "gap", {"from": 3, "to": 4}, 5, None, "gateway"),
            ],
            seq_states=[SeqState("n1", 5, 10, 20, ((12, 15), (18, 20)), ((3, 4),), 2, T0)],
        )
    )
    n = store.node("n1")
    assert n is not None
    assert n.boot_id == 5 and n.fw == "1.2.0" and n.board == "esp32" and n.online
    assert [r[2] for r in n.resets] == ["power_on", "watchdog"]
    assert n.link_quality == pytest.approx(0.96)
    assert n.clock_offset_s == -0.25
    assert store.node("nope") is None
    assert [x.node_id for x in store.nodes()] == ["n1"]
    ev = store.events("n1")
    assert [e.code for e in ev] == ["gap", "overheat"]
    assert ev[1].detail == {"temp": 91} and ev[1].seq == 7 and ev[0].source == "gateway"
    assert len(store.events(since=T0 + 61.5)) == 1
    (ss,) = store.load_seq_states()
    assert ss.above == ((12, 15), (18, 20)) and ss.lost == ((3, 4),) and ss.contig == 10
    store.write_batch(WriteBatch(seq_states=[SeqState("n1", 5, 20, 20, (), ((3, 4),), 2, T0)]))
    assert store.load_seq_states()[0].contig == 20


def test_service_windows_users(store: Store) -> None:
    store.upsert_asset(Asset("pump-1", "plant-a", "P101"))
    i1 = store.add_service_entry(
        ServiceEntry("pump-1", "2024-03-01", "inspection", "de-bearing", "ok", "ana")
    )
    i2 = store.add_service_entry(ServiceEntry("pump-1", "2024-05-01", "replacement", "de-bearing"))
    assert i2 > i1
    log = store.service_log("pump-1")
    assert [e.kind for e in log] == ["inspection", "replacement"] and log[0].by == "ana"
    with pytest.raises(ValueError):
        store.add_service_entry(ServiceEntry("pump-1", "2024-05-01", "polish"))
    w = store.add_window(MaintenanceWindow("plant-a", T0, T0 + 3600, "summer stop"))
    assert store.windows("plant-a")[0].window_id == w
    assert store.windows("plant-b") == []
    with pytest.raises(ValueError):
        store.add_window(MaintenanceWindow("plant-a", T0, T0))
    store.upsert_user(User("ana", "scrypt$x", "admin"))
    store.upsert_user(User("ana", "scrypt$y", "technician"))
    assert store.user("ana") == User("ana", "scrypt$y", "technician")
    assert store.user("bob") is None and len(store.users()) == 1
    with pytest.raises(ValueError):
        store.upsert_user(User("bob", "h", "root"))


def test_prune_frames_keeps_aggregates(store: Store) -> None:
    store.write_batch(WriteBatch(frames=[report("n1", 1, T0), report("n1", 2, T0 + 100_000)]))
    assert store.prune_frames(T0 + 1000) == 1
    assert [f.seq for f in store.recent_frames()] == [2]
    assert store.hourly_history("n1", T0 - 3600, T0 + 3600)[0].n == 1
