"""Early warnings (issue 14): time-based baseline and blocks, machine mates, latch, reasons."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.forecast.early_warning import (
    MachineWarnings,
    WarningOutcome,
    WarningParams,
    readings_from_features,
    tune_warning_params,
    warn_run,
)

H = 3600.0


def _bearing(t: np.ndarray, rise_at_h: float | None, seed: int, kurt_jump: float = 0.0) -> dict:
    rng = np.random.default_rng(seed)
    n = t.size
    grow = np.ones(n) if rise_at_h is None else np.exp(np.maximum(t / H - rise_at_h, 0) / 10.0)
    kurt = 0.2 + rng.normal(0, 0.05, n)
    if rise_at_h is not None:
        kurt = kurt + kurt_jump * (t / H > rise_at_h)
    rms = 0.1 * grow * rng.lognormal(0, 0.05, n)
    return {"rms_h": rms, "peak_h": 4.0 * rms, "kurt_h": kurt}


def test_one_bearing_rising_warns_with_a_reason_and_latches() -> None:
    t = np.arange(0, 200 * H, 600.0)
    feats = {"B1": _bearing(t, 100.0, 1), "B2": _bearing(t, None, 2)}
    mw = warn_run(t, feats, WarningParams())
    w = mw.warning("B1")
    assert w is not None and mw.warning("B2") is None
    # RMS doubles 10 ln 2 = 6.9 h after the rise; then 6 h held.
    assert 100 * H < w.t_running_s < 120 * H
    assert "its baseline" in w.reason and "running hours" in w.reason
    # Latched: quiet readings afterwards do not clear it.
    mw.update(t[-1] + 600.0, {"B1": {"rms": 0.1, "peak": 0.4, "kurtosis": 3.2}, "B2": {}})
    assert mw.warning("B1") is w


def test_kurtosis_warns_before_the_rms_moves() -> None:
    t = np.arange(0, 100 * H, 600.0)
    f = _bearing(t, None, 3)
    f["kurt_h"] = np.where(t > 50 * H, 4.0, f["kurt_h"])  # impacts: kurtosis 3.2 -> 7
    w = warn_run(t, {"B": f}).warning("B")
    assert w is not None and w.channel == "kurtosis"
    assert "kurtosis 2.2x its baseline" in w.reason
    assert 55.5 * H <= w.t_running_s <= 57 * H  # 6 h held from the rise at 50 h


def test_rise_shared_by_every_bearing_is_the_machine_not_a_bearing() -> None:
    t = np.arange(0, 200 * H, 600.0)
    feats = {f"B{i}": _bearing(t, 100.0, i) for i in range(4)}
    mw = warn_run(t, feats)
    assert all(mw.warning(p) is None for p in feats)
    assert any(ch == "rms" for _, ch, _ in mw.machine_excursions)
    # The same rise on a machine with one monitored position is a warning.
    assert warn_run(t, {"B0": feats["B0"]}).warning("B0") is not None


def test_baseline_and_hold_are_running_time_whatever_the_cadence() -> None:
    times = []
    for cadence in (60.0, 600.0):
        t = np.arange(0, 200 * H, cadence)
        w = warn_run(t, {"B": _bearing(t, 100.0, 5)}).warning("B")
        assert w is not None
        times.append(w.t_running_s)
    assert abs(times[0] - times[1]) < 2 * H


def test_spike_and_short_excursion_do_not_warn() -> None:
    t = np.arange(0, 100 * H, 600.0)
    f = _bearing(t, None, 6)
    f["rms_h"] = np.where((t > 50 * H) & (t < 53 * H), 0.5, f["rms_h"])  # 3 h at 5x
    f["peak_h"] = 4.0 * f["rms_h"]
    assert warn_run(t, {"B": f}).warning("B") is None


def test_temperature_rise_over_ambient() -> None:
    p = WarningParams()
    mw = MachineWarnings(["B"], p)
    t = 0.0
    for i in range(24 * 12):  # one reading every 5 min for a day: the baseline
        t = i * 300.0
        mw.update(t, {"B": readings_from_features({"rms_x": 0.1, "temp_c": 40.0, "ambient_c": 20})})
    raised = []
    for i in range(1, 12 * 12):  # the room warms by 15 degC: not the bearing
        raised += mw.update(t + i * 300.0, {"B": readings_from_features(
            {"rms_x": 0.1, "temp_c": 55.0, "ambient_c": 35.0})})  # fmt: skip
    assert not raised
    t += 12 * H
    for i in range(1, 12 * 12):  # the bearing runs 20 degC hotter than the room allows
        raised += mw.update(t + i * 300.0, {"B": readings_from_features(
            {"rms_x": 0.1, "temp_c": 60.0, "ambient_c": 20.0})})  # fmt: skip
    assert len(raised) == 1 and raised[0].channel == "temp"
    assert raised[0].reason.startswith("temperature 20 degC over its baseline")


def test_reset_after_replacement_relearns() -> None:
    t = np.arange(0, 200 * H, 600.0)
    mw = warn_run(t, {"B": _bearing(t, 100.0, 7)})
    assert mw.warning("B") is not None
    mw.reset("B")
    assert mw.warning("B") is None and mw.state["B"].baseline is None


def test_state_round_trip_resumes_identically() -> None:
    import json

    t = np.arange(0, 200 * H, 600.0)
    feats = {"B1": _bearing(t, 100.0, 11), "B2": _bearing(t, None, 12)}
    whole = warn_run(t, feats)
    half = t.size // 2
    first = warn_run(t[:half], {p: {k: v[:half] for k, v in f.items()} for p, f in feats.items()})
    again = MachineWarnings.from_state(json.loads(json.dumps(first.to_state())))
    for i in range(half, t.size):
        again.update(float(t[i]), {p: readings_from_features({k: float(v[i]) for k, v in f.items()})
                                   for p, f in feats.items()})  # fmt: skip
    w1, w2 = whole.warning("B1"), again.warning("B1")
    assert w1 is not None and w2 is not None and w1 == w2


def test_false_warnings_raise_a_groups_threshold_but_not_past_a_confirmed_defect() -> None:
    p = WarningParams()
    tuned, notes = tune_warning_params(p, [WarningOutcome("kurtosis", 1.8, False)])
    assert tuned.kurt_ratio == pytest.approx(1.98) and tuned.level_ratio == p.level_ratio
    assert notes and "found false reached 1.8" in notes[0]
    capped, notes = tune_warning_params(
        p, [WarningOutcome("kurtosis", 1.8, False), WarningOutcome("kurtosis", 1.7, True)]
    )
    assert capped.kurt_ratio == pytest.approx(1.7) and "capped" in notes[0]
    same, notes = tune_warning_params(p, [WarningOutcome("rms", 3.0, True)])
    assert same == p and notes == []
    # A retuned group no longer warns on the false case.
    t = np.arange(0, 100 * H, 600.0)
    f = _bearing(t, None, 3)
    f["kurt_h"] = np.where(t > 50 * H, 1.8 * 3.2 - 3.0, f["kurt_h"])  # kurtosis 1.8x
    assert warn_run(t, {"B": f}, p).warning("B") is not None
    assert warn_run(t, {"B": f}, tuned).warning("B") is None
