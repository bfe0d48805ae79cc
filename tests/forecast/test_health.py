from __future__ import annotations

import json

import pytest

from gateway.forecast.health import AlarmMachine, Baseline, ChangeDetector, zone, zone_limits


@pytest.mark.parametrize(
    ("machine", "limits"),
    [
        ("group1_rigid", (2.3, 4.5, 7.1)),
        ("group1_flexible", (3.5, 7.1, 11.0)),
        ("group2_rigid", (1.4, 2.8, 4.5)),
        ("group2_flexible", (2.3, 4.5, 7.1)),
        ("class_I", (0.71, 1.8, 4.5)),
        ("class_II", (1.12, 2.8, 7.1)),
        ("class_III", (1.8, 4.5, 11.2)),
        ("class_IV", (2.8, 7.1, 18.0)),
    ],
)
def test_zone_at_known_limits(machine: str, limits: tuple[float, float, float]) -> None:
    assert zone_limits(machine) == limits
    ab, bc, cd = limits
    assert zone(0.0, machine) == "A"
    assert zone(ab, machine) == "A"  # a boundary value belongs to the lower zone
    assert zone(ab * 1.001, machine) == "B"
    assert zone(bc, machine) == "B"
    assert zone(bc * 1.001, machine) == "C"
    assert zone(cd, machine) == "C"
    assert zone(cd * 1.001, machine) == "D"


def test_zone_override_per_asset() -> None:
    assert zone(3.0, "group2_rigid") == "C"
    assert zone(3.0, "group2_rigid", {"group2_rigid": (2.0, 3.5, 6.0)}) == "B"
    with pytest.raises(ValueError):
        zone(1.0, "x", {"x": (3.0, 2.0, 1.0)})


def _learned(n: int = 50) -> Baseline:
    b = Baseline(n_learn=n)
    for i in range(n):
        assert b.update(1.0 + 0.01 * ((i * 7) % 11 - 5)) is None
    assert b.ready
    return b


def test_baseline_robust_to_outliers_in_learning() -> None:
    b = Baseline(n_learn=21)
    for i in range(20):
        b.update(1.0 + 0.01 * (i % 3))
    b.update(1000.0)  # one wild point in the learning period
    assert b.median == pytest.approx(1.01, abs=0.011)
    assert b.z(1.01) == pytest.approx(0.0, abs=1.5)


def test_spike_is_not_persistent_but_a_step_is() -> None:
    b = _learned()
    cd = ChangeDetector()
    kinds = [cd.update(b.z(x)) for x in [1.0] * 10 + [50.0] + [1.0] * 20]
    assert "spike" in kinds
    assert "persistent" not in kinds
    kinds = [cd.update(b.z(x)) for x in [1.3] * 10]
    # Each clipped point adds at most 2.5 to the CUSUM: three high points are not yet enough.
    assert kinds[:3] == ["spike"] * 3
    assert kinds[3:] == ["persistent"] * 7


def test_hysteresis_enters_at_once_and_clears_after_m_points() -> None:
    m = AlarmMachine(enter=(4.5, 7.1), clear=(4.0, 6.4), clear_after=3)
    seq = [1.0, 4.6, 4.3, 4.4, 4.2, 3.9, 4.4, 3.9, 3.8, 3.7, 3.0]
    states = [m.update(float(t), v) for t, v in enumerate(seq)]
    # 4.3-4.4 is between clear and enter: stays in alert; the interrupted run does not count.
    assert states == ["normal", "alert", "alert", "alert", "alert", "alert", "alert",
                      "alert", "alert", "normal", "normal"]  # fmt: skip
    assert [(h[0], h[1], h[2]) for h in m.history] == [
        (1.0, "normal", "alert"),
        (9.0, "alert", "normal"),
    ]
    m.update(20.0, 8.0)
    assert m.state == "danger"
    assert m.history[-1][1:3] == ("normal", "danger")


def test_state_round_trip_through_json() -> None:
    b = _learned()
    cd = ChangeDetector()
    cd.update(2.5)
    m = AlarmMachine.for_zones(zone_limits("group2_rigid"))
    m.update(0.0, 3.0)
    b2 = Baseline.from_state(json.loads(json.dumps(b.to_state())))
    cd2 = ChangeDetector.from_state(json.loads(json.dumps(cd.to_state())))
    m2 = AlarmMachine.from_state(json.loads(json.dumps(m.to_state())))
    assert b2.z(1.2) == b.z(1.2)
    assert cd2.s == cd.s
    assert m2.state == "alert" and m2.history == m.history
    half = Baseline(n_learn=10)
    half.update(1.0)
    assert Baseline.from_state(half.to_state()).to_state() == half.to_state()


def test_a_reading_at_a_zone_limit_raises_no_alert_for_the_zone_it_is_in() -> None:
    # 4.50 mm/s on a group 1 rigid machine is zone B (limits are maxima); the page said
    # "Vibration alert level: 4.50 mm/s (zone B)" when the alert entered at the limit itself.
    limits = zone_limits("group1_rigid")
    m = AlarmMachine.for_zones(limits)
    assert zone(4.5, "group1_rigid") == "B" and m.update(0.0, 4.5) == "normal"
    assert zone(4.51, "group1_rigid") == "C" and m.update(1.0, 4.51) == "alert"
    assert zone(7.1, "group1_rigid") == "C" and m.update(2.0, 7.1) == "alert"
    assert m.update(3.0, 7.11) == "danger"
