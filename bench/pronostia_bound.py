"""PRONOSTIA ceiling analysis (NOT a model, NOT used by the gateway): it reads the test truths.

    .venv/bin/python -m bench.pronostia_bound [--data-dir DIR]

Question it answers: could any better-learned fleet prior reach the 2012 winning score with the
evidence a node gives? It runs the gateway's own forecast code on the 11 test bearings with the
fleet prior's Weibull replaced by every (shape, scale) on a grid, scores each against the
published truths and prints the best. Choosing the prior on the test truths is cheating on
purpose: the result is a ceiling for every honest way of learning that prior (any smarter fit,
more lives of the same kind, a Bayesian treatment...). It is printed beside the scales of
the six learning lives so the reader can see how far from them the ceiling's prior sits.

A second ceiling keeps the prior learned from the learning runs and instead picks, again on the
test truths, every knob of the trend side (onset, persistence, block size, channel weights,
blend weight, spread floor) and the scored quantile: the best that any re-tuning of the
degradation model could do with an honest prior.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.pronostia import DEFAULT_DATA, TEST_TRUTH_S, score
from gateway.forecast.model import F64, ModelParams
from gateway.forecast.pronostia import BearingRun, prior_from_runs, read_dir
from gateway.forecast.rul import PartHistory, forecast_many
from gateway.forecast.weibull import Weibull

WINNER_2012 = 0.3066
SHAPES = (0.8, 1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0)
SCALES_S = tuple(float(s) for s in np.geomspace(500.0, 80_000.0, 80))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args(argv)
    p = ModelParams()
    learn = read_dir(args.data_dir / "learning")
    test = read_dir(args.data_dir / "test")
    honest = prior_from_runs(learn, p)
    histories = [r.history() for r in test]
    truth = np.array([TEST_TRUTH_S[r.name] for r in test], dtype=np.float64)

    def test_score(
        prior_shape: float, prior_scale: float, trend: bool
    ) -> tuple[float, list[float]]:
        prior = replace(honest, weibull=Weibull(prior_shape, prior_scale))
        if not trend:  # age only: no failed-run table, so no level matching
            prior = replace(prior, rul_table=np.zeros((0, prior.levels.size)))
        batch = forecast_many(histories, prior, params=p)
        pts = np.nan_to_num(batch.point_s)
        each = [score(a, float(x)) for a, x in zip(truth, pts, strict=True)]
        return float(np.mean(each)), each

    assert honest.weibull is not None
    out: dict[str, object] = {
        "learning_lives_scaled_s": sorted(round(r.last_t_s / r.life_factor) for r in learn),
        "honest_prior": {"shape": round(honest.weibull.shape, 3),
                         "scale_s": round(honest.weibull.scale),
                         "test_score": round(test_score(honest.weibull.shape,
                                                        honest.weibull.scale, True)[0], 4)},
    }  # fmt: skip
    for label, trend in (("ceiling_full_model", True), ("ceiling_age_only", False)):
        grid = [(test_score(k, s, trend), k, s) for k in SHAPES for s in SCALES_S]
        (value, each), k, s = max(grid, key=lambda x: x[0][0])
        # Mean life of the longest-lived prior that would still beat the winner.
        over = [w.scale * math.gamma(1 + 1 / w.shape) for (v, _), kk, ss in grid
                if v > WINNER_2012 for w in [Weibull(kk, ss)]]  # fmt: skip
        out[label] = {
            "test_score": round(value, 4),
            "shape": k,
            "scale_s": round(s),
            "mean_life_s": round(s * math.gamma(1 + 1 / k)),
            "longest_mean_life_beating_winner_s": round(max(over)) if over else None,
            "per_bearing": {r.name: round(a, 3) for r, a in zip(test, each, strict=True)},
        }
    out["ceiling_knobs_honest_prior"] = knob_ceiling(learn, histories, truth, test)
    out["winner_2012"] = WINNER_2012
    print(json.dumps(out, indent=1))
    return 0


KNOBS = {
    "onset": tuple(math.log(x) for x in (1.2, 1.4, 1.6, 2.0)),
    "persist_blocks": (1, 2, 3),
    "block": (10, 30),
    "peak_weight": (0.0, 1.0),
    "kurt_weight": (0.0, 0.5, 1.0),
    "prior_weight": (0.0, 0.25, 0.5, 1.0, 2.0),
    "sigma_floor": (0.25, 0.5, 1.0),
}
QUANTILES = (None, 0.05, 0.1, 0.2, 0.3, 0.5)  # None = the score-optimal point_s


def knob_ceiling(
    learn: list[BearingRun], histories: list[PartHistory], truth: F64, test: list[BearingRun]
) -> dict[str, object]:
    """Honest prior; trend knobs and scored quantile picked on the test truths."""
    best: tuple[float, dict[str, object], list[float]] = (-1.0, {}, [])
    names = list(KNOBS)
    for values in itertools.product(*(KNOBS[n] for n in names)):
        knobs = dict(zip(names, values, strict=True))
        p = ModelParams.from_state(knobs)
        batch = forecast_many(histories, prior_from_runs(learn, p), params=p)
        for q in QUANTILES:
            if q is None:
                pts = np.nan_to_num(batch.point_s)
            else:
                pts = np.array([np.interp(q, batch.q, row) for row in batch.quantiles])
            each = [score(a, float(x)) for a, x in zip(truth, pts, strict=True)]
            m = float(np.mean(each))
            if m > best[0]:
                best = (m, {**knobs, "scored_quantile": q}, each)
    value, chosen, each = best
    return {
        "test_score": round(value, 4),
        "knobs": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in chosen.items()},
        "per_bearing": {r.name: round(a, 3) for r, a in zip(test, each, strict=True)},
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
