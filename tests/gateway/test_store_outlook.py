"""The store's outlook side over SQLite and PostgreSQL: the outlook table, report columns by
watermark, many assets' hourly history at once, and the change stamp the page keys on."""

from __future__ import annotations

import dataclasses
import time

from gateway.store.api import Asset, MaintenanceWindow, Outlook, ServiceEntry, Store, WriteBatch

from .test_store import HOUR, T0, report


def outlook(asset_id: str, at: float, **kw: object) -> Outlook:
    base = Outlook(
        asset_id=asset_id, computed_at=at, zone="B", level_mm_s=2.1, level_n=12, level_ts=T0,
        trend="stable", trend_pct_week=None, status="prior_only", method="rated_life",
        status_text="too early", health_index=0.1, rul_p10_h=100.0, rul_p50_h=200.0,
        rul_p90_h=300.0, p10_ts=T0 + 86400, p50_ts=None, p90_ts=None, beyond_horizon=False,
        life_text="P10 in 4 days", hours_per_week=80.0, action="plan", reason="forecast",
        fault="bearing wear", part_id="brg", part_number="6205", lead_time_days=5.0,
        need_by_ts=T0 + 3600, order_by_ts=T0, window_id=3, window_start=T0 + 3600,
        window_end=T0 + 7200, action_text="replace", parts_needed=(("6205", 1),),
        detail={"cone": [1, 2]},
    )  # fmt: skip
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]  # test helper


def test_outlooks_round_trip_and_replace(store: Store) -> None:
    a, b = outlook("a", T0), outlook("b", T0 + 1, zone=None, level_mm_s=None, window_id=None)
    store.write_outlooks([a, b])
    assert store.outlooks() == [a, b]
    assert store.outlooks(asset_ids=["b"]) == [b]
    assert store.outlooks(computed_after=T0) == [b]
    a2 = outlook("a", T0 + 5, action="stop_now", parts_needed=(), detail={})
    store.write_outlooks([a2])
    assert store.outlooks(asset_ids=["a", "b", "zz"]) == [a2, b]
    store.delete_outlooks(["b"])
    assert store.outlooks() == [a2]
    assert store.outlook_checked_at() is None
    store.mark_outlook_checked(T0 + 9)
    assert store.outlook_checked_at() == T0 + 9


def test_reports_after_follows_commit_order(store: Store) -> None:
    assert store.last_frame_id() == 0 and store.reports_after(0) == []
    store.write_batch(WriteBatch(frames=[report("n1", 1, T0, vel=150), report("n2", 1, T0)]))
    rows = store.reports_after(0)
    assert [(r.node_id, r.seq) for r in rows] == [("n1", 1), ("n2", 1)]
    assert rows[0].vel_rms_mm_s == (1.5, 3.0, 4.5) and rows[0].flags == 1
    mark = store.last_frame_id()
    assert mark == rows[-1].frame_id
    store.write_batch(WriteBatch(frames=[report("n1", 2, T0 + 10, flags=0)]))
    (new,) = store.reports_after(mark)
    assert (new.seq, new.flags) == (2, 0) and store.reports_after(0, limit=1)[0].seq == 1


def test_hourly_histories_of_many_assets(store: Store) -> None:
    frames = [report("n1", 1, HOUR + 10), report("n1", 2, HOUR + 3610), report("n2", 1, HOUR)]
    store.write_batch(WriteBatch(frames=frames))
    got = store.hourly_histories(["n1", "n2", "n3"], HOUR, HOUR + 7200)
    assert {k: [h.hour for h in v] for k, v in got.items()} == {
        "n1": [HOUR, HOUR + 3600],
        "n2": [HOUR],
    }
    assert got["n1"] == store.hourly_history("n1", HOUR, HOUR + 7200)


def test_change_stamp_moves_with_every_kind_of_change(store: Store) -> None:
    seen = [store.change_stamp()]

    def changed() -> bool:
        seen.append(store.change_stamp())
        return seen[-1] != seen[-2]

    store.write_batch(WriteBatch(frames=[report("n1", 1, T0)]))
    assert changed()
    store.upsert_asset(Asset("a", "s", "m", node_id="n1"))
    assert changed()
    store.add_window(MaintenanceWindow("s", T0, T0 + 10))
    assert changed()
    store.add_service_entry(ServiceEntry("a", "2024-01-01", "inspection"))
    assert changed()
    store.write_outlooks([outlook("a", T0)])
    assert changed()
    assert not changed()


def test_hourly_series_and_first_hour(store: Store) -> None:
    frames = [report("n1", 1, HOUR + 10, vel=100), report("n1", 2, HOUR + 3610, vel=200)]
    store.write_batch(WriteBatch(frames=frames))
    t, vel, runtime, starts = store.hourly_series("n1", HOUR, HOUR + 7200)
    hist = store.hourly_history("n1", HOUR, HOUR + 7200)
    assert t == [float(h.hour) for h in hist] == [HOUR, HOUR + 3600]
    assert vel == [h.vel_rms_max_mm_s for h in hist] and vel[1] == 6.0
    assert runtime == [float(h.runtime_s) for h in hist] and starts == [3.0, 3.0]
    assert store.hourly_series("n9", 0, 1e12) == ([], [], [], [])
    assert store.first_hour("n1") == HOUR and store.first_hour("n9") is None


def test_outlook_engine_on_both_backends(store: Store) -> None:
    """The gateway's outlook engine end to end on SQLite and PostgreSQL."""
    from gateway.outlook import OutlookEngine
    from gateway.store.api import Part

    part = Part("brg", "Bearing", "6205", rated_l10_h=30000, lead_time_days=5)
    store.upsert_asset(Asset("pump", "s", "m", node_id="n1", parts=(part,)))
    store.add_window(MaintenanceWindow("s", T0 + 10 * 86400, T0 + 10 * 86400 + 3600))
    frames = [report("n1", k, T0 - 3600 + k * 60, vel=120) for k in range(1, 13)]  # 3.6 mm/s
    store.write_batch(WriteBatch(frames=frames))
    eng = OutlookEngine(store, clock=lambda: T0)
    assert eng.step() == 1
    (o,) = store.outlooks()
    # group 2 rigid: 3.6 mm/s (the worst axis) is zone C -> the first window the part can make
    assert (o.zone, o.level_n, o.action, o.reason) == ("C", 12, "plan", "zone_C")
    assert o.window_start == T0 + 10 * 86400
    checked = store.outlook_checked_at()  # the engine's heartbeat: wall time, not the fleet's
    assert checked is not None and abs(checked - time.time()) < 60
    assert eng.step() == 0
