"""The outlook engine over a real SQLite store filled through the store's API."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gateway.outlook import OutlookEngine, outlook_age_s
from gateway.store import open_store
from gateway.store.api import (
    Asset,
    FrameRecord,
    MaintenanceWindow,
    Part,
    ServiceEntry,
    Store,
    WriteBatch,
)

HOUR = 3600.0
NOW = 1_800_000_000.0  # a fixed clock: results do not depend on the day the test runs


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    st = open_store(str(tmp_path / "k.db"))
    part = Part("brg", "Drive-end bearing", "6205-2RS", rated_l10_h=30000, lead_time_days=5)
    st.upsert_asset(Asset("pump", "Site", "Pump 1", "n1", parts=(part,)))  # group 2 rigid
    st.upsert_asset(Asset("fan", "Site", "Fan 1", "n2", parts=(part,)))
    yield st
    st.close()


class Feed:
    """Reports of one node through write_batch, as the ingest pipeline commits them."""

    def __init__(self, store: Store, node: str) -> None:
        self.store, self.node, self.seq, self.runtime = store, node, 0, 3_600_000

    def report(self, ts: float, vel: float, running: bool = True) -> None:
        self.reports([(ts, vel)], running)

    def reports(self, points: list[tuple[float, float]], running: bool = True) -> None:
        """(ts, velocity mm/s) readings committed in one batch."""
        recs = []
        for ts, vel in points:
            self.seq += 1
            self.runtime += 600 if running else 0
            v = int(vel * 100)
            recs.append(FrameRecord(
                node_id=self.node, boot_id=1, seq=self.seq, kind="report", node_time=int(ts),
                recv_time=ts, ts=ts, payload=b"", flags=1 if running else 0, dropped=0,
                runtime_s=self.runtime, starts=10, acc_rms_mg=(v, v, v),
                vel_rms_mm_s_x100=(v, v, v), peak_mg=v * 3, kurtosis_x100=20, temp_c_x10=400,
            ))  # fmt: skip
        self.store.write_batch(WriteBatch(frames=recs))

    def ramp(self, hours: int, base: float, per_h: float, quiet_h: float, seed: int) -> None:
        """Readings every 10 running minutes up to NOW for `hours` running hours: `base` mm/s
        for `quiet_h`, then rising `per_h` mm/s per running hour, with 2 % scatter."""
        n = hours * 6
        t0 = NOW - n * 600.0
        vel = base + per_h * np.maximum(np.arange(1, n + 1) / 6.0 - quiet_h, 0.0)
        vel *= 1.0 + np.random.default_rng(seed).normal(0.0, 0.02, n)
        self.reports([(t0 + (i + 1) * 600.0, float(v)) for i, v in enumerate(vel)])


def test_zone_is_the_running_level_not_the_last_reading(store: Store) -> None:
    pump = Feed(store, "n1")
    for i in range(20):  # runs in zone B (1.4-2.8 mm/s), one spike into zone D
        pump.report(NOW - 3 * HOUR + i * 300, 7.0 if i == 15 else 2.0)
    pump.report(NOW - 60, 0.3, running=False)  # idle now: quiet, but not running
    eng = OutlookEngine(store, clock=lambda: NOW)
    assert eng.step() == 2
    (o,) = store.outlooks(["pump"])
    assert (o.zone, o.level_mm_s, o.level_n) == ("B", 2.0, 12)
    assert o.action != "stop_now"


def test_changed_assets_only_and_fresh_after_a_commit(store: Store) -> None:
    pump, fan = Feed(store, "n1"), Feed(store, "n2")
    pump.report(NOW - 600, 1.0)
    fan.report(NOW - 600, 1.0)
    eng = OutlookEngine(store, clock=lambda: NOW)
    eng.step()
    assert eng.step() == 0  # nothing changed
    for k in range(12):
        pump.report(NOW - 300 + k, 5.0)  # zone D now
    assert eng.step() == 1
    (o,) = store.outlooks(["pump"])
    assert o.zone == "D" and o.action == "stop_now" and o.p50_ts is None
    store.add_service_entry(ServiceEntry("fan", "2027-01-01", "inspection"))
    assert eng.step() == 1
    a = store.asset("fan")
    assert a is not None
    store.upsert_asset(dataclasses.replace(a, zone_limits=(0.1, 0.2, 0.3)))
    assert eng.step() == 1 and store.outlooks(["fan"])[0].zone == "D"
    # The heartbeat is wall time whatever the fleet's clock (the demo's is simulated).
    at = store.outlook_checked_at()
    assert at is not None and abs(at - time.time()) < 60
    assert outlook_age_s(store, at + 7) == 7.0


def test_a_second_engine_resumes_levels_after_a_restart(store: Store) -> None:
    pump = Feed(store, "n1")
    for i in range(12):
        pump.report(NOW - 3600 + i * 300, 3.5)  # zone C
    OutlookEngine(store, clock=lambda: NOW).step()
    again = OutlookEngine(store, clock=lambda: NOW)
    again.step()
    (o,) = store.outlooks(["pump"])
    assert o.zone == "C" and o.level_n == 12 and o.action in ("plan", "unplanned_stop")
    assert o.reason == "zone_C" and o.status_text


def test_refresh_recomputes_on_request(store: Store) -> None:
    Feed(store, "n1").report(NOW - 60, 2.0)
    eng = OutlookEngine(store, clock=lambda: NOW)
    eng.step()
    a = store.asset("pump")
    assert a is not None
    store.upsert_asset(dataclasses.replace(a, zone_limits=(0.5, 1.0, 1.5)))
    (o,) = eng.refresh(["pump"])
    assert o.zone == "D" and store.outlooks(["pump"])[0].zone == "D"
    store.delete_asset("fan")
    assert eng.refresh(["fan"]) == [] and not store.outlooks(["fan"])


def test_one_failing_asset_does_not_stop_the_others(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from gateway.outlook import engine as eng_mod

    Feed(store, "n1").report(NOW - 60, 2.0)
    Feed(store, "n2").report(NOW - 60, 2.0)
    real = eng_mod.cols.forecasts

    def forecasts(arrays: Any, *a: Any) -> Any:
        if "fan" in arrays:  # stands in for data the forecast cannot take
            raise FloatingPointError("bad data")
        return real(arrays, *a)

    monkeypatch.setattr(eng_mod.cols, "forecasts", forecasts)
    eng = OutlookEngine(store, clock=lambda: NOW)
    assert eng.step() == 1 and eng.failed == 1
    assert [o.asset_id for o in store.outlooks()] == ["pump"]
    assert "outlook of fan failed" in caplog.text


def test_worn_past_the_assumed_end_of_life_level_is_judged_by_its_zone(store: Store) -> None:
    # The pump's vibration grows steadily 7x over 100 running hours into zone C (2.8-4.5 mm/s)
    # and no part of the fleet has failed: its HI (ln 7) is past the level taken as end of
    # life (ln 5) while it still runs, so no figure can be given. Before, the trend said
    # "0 h left", blended with the rated life into a P50 under an hour, the judgement chose an
    # unplanned stop by today and the cone drew a failure level 5 % above today's.
    # It has held at that level for its last 60 running hours: no pace toward zone D
    # (that case is test_zone_d_at_the_current_pace_comes_before_the_planned_stop).
    feed = Feed(store, "n1")
    n = 180 * 6  # readings every 10 running minutes
    t0 = NOW - n * 600.0
    feed.reports([
        (t0 + i * 600.0, 0.5 * math.exp(math.log(7.0) * min(max(i / 6 - 20.0, 0.0), 100.0) / 100.0))
        for i in range(n)
    ])  # fmt: skip
    day = 86400.0
    store.add_window(MaintenanceWindow("Site", NOW + 2 * day, NOW + 2 * day + 8 * HOUR))
    store.add_window(MaintenanceWindow("Site", NOW + 9 * day, NOW + 9 * day + 8 * HOUR))
    OutlookEngine(store, clock=lambda: NOW).step()
    (o,) = store.outlooks(["pump"])
    assert o.zone == "C" and o.status == "degrading" and o.health_index > math.log(5.0)
    assert o.method == "past_fail_level"
    assert (o.rul_p10_h, o.rul_p50_h, o.rul_p90_h) == (None, None, None)
    assert (o.p10_ts, o.p50_ts, o.p90_ts) == (None, None, None)
    assert o.detail["forecast_rul_h"] == [None, None, None]  # no rated life in its place
    assert "no remaining-life figure" in o.status_text and "5x its quiet level" in o.status_text
    assert o.life_text.startswith("no figure")
    assert "cone" not in o.detail  # no failure level made up
    # The zone decides: the first planned stop the part (5 days lead time) can make.
    assert (o.action, o.reason) == ("plan", "zone_C")
    assert o.window_start == NOW + 9 * day and o.parts_needed == (("6205-2RS", 1),)
    pace = o.detail["pace"]
    assert isinstance(pace, dict) and "not enough evidence" in str(pace["text"])
    assert "zone D" not in o.action_text


def test_zone_d_at_the_current_pace_comes_before_the_planned_stop(store: Store) -> None:
    # A spindle bearing (class II: zone C/D at 7.1 mm/s, the part 28 days away) quiet for 100
    # running hours, then rising 0.017 mm/s per running hour to 6.6 mm/s now, with scatter;
    # running around the clock. Past the level taken as end of life, so no remaining-life
    # figure: on the zone alone the judgement booked the planned stop in 40 days, while at
    # this pace the level crosses 7.1 mm/s in about 30 running hours.
    part = Part("brg", "Spindle bearing", "7014-CD/P4A", rated_l10_h=15000, lead_time_days=28)
    store.upsert_asset(Asset("spindle", "Site", "Spindle 2", "n3", "class_II", parts=(part,)))
    Feed(store, "n3").ramp(430, base=1.0, per_h=0.017, quiet_h=100.0, seed=7)
    day = 86400.0
    store.add_window(MaintenanceWindow("Site", NOW + 9 * day, NOW + 9 * day + 8 * HOUR))
    store.add_window(MaintenanceWindow("Site", NOW + 40 * day, NOW + 40 * day + 8 * HOUR))
    OutlookEngine(store, clock=lambda: NOW).step()
    (o,) = store.outlooks(["spindle"])
    assert o.zone == "C" and o.method == "past_fail_level" and o.p10_ts is None
    assert (o.action, o.reason, o.window_id) == ("unplanned_stop", "zone_C", None)
    pace = o.detail["pace"]
    assert isinstance(pace, dict) and pace["zone"] == "D" and pace["limit_mm_s"] == 7.1
    lo, hi = pace["slope_90"]  # type: ignore[misc]
    assert 0 < lo <= 0.017 <= hi and pace["hours"] == 48
    run_h = float(pace["running_h"])  # type: ignore[arg-type]
    assert 20.0 < run_h < 40.0
    # Around the clock: the calendar date is that many hours on.
    assert abs(float(pace["at_ts"]) - (NOW + run_h * HOUR)) < 2 * HOUR  # type: ignore[arg-type]
    assert o.need_by_ts == pace["at_ts"] and o.parts_needed == (("7014-CD/P4A", 1),)
    assert "reaches zone D (7.1 mm/s) in about" in o.action_text
    assert f"around {pace['day']}" in o.action_text and "Order now" in o.action_text


def test_a_level_climbing_toward_zone_d_is_not_shown_as_steady_or_years_of_life(
    store: Store,
) -> None:
    # The demo's exhaust fan: an unbalance that started high (zone C, 3.2 mm/s on a group 2
    # rigid machine, zone D at 4.5) and climbs 0.002 mm/s per running hour, 9 % a week, under
    # the bearing wear onset of its own quiet level, with a rated life of 30,000 h. The page
    # said "No wear trend: vibration steady", a stable arrow, and 18,000 h of life, while its
    # own pace put zone D some 350 running hours away.
    Feed(store, "n2").ramp(400, base=3.2, per_h=0.002, quiet_h=100.0, seed=3)
    OutlookEngine(store, clock=lambda: NOW).step()
    (o,) = store.outlooks(["fan"])
    assert o.zone == "C" and o.status == "healthy_no_trend"
    assert "steady" not in o.status_text and "under 1.6x its own quiet level" in o.status_text
    assert o.trend == "rising" and o.trend_pct_week is not None and 0 < o.trend_pct_week < 25
    pace = o.detail["pace"]
    # Hundreds of running hours (350 at the true pace; the 48-hour slope scatters), not 18,000.
    assert isinstance(pace, dict) and 200 < float(pace["running_h"]) < 1000  # type: ignore[arg-type]
    # The rated-life figures are computed but not shown: zone D comes first.
    assert o.detail["forecast_rul_h"][0] > 10_000  # type: ignore[index]
    assert (o.rul_p10_h, o.rul_p50_h, o.rul_p90_h) == (None, None, None)
    assert (o.p10_ts, o.p50_ts, o.p90_ts) == (None, None, None)
    assert o.life_text.startswith("zone D comes first at the current pace, around 20")
