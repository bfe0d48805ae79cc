"""The same storage tests over SQLite and PostgreSQL (real databases)."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
import uuid
from pathlib import Path

import psycopg
import pytest

from gateway.store import schema
from gateway.store.api import (
    Asset,
    BirthRecord,
    EventRecord,
    FrameRecord,
    MaintenanceWindow,
    NodeStatus,
    OutcomeRecord,
    Part,
    SeqState,
    ServiceEntry,
    Store,
    User,
    WriteBatch,
)
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SqliteStore

from .conftest import PG_URL, pg_available

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
    both = store.latest_states(site="plant-a", asset_ids=["n3", "pump-1"])  # filters combine
    assert [s.asset_id for s in both] == ["pump-1"]
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


def test_asset_zone_limits_and_registry_checks(store: Store) -> None:
    store.upsert_asset(Asset("m-1", "plant-a", "Spindle", zone_limits=(1.5, 3.0, 5.5)))
    a = store.asset("m-1")
    assert a is not None and a.zone_limits == (1.5, 3.0, 5.5)
    store.upsert_asset(dataclasses.replace(a, zone_limits=None))  # back to the group's
    b = store.asset("m-1")
    assert b is not None and b.zone_limits is None and b.machine_group == "group2_rigid"
    bad = [
        (Asset("m-2", "s", "M", machine_group="group3"), "unknown machine group"),
        (Asset("m-2", "s", "M", zone_limits=(3.0, 2.0, 5.0)), "increasing"),
        (Asset("m-2", "s", "M", zone_limits=(1.0, 2.0, math.inf)), "increasing"),
        (Asset("m-2", "s", "M", parts=(Part("p", "P", rated_l10_h=0.0),)), "L10"),
        (Asset("m-2", "s", "M", parts=(Part("p", "P", lead_time_days=-1.0),)), "lead time"),
        (Asset("", "s", "M"), "empty"),
    ]
    for asset, reason in bad:
        with pytest.raises(ValueError, match=reason):
            store.upsert_asset(asset)
    assert [x.asset_id for x in store.assets()] == ["m-1"]


def test_parse_zone_limits() -> None:
    from gateway.store.api import parse_zone_limits

    assert parse_zone_limits("2,4.5,7.1") == (2.0, 4.5, 7.1)
    assert parse_zone_limits("group") is None and parse_zone_limits(" ") is None
    for bad in ("2,4", "2,4,x", "fast"):
        with pytest.raises(ValueError, match="three mm/s values"):
            parse_zone_limits(bad)


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
    assert store.user("ana") == User("ana", "scrypt$y", "technician", session_version=1)
    assert store.user("bob") is None and len(store.users()) == 1
    with pytest.raises(ValueError):
        store.upsert_user(User("bob", "h", "root"))


def test_prune_frames_keeps_aggregates(store: Store) -> None:
    store.write_batch(WriteBatch(frames=[report("n1", 1, T0), report("n1", 2, T0 + 100_000)]))
    assert store.prune_frames(T0 + 1000) == 1
    assert [f.seq for f in store.recent_frames()] == [2]
    assert store.hourly_history("n1", T0 - 3600, T0 + 3600)[0].n == 1


def test_ledger_fields_and_disabled_users(store: Store) -> None:
    store.upsert_asset(Asset("pump-1", "plant-a", "P101"))
    plain = store.add_service_entry(ServiceEntry("pump-1", "2024-03-01", "inspection"))
    acted = store.add_service_entry(
        ServiceEntry(
            "pump-1",
            "2024-03-02",
            "replacement",
            "de-bearing",
            "noisy",
            "ana",
            acted_on_warning=True,
            downtime_avoided_h=7.5,
        )
    )
    log = {e.entry_id: e for e in store.service_log("pump-1")}
    assert not log[plain].acted_on_warning and log[plain].downtime_avoided_h == 0.0
    e = log[acted]
    assert e.acted_on_warning is True and e.downtime_avoided_h == 7.5 and e.finding == "noisy"
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError):
            store.add_service_entry(
                ServiceEntry("pump-1", "2024-03-03", "inspection", downtime_avoided_h=bad)
            )
    assert len(store.service_log()) == 2

    stopped = store.add_service_entry(
        ServiceEntry("pump-1", "2024-03-04", "failure", stop_h=36.5, repair_cost=2480.25)
    )
    log = {e.entry_id: e for e in store.service_log("pump-1")}
    assert (log[stopped].stop_h, log[stopped].repair_cost) == (36.5, 2480.25)
    assert (log[plain].stop_h, log[plain].repair_cost) == (None, None)  # not recorded
    for field in ("stop_h", "repair_cost"):
        for bad in (-0.5, math.inf, math.nan):
            with pytest.raises(ValueError, match=field):
                store.add_service_entry(
                    ServiceEntry("pump-1", "2024-03-05", "failure", **{field: bad})
                )
    assert len(store.service_log()) == 3

    store.upsert_user(User("ana", "scrypt$x", "technician"))
    assert store.user("ana") == User("ana", "scrypt$x", "technician", disabled=False)
    store.upsert_user(User("ana", "scrypt$x", "technician", disabled=True))
    assert store.user("ana") == User(
        "ana", "scrypt$x", "technician", disabled=True, session_version=1
    )
    store.upsert_user(User("bob", "scrypt$y", "viewer"))
    assert [(u.name, u.disabled) for u in store.users()] == [("ana", True), ("bob", False)]
    store.upsert_user(User("ana", "scrypt$z", "technician", disabled=False))
    u = store.user("ana")
    assert u is not None and not u.disabled and u.password_hash == "scrypt$z"


# The version 1 tables that version 2 changed, as version 1 created them (plus `meta`).
V1_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE service_log (
    entry_id {serial},
    asset_id TEXT NOT NULL,
    part_id TEXT NOT NULL DEFAULT '',
    date TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('inspection', 'replacement', 'failure')),
    finding TEXT NOT NULL DEFAULT '',
    by_user TEXT NOT NULL DEFAULT ''
);
CREATE INDEX service_log_asset ON service_log (asset_id, date);
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'technician', 'admin'))
);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO service_log (asset_id, date, kind, finding, by_user) VALUES
    ('pump-1', '2024-01-01', 'inspection', 'all fine', 'ana'),
    ('pump-1', '2024-02-01', 'replacement', 'DE bearing [kizashi:warning avoided=6h]', 'ana'),
    ('pump-1', '2024-03-01', 'failure', ' [kizashi:warning avoided=0.5h]', 'bo'),
    ('pump-1', '2024-04-01', 'inspection', 'tag [kizashi:warning avoided=2h] not at end', ''),
    ('pump-1', '2024-05-01', 'inspection', 'odd [kizashi:warning avoided=1.2.3h]', '');
INSERT INTO users VALUES
    ('ana', 'scrypt:32768:8:1$salt$hash', 'admin'),
    ('bo', '!scrypt:32768:8:1$salt$hash2', 'viewer'),
    ('cy', '!!pbkdf2:sha256:1000$s$h', 'technician');
"""


def _v1_statements(dialect: dict[str, str]) -> list[str]:
    return [s.strip() for s in V1_DDL.format(**dialect).split(";") if s.strip()]


def _check_migrated(st: Store) -> None:
    log = st.service_log("pump-1")
    assert all(e.stop_h is None and e.repair_cost is None for e in log)  # added, not recorded
    got = [(e.finding, e.acted_on_warning, e.downtime_avoided_h) for e in log]
    assert got == [
        ("all fine", False, 0.0),
        ("DE bearing", True, 6.0),
        ("", True, 0.5),
        ("tag [kizashi:warning avoided=2h] not at end", False, 0.0),
        ("odd [kizashi:warning avoided=1.2.3h]", False, 0.0),
    ]
    assert st.users() == [
        User("ana", "scrypt:32768:8:1$salt$hash", "admin", disabled=False),
        User("bo", "scrypt:32768:8:1$salt$hash2", "viewer", disabled=True),
        User("cy", "pbkdf2:sha256:1000$s$h", "technician", disabled=True),
    ]
    # The migrated database takes the new fields.
    st.upsert_asset(Asset("pump-1", "plant-a", "P101", zone_limits=(2.0, 4.0, 6.0)))
    a = st.asset("pump-1")
    assert a is not None and a.zone_limits == (2.0, 4.0, 6.0)
    n = st.add_service_entry(
        ServiceEntry("pump-1", "2024-06-01", "inspection", acted_on_warning=True,
                     downtime_avoided_h=3.0)
    )  # fmt: skip
    assert st.service_log("pump-1")[-1] == ServiceEntry(
        "pump-1", "2024-06-01", "inspection", entry_id=n, acted_on_warning=True,
        downtime_avoided_h=3.0,
    )  # fmt: skip
    # ... and keeps the warning outcomes (schema 17), one per settling entry
    outcome = OutcomeRecord(n, "group2_rigid", "kurtosis", 1.9, False)
    assert st.add_warning_outcome(outcome) and not st.add_warning_outcome(outcome)
    assert st.warning_outcomes() == [outcome]


def test_migrates_version_1_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    for stmt in _v1_statements(schema.SQLITE):
        con.execute(stmt)
    con.commit()
    con.close()

    st = SqliteStore(path)
    try:
        _check_migrated(st)
    finally:
        st.close()
    con = sqlite3.connect(path)
    cols = {r[1] for r in con.execute("PRAGMA table_info(service_log)")}
    assert {"acted_on_warning", "downtime_avoided_h"} <= cols
    assert "disabled" in {r[1] for r in con.execute("PRAGMA table_info(users)")}
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [
        (str(schema.SCHEMA_VERSION),)
    ]
    con.close()
    # Opening again changes nothing (the conversion runs once, from version 1).
    st = SqliteStore(path)
    try:
        assert [e.acted_on_warning for e in st.service_log()] == [
            False, True, True, False, False, True,
        ]  # fmt: skip
        assert [u.disabled for u in st.users()] == [False, True, True]
    finally:
        st.close()


def test_new_sqlite_file_is_current_version(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "new.db").close()
    con = sqlite3.connect(tmp_path / "new.db")
    rows = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    assert rows == [(str(schema.SCHEMA_VERSION),)]
    con.close()


@pytest.mark.postgres
def test_migrates_version_1_postgres_schema() -> None:
    if not pg_available():
        pytest.fail("PostgreSQL not reachable at " + PG_URL)
    name = "kz_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_URL, autocommit=True) as con:
        con.execute(f'CREATE SCHEMA "{name}"'.encode())
        con.execute(f'SET search_path TO "{name}"'.encode())
        for stmt in _v1_statements(schema.POSTGRES):
            con.execute(stmt.encode())
    st = PostgresStore(PG_URL, name)
    try:
        _check_migrated(st)
        st.close()
        st = PostgresStore(PG_URL, name)  # again: nothing changes
        assert [u.disabled for u in st.users()] == [False, True, True]
        assert sum(e.acted_on_warning for e in st.service_log()) == 3
        with psycopg.connect(PG_URL) as con:
            row = con.execute(
                f"SELECT value FROM \"{name}\".meta WHERE key = 'schema_version'".encode()
            ).fetchone()
        assert row == (str(schema.SCHEMA_VERSION),)
    finally:
        st.drop_schema()
        st.close()


def test_events_after_follows_commit_order(store: Store) -> None:
    from gateway.store.api import EventRecord

    # Node time order differs from commit order on purpose (a late backfilled event).
    store.write_batch(
        WriteBatch(events=[EventRecord(T0 + 50, "n1", "a"), EventRecord(T0, "n1", "b")])
    )
    store.write_batch(WriteBatch(events=[EventRecord(T0 - 100, "n1", "c")]))
    got = store.events_after(0)
    assert [e.code for e in got] == ["a", "b", "c"]
    assert [e.code for e in store.events_after(got[0].event_id, limit=1)] == ["b"]
    assert store.events_after(got[-1].event_id) == []


def test_event_times_reads_many_nodes_warnings_at_once(store: Store) -> None:
    from gateway.store.api import EventRecord

    store.write_batch(
        WriteBatch(
            events=[
                EventRecord(T0 + 30, "n1", "alarm_alert", source="gateway"),
                EventRecord(T0 + 10, "n1", "alarm_alert", source="gateway"),
                EventRecord(T0 + 20, "n1", "alarm_alert", source="node"),  # other source
                EventRecord(T0 + 15, "n1", "boot", source="node"),  # other code
                EventRecord(T0 - 5, "n1", "alarm_alert", source="gateway"),  # before since
                EventRecord(T0 + 100, "n1", "alarm_alert", source="gateway"),  # at until
                EventRecord(T0 + 40, "n2", "alarm", source="node"),
                EventRecord(T0 + 50, "n3", "alarm", source="node"),  # not asked for
            ]
        )
    )
    kinds = {("gateway", "alarm_alert"), ("node", "alarm")}
    got = store.event_times(["n1", "n2", "n4"], kinds, T0, T0 + 100)
    assert got == {"n1": [T0 + 10, T0 + 30], "n2": [T0 + 40]}
    assert store.event_times(["n1"], kinds, None, T0)["n1"] == [T0 - 5]
    assert store.event_times([], kinds, None, T0 + 1000) == {}
