"""A forecast that knows its limits (issue 14): small-sample shape, history that does not fit,
time-based blocks."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from gateway.forecast import ModelParams, PartHistory, UsageModel, fit_fleet_prior, forecast_part
from gateway.forecast.model import for_cadence
from gateway.forecast.prior import FleetPrior
from gateway.forecast.weibull import PRIOR_SHAPE, fit_weibull_prior


def _quiet(hours: float, cadence_s: float, seed: int = 0) -> PartHistory:
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, hours * 3600.0, cadence_s)
    return PartHistory(t, {"rms_h": 0.1 * rng.lognormal(0, 0.05, t.size)})


def test_shape_moves_smoothly_from_the_prior_and_never_below_one() -> None:
    # Lives from issue 14: with 3-4 failures the old correction gave shape 0.61.
    lives = [100.0, 180.0, 260.0, 340.0]
    shapes = [fit_weibull_prior(lives[:r]).shape for r in (1, 2, 3, 4)]
    assert shapes[0] == pytest.approx(PRIOR_SHAPE) and shapes[1] == pytest.approx(PRIOR_SHAPE)
    assert all(k >= 1.0 for k in shapes)
    # No jump at the third failure: it moves the shape less than halfway from the prior.
    assert abs(np.log(shapes[2] / shapes[1])) < 0.5 * abs(np.log(PRIOR_SHAPE))


def test_one_failure_and_survivors_give_a_prior() -> None:
    prior = fit_fleet_prior([500.0, 500.0, 500.0], censored=[False, True, True])
    assert prior.weibull is not None and prior.weibull.shape == pytest.approx(PRIOR_SHAPE)
    # Censored units count: the scale is above the one failure.
    assert prior.weibull.scale > 500.0


def test_older_quiet_part_never_gets_more_life() -> None:
    prior = fit_fleet_prior([8e4, 1.5e5, 2.2e5, 3e5])
    p50 = [forecast_part(_quiet(h, 600.0), prior).p50_s or 0.0 for h in (20, 40, 60, 80)]
    assert p50[-1] > 0
    assert all(a > b for a, b in itertools.pairwise(p50))


def test_older_than_every_recorded_life_says_history_does_not_fit() -> None:
    # Fleet lives of about 2-8 h; a quiet part at 80 h must not get "0.3 h left".
    prior = fit_fleet_prior([7200.0, 15000.0, 28000.0])
    fc = forecast_part(_quiet(80, 600.0), prior)
    assert fc.status == "history_does_not_fit"
    assert fc.p50_s is None  # not enough evidence, said plainly
    fc2 = forecast_part(_quiet(80, 600.0), prior, UsageModel(rated_l10_h=5000.0))
    assert fc2.status == "history_does_not_fit" and fc2.method == "rated_life"
    assert fc2.p10_s is not None and fc2.p10_s > 100 * 3600.0
    # Inside the history it is answered from the fleet as before.
    assert forecast_part(_quiet(2, 10.0), prior).status == "healthy_no_trend"


def test_another_machine_type_does_not_fit() -> None:
    prior = fit_fleet_prior([7e5, 9e5, 1.2e6], machine_type="pump")
    h = _quiet(20, 600.0)
    same = PartHistory(h.t_running_s, h.features, machine_type="pump")
    other = PartHistory(h.t_running_s, h.features, machine_type="fan")
    assert forecast_part(same, prior).status == "healthy_no_trend"
    assert forecast_part(other, prior).status == "history_does_not_fit"


def test_blocks_are_running_time_not_points() -> None:
    p = ModelParams()
    assert for_cadence(p, 10.0).block == 30  # 5 min at 10 s
    assert for_cadence(p, 600.0).block == p.block_min_points  # not 30 x 10 min = 5 h
    assert for_cadence(p, 60.0).block == 5


def test_warned_part_is_forecast_from_the_fleets_lead_times() -> None:
    # Fleet: lives around 300 h; warned parts ran 40-80 h after their warning.
    prior = fit_fleet_prior(
        [2.9e5 * 3.6, 3.1e5 * 3.6, 3.3e5 * 3.6], warning_leads_s=[40 * 3600.0, 80 * 3600.0]
    )
    h = _quiet(100, 600.0)
    plain = forecast_part(h, prior)
    warned = forecast_part(PartHistory(h.t_running_s, h.features, warned_at_s=90 * 3600.0), prior)
    assert warned.method == "warning_lead+fleet_prior" and warned.status == "degrading"
    assert warned.p50_s is not None and plain.p50_s is not None
    assert warned.p50_s < 0.5 * plain.p50_s
    # Outlived every lead: the warning says nothing more; the forecast is the plain one.
    late = PartHistory(h.t_running_s, h.features, warned_at_s=10 * 3600.0)
    assert forecast_part(late, prior).p50_s == pytest.approx(plain.p50_s)
    # The leads travel with the prior's state.
    again = FleetPrior.from_state(json.loads(json.dumps(prior.to_state())))
    assert list(again.warning_leads_s) == [40 * 3600.0, 80 * 3600.0]


def _run(hours: float, level: float, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A run to failure at 10 s readings: quiet at `level` g, rising over its last 10 %."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, hours * 3600.0, 10.0)
    rise = np.exp(np.clip(t / t[-1] - 0.9, 0, None) * 20)
    return t, {"rms_h": level * rise * rng.lognormal(0, 0.05, t.size)}


def test_levels_the_fleet_never_had_say_history_does_not_fit() -> None:
    runs = [_run(h, lv, i) for i, (h, lv) in enumerate([(2.0, 0.4), (3.0, 0.5), (4.0, 0.6)])]
    prior = fit_fleet_prior([float(t[-1]) for t, _ in runs], runs=runs)
    assert prior.level_lo == pytest.approx(0.4, rel=0.1)
    assert prior.level_hi == pytest.approx(0.6, rel=0.1)
    t = np.arange(0.0, 1.0 * 3600.0, 10.0)
    noise = np.random.default_rng(9).lognormal(0, 0.05, t.size)
    like = forecast_part(PartHistory(t, {"rms_h": 0.5 * noise}), prior)
    assert like.status == "healthy_no_trend" and like.p50_s is not None
    # A quiet bearing 6x quieter than any fleet run (another rig: IMS against PRONOSTIA).
    quiet = forecast_part(PartHistory(t, {"rms_h": 0.08 * noise}), prior)
    assert quiet.status == "history_does_not_fit" and quiet.p50_s is None
    rated = forecast_part(PartHistory(t, {"rms_h": 0.08 * noise}), prior, UsageModel(5000.0))
    assert rated.method == "rated_life" and (rated.p10_s or 0) > 100 * 3600.0
    # The range travels with the prior's state.
    again = FleetPrior.from_state(json.loads(json.dumps(prior.to_state())))
    assert (again.level_lo, again.level_hi) == (prior.level_lo, prior.level_hi)
