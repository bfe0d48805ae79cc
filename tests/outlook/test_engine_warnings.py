"""Bearing warnings in the outlook (issue 14 items 1, 4, 5): the health monitor's warning is
shown on the asset in words and passed into its forecast; warned failures of the fleet give
warning-to-failure lead times, replaced sound parts and running parts are censored lives."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.analytics import FleetForecaster, HealthMonitor, WarningSeen
from gateway.outlook import OutlookEngine
from gateway.store import open_store
from gateway.store.api import (
    Asset,
    EventRecord,
    FrameRecord,
    Part,
    ServiceEntry,
    Store,
    WriteBatch,
)

HOUR = 3600.0
DAY = 86400.0
T0 = 1_790_000_000.0 // DAY * DAY  # midnight: service dates fall where the test expects
STEP = 600  # one report per 10 running minutes


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    st = open_store(str(tmp_path / "k.db"))
    part = Part("brg", "Drive-end bearing", "6205-2RS", rated_l10_h=30000, lead_time_days=5)
    for i in range(4):
        st.upsert_asset(Asset(f"A{i}", "Site", f"Pump {i}", f"n{i}", parts=(part,)))
    yield st
    st.close()


class Feed:
    """Reports of one node through write_batch, as the ingest pipeline commits them."""

    def __init__(self, store: Store, node: str, t0: float = T0) -> None:
        self.store, self.node, self.seq, self.t, self.runtime = store, node, 0, t0, 0

    def run(self, hours: float, vel: float = 1.0, kurt: float = 0.2) -> None:
        recs = []
        for _ in range(int(hours * HOUR / STEP)):
            self.seq += 1
            self.t += STEP
            self.runtime += STEP
            v = int(vel * 100)
            recs.append(FrameRecord(
                node_id=self.node, boot_id=1, seq=self.seq, kind="report",
                node_time=int(self.t), recv_time=self.t, ts=self.t, payload=b"", flags=1,
                dropped=0, runtime_s=self.runtime, starts=1, acc_rms_mg=(v, v, v),
                vel_rms_mm_s_x100=(v, v, v), peak_mg=v * 3, kurtosis_x100=int(kurt * 100),
                temp_c_x10=400,
            ))  # fmt: skip
        self.store.write_batch(WriteBatch(frames=recs))


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


def test_the_monitors_warning_is_shown_in_words_and_cleared_when_found_false(
    store: Store, tmp_path: Path
) -> None:
    mon = HealthMonitor(store, tmp_path / "health.json")
    mon.step()  # starts following the service log
    pump = Feed(store, "n0")
    pump.run(30)  # quiet: the baseline is learned over 24 running hours
    pump.run(10, kurt=3.0)  # Pearson kurtosis 3.2 -> 6: an impact sign held for hours
    events = [e for e in mon.step() if e.code == "baseline_change"]
    assert len(events) == 1 and "kurtosis" in str(events[0].detail["reason"])
    now = pump.t + 60
    eng = OutlookEngine(store, clock=lambda: now)
    eng.step()
    (o,) = store.outlooks(["A0"])
    warning = o.detail["warning"]
    assert isinstance(warning, dict)
    assert warning["reason"] == events[0].detail["reason"]
    assert warning["channel"] == "kurtosis"
    assert 0 <= float(warning["running_h_since"]) <= 6  # type: ignore[arg-type]
    assert o.status_text.startswith("Bearing warning: kurtosis ")
    # The service inspects and finds nothing: the warning is false, the outlook drops it.
    store.add_service_entry(ServiceEntry("A0", _day(now), "inspection", finding="no defect found"))
    eng.step()
    (o,) = store.outlooks(["A0"])
    assert "warning" not in o.detail and "Bearing warning" not in o.status_text


def test_warned_failures_give_lead_times_and_survivors_are_censored(store: Store) -> None:
    # A0: quiet 200 h, warned at 150 h, failed at 200 h. A1: 300 h, replaced sound (censored).
    # A2: 250 h, replaced (a failure: no finding says it was sound). A3: running, 400 h.
    lives = {"A0": 200, "A1": 300, "A2": 250, "A3": 400}
    feeds = {}
    for i, (aid, h) in enumerate(lives.items()):
        feeds[aid] = f = Feed(store, f"n{i}")
        f.run(h)
    end = {aid: f.t for aid, f in feeds.items()}
    store.add_service_entry(ServiceEntry("A0", _day(end["A0"]), "failure"))
    store.add_service_entry(
        ServiceEntry("A1", _day(end["A1"]), "replacement", finding="no defect, routine change")
    )
    store.add_service_entry(ServiceEntry("A2", _day(end["A2"]), "replacement"))
    now = end["A3"] + 60
    fc = FleetForecaster(store, clock=lambda: now)
    fc.warnings = {
        "A0": [WarningSeen(T0 + 150 * HOUR, 150 * HOUR, "kurtosis 2.0x its baseline")],
        # A2 was replaced 10 h after its warning: the team's reaction, not how long a warned
        # part runs on, so it gives no lead time
        "A2": [WarningSeen(T0 + 240 * HOUR, 240 * HOUR, "peak 3.0x its baseline")],
    }
    fc.running_ages = {"A3": 400 * HOUR}
    prior = fc.prior()
    assert prior is not None and prior.weibull is not None
    assert (prior.n_failures, prior.n_censored) == (2, 2)  # A0, A2 failed; A1, A3 censored
    assert prior.warning_leads_s.tolist() == pytest.approx([50 * HOUR], abs=1.0)  # A0's only
    # The oldest running part does not extend what the history covers by its own age.
    assert prior.max_life_s == pytest.approx(300 * HOUR, abs=HOUR)
    assert prior.weibull.shape >= 1.0  # wear-out: the hazard never falls with age
    # Censored lives lift the life scale: the same failures without survivors give less.
    fc2 = FleetForecaster(store, clock=lambda: now)
    fc2.warnings = fc.warnings
    alone = fc2.prior()
    assert alone is not None and alone.weibull is not None
    assert prior.weibull.scale > alone.weibull.scale


def test_a_warned_asset_is_forecast_from_the_fleets_warning_leads(store: Store) -> None:
    # Fleet: A0 failed 50 running hours after its warning; A1 replaced sound.
    a0, a1 = Feed(store, "n0"), Feed(store, "n1")
    a0.run(200)
    a1.run(300)
    store.add_service_entry(ServiceEntry("A0", _day(a0.t), "failure"))
    store.add_service_entry(ServiceEntry("A1", _day(a1.t), "replacement", finding="no defect"))
    warn = {"reason": "kurtosis 2.0x its baseline for 6.0 running hours", "channel": "kurtosis",
            "ratio": 2.0, "held_running_h": 6.0}  # fmt: skip
    # A2 runs quietly for 100 h and is warned at 90 h (as the monitor stores it).
    a2 = Feed(store, "n2", t0=a1.t + DAY)
    a2.run(100)
    store.write_batch(WriteBatch(events=[
        EventRecord(T0 + 150 * HOUR, "n0", "baseline_change",
                    {"asset": "A0", **warn, "runtime_s": 150 * HOUR}, source="gateway"),
        EventRecord(a2.t - 10 * HOUR, "n2", "baseline_change",
                    {"asset": "A2", **warn, "runtime_s": 90 * HOUR}, source="gateway"),
    ]))  # fmt: skip
    now = a2.t + 60
    OutlookEngine(store, clock=lambda: now).step()
    o = {x.asset_id: x for x in store.outlooks()}
    assert o["A2"].method.startswith("warning_lead"), o["A2"].method
    assert o["A2"].status == "degrading"
    assert "how long warned parts of the fleet ran after their warning" in o["A2"].status_text
    # 50 h lead, 10 h of it gone: the median lies between 40 h and the age prior's (~300 h),
    # near the lead (the age prior is wide).
    rul, quiet = o["A2"].detail["forecast_rul_h"], o["A3"].detail["forecast_rul_h"]
    assert isinstance(rul, list) and isinstance(quiet, list)
    assert 40 <= rul[1] < 150 < quiet[1]
    assert o["A3"].method.startswith("fleet_prior") or o["A3"].status != "degrading"


def test_the_service_log_tunes_the_groups_thresholds(store: Store, tmp_path: Path) -> None:
    """Item 4 of issue 14 at the gateway: a warning found false raises its machine group's
    threshold (for every asset of the group, new ones included); a defect confirmed at an
    inspection is counted once, not again at the replacement."""
    mon = HealthMonitor(store, tmp_path / "health.json")
    mon.step()
    group = store.asset("A0").machine_group  # type: ignore[union-attr]
    a0 = Feed(store, "n0")
    a0.run(30)
    a0.run(10, kurt=3.0)  # Pearson 3.2 -> 6: 1.9x
    mon.step()
    assert mon.assets["A0"].early.warning("bearing") is not None
    store.add_service_entry(ServiceEntry("A0", _day(a0.t), "inspection", finding="No defect found"))
    mon.step()
    assert mon.assets["A0"].early.warning("bearing") is None  # cleared, baseline kept
    (false,) = mon.records.outcomes[group]
    assert not false.confirmed and false.channel == "kurtosis"
    tuned = mon.records.params(group).kurt_ratio
    assert tuned == pytest.approx(1.1 * false.peak_value) and tuned > 1.5
    # A1 (same group) starts with the tuned threshold: a 1.9x kurtosis no longer warns it ...
    a1 = Feed(store, "n1")
    a1.run(30)
    a1.run(10, kurt=3.0)
    mon.step()
    assert mon.assets["A1"].early.params.kurt_ratio == tuned
    assert mon.assets["A1"].early.warning("bearing") is None
    # ... a 2.5x one does; the inspection confirms it, the replacement does not count it again.
    a1.run(10, kurt=5.0)
    mon.step()
    assert mon.assets["A1"].early.warning("bearing") is not None
    store.add_service_entry(
        ServiceEntry("A1", _day(a1.t), "inspection", finding="Defect: outer race spall")
    )
    mon.step()
    assert [o.confirmed for o in mon.records.outcomes[group]] == [False, True]
    assert mon.assets["A1"].early.warning("bearing") is not None  # stands until replaced
    store.add_service_entry(ServiceEntry("A1", _day(a1.t), "replacement"))
    mon.step()
    assert len(mon.records.outcomes[group]) == 2
    assert mon.assets["A1"].early.warning("bearing") is None  # new part: baseline relearned
    # The records survive a restart.
    again = HealthMonitor(store, tmp_path / "health.json")
    assert again.records.params(group).kurt_ratio == tuned


def test_running_parts_are_censored_lives_until_their_asset_is_removed(store: Store) -> None:
    a0 = Feed(store, "n0")
    a0.run(50)
    now = a0.t + 60
    eng = OutlookEngine(store, clock=lambda: now)
    eng.step()
    assert eng.forecaster.running_ages["A0"] == pytest.approx(50 * HOUR, abs=HOUR)
    store.delete_asset("A0")
    eng.step()
    assert "A0" not in eng.forecaster.running_ages
