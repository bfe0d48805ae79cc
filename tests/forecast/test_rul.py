from __future__ import annotations

import io
import json
import math
from contextlib import redirect_stdout

import numpy as np
import pytest

from gateway.forecast import rul_cli
from gateway.forecast.prior import FleetPrior, fit_fleet_prior
from gateway.forecast.pronostia import prior_from_runs, read_dir, shared_data_dir
from gateway.forecast.rul import PartBatch, PartHistory, forecast_many, forecast_part
from gateway.forecast.usage import UsageModel

DATA = shared_data_dir("pronostia")
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="PRONOSTIA data not present")


def _flat(n: int, level: float = 0.5, seed: int = 0) -> PartHistory:
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64) * 10.0
    return PartHistory(t, {"rms_h": level * rng.lognormal(0, 0.05, n)})


def test_not_enough_data_without_prior() -> None:
    fc = forecast_part(_flat(20))
    assert fc.status == "not_enough_data"
    assert fc.p50_s is None


def test_usage_only_gives_rated_life_distribution() -> None:
    fc = forecast_part(_flat(300), usage=UsageModel(rated_l10_h=1.0))
    assert fc.status == "healthy_no_trend" and fc.method == "rated_life"
    assert fc.p10_s is not None and fc.p50_s is not None and fc.p90_s is not None
    assert 0 <= fc.p10_s <= fc.p50_s <= fc.p90_s
    # 300 points of 10 s = 0.83 h of a 1 h L10: little left at the 10% quantile.
    assert fc.p10_s < 3600.0


def _rising(n: int, tau: float = 1500.0) -> PartHistory:
    # Flat at 0.5 until 1500 s, then HI rises 1/tau per running second on both channels.
    t = np.arange(n, dtype=np.float64) * 10.0
    level = 0.5 * np.exp(np.maximum(t - 1500.0, 0) / tau)
    return PartHistory(t, {"rms_h": level, "rms_v": level})


def test_rising_trend_without_fleet_extrapolates() -> None:
    fc = forecast_part(_rising(600, tau=4000.0))
    assert fc.status == "degrading" and fc.method == "trend_exp"
    # HI ~1.0, under the fail level ln 5 ~ 1.61: the median is (ln 5 - HI) * 4000 s away.
    assert fc.p50_s is not None and fc.health_index < math.log(5.0)
    assert fc.p50_s == pytest.approx((math.log(5.0) - fc.health_index) * 4000.0, rel=0.1)


def test_past_fail_level_without_fleet_runs_gives_no_figure() -> None:
    # HI ~2.7, past ln 5 while the part still runs: the assumed end-of-life level is outrun and
    # no failed fleet run says when it fails. Before, the trend said "0 s left" and dominated
    # the blend with the rated life (a few minutes P50); the rated life or the fleet's ages
    # must not answer either.
    h = _rising(600)
    lives = fit_fleet_prior([20000.0, 26000.0, 31000.0])  # completed lives, no runs
    assert lives.n_runs == 0
    for prior, usage in ((None, None), (None, UsageModel(rated_l10_h=10.0)), (lives, None)):
        fc = forecast_part(h, prior, usage)
        assert fc.health_index >= math.log(5.0)
        assert fc.status == "degrading" and fc.method == "past_fail_level"
        assert fc.p10_s is None and fc.p50_s is None and fc.p90_s is None
        assert fc.quantiles == () and fc.point_s is None
    # A warned part with fleet warning-to-failure leads keeps its lead-time forecast.
    leads = fit_fleet_prior([20000.0, 26000.0], warning_leads_s=[3000.0, 4000.0])
    warned = forecast_part(PartHistory(h.t_running_s, h.features, warned_at_s=5000.0), leads)
    assert warned.method.startswith("warning_lead") and warned.p50_s is not None


def test_prior_state_round_trip_and_many_matches_single() -> None:
    rng = np.random.default_rng(3)
    prior = fit_fleet_prior(list(rng.weibull(1.5, 30) * 5000.0))
    again = FleetPrior.from_state(json.loads(json.dumps(prior.to_state())))
    parts = [_flat(n, seed=n) for n in (100, 200, 200, 350)]
    many = forecast_many(parts, again)
    for i, h in enumerate(parts):
        one = forecast_part(h, prior)
        assert one.p50_s == pytest.approx(many.forecast(i).p50_s)
    batch = forecast_many(PartBatch(np.stack([parts[1].t_running_s] * 2),
                                    {"rms_h": np.stack([parts[1].features["rms_h"]] * 2)}),
                          prior)  # fmt: skip
    assert batch.p50_s[0] == pytest.approx(many.p50_s[1])
    # Older parts have less left under a wear-out (shape > 1) prior.
    assert many.p50_s[3] < many.p50_s[0]


@needs_data
def test_cli_on_a_learning_bearing() -> None:
    f = DATA / "learning" / "Bearing2_2.csv"
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = rul_cli.main([str(f), "--history-dir", str(DATA / "learning"), "--json"])
    assert rc == 0
    out = json.loads(buf.getvalue())
    for key in ("rul_p10_s", "rul_p50_s", "rul_p90_s", "status", "method"):
        assert key in out
    assert out["history_runs"] == 5  # the file itself is excluded
    assert 0 <= out["rul_p10_s"] <= out["rul_p50_s"] <= out["rul_p90_s"]


@needs_data
def test_cli_reports_a_missing_file() -> None:
    assert rul_cli.main(["/nonexistent.csv", "--json"]) == 2


@needs_data
def test_leave_one_out_truth_inside_p10_p90() -> None:
    runs = read_dir(DATA / "learning")
    held = next(r for r in runs if r.name == "Bearing2_1")
    prior = prior_from_runs([r for r in runs if r is not held])
    n = int(0.5 * held.t_s.size)
    fc = forecast_part(held.history(n), prior)
    truth = held.last_t_s - float(held.t_s[n - 1])
    assert fc.p10_s is not None and fc.p90_s is not None
    assert fc.p10_s <= truth <= fc.p90_s
