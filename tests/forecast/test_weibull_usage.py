from __future__ import annotations

import numpy as np
import pytest

from gateway.forecast.usage import ROLLER, UsageModel, life_ratio
from gateway.forecast.weibull import Weibull, fit_weibull


def test_mle_recovers_parameters_uncensored() -> None:
    rng = np.random.default_rng(0)
    lives = 1000.0 * rng.weibull(2.0, 4000)
    w = fit_weibull(lives)
    assert w.shape == pytest.approx(2.0, rel=0.05)
    assert w.scale == pytest.approx(1000.0, rel=0.03)


def test_mle_recovers_parameters_with_right_censoring() -> None:
    rng = np.random.default_rng(1)
    true = 5000.0 * rng.weibull(1.5, 4000)
    stop = rng.uniform(0, 8000, true.size)  # parts replaced or still running
    censored = stop < true
    obs = np.where(censored, stop, true)
    assert 0.3 < censored.mean() < 0.7
    w = fit_weibull(obs, censored)
    assert w.shape == pytest.approx(1.5, rel=0.07)
    assert w.scale == pytest.approx(5000.0, rel=0.05)
    naive = fit_weibull(obs[~censored])  # ignoring censoring is badly biased low
    assert naive.scale < 0.8 * 5000.0


def test_fit_rejects_too_few_failures() -> None:
    with pytest.raises(ValueError):
        fit_weibull([10.0, 20.0], [False, True])


def test_l10_and_residual_life() -> None:
    w = Weibull.from_l10(1000.0, 1.5)
    assert float(w.quantile(0.1)) == pytest.approx(1000.0)
    assert float(w.survival(1000.0)) == pytest.approx(0.9)
    # Residual quantile at age 0 is the plain quantile; older parts have less left (shape > 1).
    assert float(w.residual_quantile(0.0, 0.5)) == pytest.approx(float(w.quantile(0.5)))
    assert float(w.residual_quantile(3000.0, 0.5)) < float(w.quantile(0.5))
    # Exponential (shape 1) has no memory.
    e = Weibull(1.0, 100.0)
    assert float(e.residual_quantile(500.0, 0.5)) == pytest.approx(100.0 * np.log(2.0))


def test_load_life_law() -> None:
    assert life_ratio(0.5) == pytest.approx(8.0)  # ball bearing, p = 3
    assert life_ratio(0.5, ROLLER) == pytest.approx(2 ** (10 / 3))
    u = UsageModel(rated_l10_h=10_000.0, reference_load=2.0)
    t = np.arange(0.0, 3601.0 * 10, 3600.0)[:11]  # 10 running hours
    half = np.full(t.size, 1.0)  # half the reference load
    full = np.full(t.size, 2.0)
    assert float(u.consumed_hours(t, full)) == pytest.approx(10.0)
    assert float(u.consumed_hours(t, half)) == pytest.approx(10.0 / 8.0)
    assert float(u.consumed_fraction(t, full)) == pytest.approx(1e-3)
    # Remaining running time at half load is 8x that at full load for the same consumed life.
    q = np.array([0.1, 0.5])
    r_full = u.remaining_running_s(np.array([0.0]), np.array([1.0]), q)
    r_half = u.remaining_running_s(np.array([0.0]), np.array([1 / 8]), q)
    assert r_full[0, 0] == pytest.approx(10_000.0 * 3600.0)
    assert r_half[0, 0] == pytest.approx(8 * r_full[0, 0])
