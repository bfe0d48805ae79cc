from __future__ import annotations

import json

import numpy as np
import pytest

from gateway.forecast.decision import score_a, score_optimal_point
from gateway.forecast.lifekernel import km_weights, residual_table, survival
from gateway.forecast.model import ModelParams, Q
from gateway.forecast.predictor import Z
from gateway.forecast.prior import FleetPrior, fit_fleet_prior
from gateway.forecast.rul import PartHistory, forecast_part
from gateway.forecast.usage import iso281_life_factor


def _flat(n: int, factor: float = 1.0) -> PartHistory:
    rng = np.random.default_rng(n)
    t = np.arange(n, dtype=np.float64) * 10.0
    return PartHistory(t, {"rms_h": 0.5 * rng.lognormal(0, 0.05, n)}, "p", factor)


def test_score_a_matches_the_challenge_definition() -> None:
    assert score_a(np.array(100.0), np.array(100.0)) == pytest.approx(1.0)
    assert score_a(np.array(100.0), np.array(80.0)) == pytest.approx(0.5)  # 20 % early
    assert score_a(np.array(100.0), np.array(105.0)) == pytest.approx(0.5)  # 5 % late
    assert float(score_a(np.array(1.0), np.array(1e6))) == 0.0  # no overflow warning


def test_score_optimal_point_is_early_and_scale_free() -> None:
    z = Z  # normal scores of the forecast grid
    narrow = 1000.0 * np.exp(0.1 * z)[None, :]
    wide = 1000.0 * np.exp(0.8 * z)[None, :]
    pn, pw = score_optimal_point(np.vstack([narrow, wide]))
    assert pw < pn < 1000.0  # below the median, further below when uncertain
    assert score_optimal_point(10 * wide)[0] == pytest.approx(10 * pw, rel=1e-9)
    assert np.isnan(score_optimal_point(np.full((1, 19), np.nan))[0])


def test_iso281_life_factor() -> None:
    assert iso281_life_factor(1800, 4000, 1800, 4000) == pytest.approx(1.0)
    assert iso281_life_factor(1800, 2000, 1800, 4000) == pytest.approx(8.0)
    assert iso281_life_factor(1500, 5000, 1800, 4000) == pytest.approx(0.6144)


def test_km_weights_hand_censored_weight_to_longer_lives() -> None:
    atoms, w = km_weights(np.array([1.0, 2.0, 3.0, 4.0]), np.array([False, True, False, False]))
    assert atoms.tolist() == [1.0, 3.0, 4.0]
    assert w.tolist() == pytest.approx([0.25, 0.375, 0.375])


def test_kernel_residual_table_is_ordered_and_conditional() -> None:
    atoms, w = np.array([1000.0, 1100.0, 5000.0]), np.full(3, 1 / 3)
    ages, table = residual_table(atoms, w, 0.1, Q)
    ok = np.all(np.isfinite(table), axis=1)
    assert np.all(np.diff(table[ok], axis=1) >= 0)
    # Past the short cluster only the 5000 s part is left: the median residual is about 5000 - a.
    i = int(np.searchsorted(ages, 2000.0))
    assert table[i, 9] == pytest.approx(5000.0 - ages[i], rel=0.1)
    assert survival(np.array([0.0]), atoms, w, 0.1)[0] == pytest.approx(1.0)


def test_kernel_prior_round_trips_and_life_factor_scales_time() -> None:
    lives = [8000.0, 9000.0, 8500.0, 26000.0, 28000.0]
    prior = fit_fleet_prior(lives, params=ModelParams(life_kernel=0.1))
    assert prior.kernel_table.size
    again = FleetPrior.from_state(json.loads(json.dumps(prior.to_state())))
    one = forecast_part(_flat(400), again)
    assert one.p50_s == pytest.approx(forecast_part(_flat(400), prior).p50_s)
    assert one.point_s is not None and one.p10_s is not None and one.p50_s is not None
    assert one.point_s < one.p50_s
    assert "rul_point_s" in one.to_dict()
    # A part at twice the reference life, at twice the age, has twice the remaining life.
    t = np.arange(800, dtype=np.float64) * 10.0
    slow = PartHistory(t, {"rms_h": np.full(800, 0.5)}, "s", 2.0)
    ref = PartHistory(t[:400], {"rms_h": np.full(400, 0.5)}, "r", 1.0)
    a, b = forecast_part(slow, prior), forecast_part(ref, prior)
    assert a.p50_s == pytest.approx(2 * (b.p50_s or 0.0), rel=0.02)
    weib = fit_fleet_prior(lives)  # the default is the Weibull prior alone
    assert weib.kernel_table.size == 0
