"""PRONOSTIA benchmark: leave-one-out on the 6 learning runs, then the 11 challenge test runs.

    .venv/bin/python -m bench.pronostia [--data-dir DIR] [--quantile Q] [--no-condition]
                                        [--dense] [--loo-only]

--loo-only skips the test section entirely (no test forecast is made, no test score printed):
use it while developing, so that method choices are made on the leave-one-out alone.

The scored number is each forecast's point_s (the point maximising the expected challenge
score under the forecast distribution), unless --quantile is given.
Tuning (block size, onset, ...) is done ONLY on the learning-set leave-one-out.
The published test RULs below are used ONLY to score the test predictions, never to fit or tune.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from gateway.forecast.model import ModelParams
from gateway.forecast.pronostia import BearingRun, prior_from_runs, read_dir, shared_data_dir
from gateway.forecast.rul import RulForecast, forecast_part

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = shared_data_dir("pronostia")
FRACTIONS = (0.3, 0.5, 0.7, 0.9)
# Repeated leave-one-out (--dense): 18 truncation points per run, 108 cases, less noisy.
DENSE_FRACTIONS = tuple(round(0.10 + 0.05 * i, 2) for i in range(18))  # 0.10 .. 0.95
# Actual RUL after the last row of each test file, as published by the challenge (seconds).
# Scoring only.
TEST_TRUTH_S = {
    "Bearing1_3": 5730, "Bearing1_4": 339, "Bearing1_5": 1610, "Bearing1_6": 1460,
    "Bearing1_7": 7570, "Bearing2_3": 7530, "Bearing2_4": 1390, "Bearing2_5": 3090,
    "Bearing2_6": 1290, "Bearing2_7": 580, "Bearing3_3": 820,
}  # fmt: skip


def score(actual: float, predicted: float) -> float:
    """PHM 2012 accuracy: late predictions (Er < 0) are penalised 4x harder than early ones."""
    er = 100.0 * (actual - predicted) / actual
    return math.exp(-math.log(0.5) * er / 5) if er <= 0 else math.exp(math.log(0.5) * er / 20)


def point(fc: RulForecast, q: float | None) -> float:
    """The scored point: quantile q, or (q None) the forecast's score-optimal point_s."""
    v = fc.point_s if q is None else fc.quantile(q)
    return 0.0 if v is None else v


def loo(
    runs: list[BearingRun],
    p: ModelParams,
    cond: bool = True,
    fractions: tuple[float, ...] = FRACTIONS,
) -> list[tuple[str, float, float, RulForecast]]:
    """(name, fraction, actual RUL, forecast) for every held-out run and truncation point."""
    rows = []
    for i, run in enumerate(runs):
        prior = prior_from_runs(runs[:i] + runs[i + 1 :], p, cond)
        life = run.last_t_s
        for f in fractions:
            n = int(np.searchsorted(run.t_s, f * life, side="right"))
            fc = forecast_part(run.history(n, cond), prior, params=p)
            rows.append((run.name, f, life - float(run.t_s[n - 1]), fc))
    return rows


def summarise(
    rows: list[tuple[str, float, float, RulForecast]], q: float | None
) -> dict[str, float]:
    scores = [score(a, point(fc, q)) for _, _, a, fc in rows]
    inside = [(fc.p10_s or 0) <= a <= (fc.p90_s or math.inf) for _, _, a, fc in rows]
    return {"score": float(np.mean(scores)), "coverage": float(np.mean(inside))}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--quantile", type=float, default=None,
                    help="score this quantile instead of the score-optimal point_s")  # fmt: skip
    ap.add_argument("--no-condition", action="store_true",
                    help="ignore the operating condition (no ISO 281 life scaling)")  # fmt: skip
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a ModelParams field (LOO experiments)")  # fmt: skip
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--dense", action="store_true",
                    help="truncate at 10 %%..95 %% of life, 5 %% steps (108 cases)")  # fmt: skip
    ap.add_argument("--loo-only", action="store_true",
                    help="leave-one-out only: skip the test bearings entirely")  # fmt: skip
    args = ap.parse_args(argv)
    p = ModelParams()
    for kv in args.set:
        key, val = kv.split("=", 1)
        p = replace(p, **{key: type(getattr(p, key))(float(val))})
    cond = not args.no_condition
    learn = read_dir(args.data_dir / "learning")

    rows = loo(learn, p, cond, DENSE_FRACTIONS if args.dense else FRACTIONS)
    grid = [round(x, 2) for x in np.arange(0.05, 0.55, 0.05)]
    by_q = {q: summarise(rows, q) for q in grid}
    q_star: float | None = args.quantile
    label = "point_s (max E[A])" if q_star is None else f"P{round(q_star * 100)}"
    if not args.quiet:
        print(f"LOO on learning runs (scored: {label})")
        print(f"{'bearing':11} {'frac':>4} {'actual_s':>8} {'p10':>7} {'point':>7} {'p50':>7} "
              f"{'p90':>7} {'A':>5} status/method")  # fmt: skip
        for name, f, a, fc in rows:
            pq = point(fc, q_star)
            print(f"{name:11} {f:4.1f} {a:8.0f} {fc.p10_s or 0:7.0f} {pq:7.0f} "
                  f"{fc.p50_s or 0:7.0f} {fc.p90_s or 0:7.0f} {score(a, pq):5.3f} "
                  f"{fc.status}/{fc.method}")  # fmt: skip
        print("LOO score by fixed quantile (diagnostic):",
              {q: round(v["score"], 4) for q, v in by_q.items()})  # fmt: skip
    loo_sum = summarise(rows, q_star)
    summary: dict[str, object] = {
        "scored": label, "condition_aware": cond,
        "loo_cases": len(rows), "loo_score": round(loo_sum["score"], 4),
        "loo_p10_p90_coverage": round(loo_sum["coverage"], 3),
        "loo_score_p50": round(by_q[0.5]["score"], 4),
    }  # fmt: skip
    if args.loo_only:
        print(json.dumps(summary))
        return 0

    test = read_dir(args.data_dir / "test")
    prior = prior_from_runs(learn, p, cond)
    test_rows = []
    for run in test:
        fc = forecast_part(run.history(None, cond), prior, params=p)
        test_rows.append((run.name, 1.0, float(TEST_TRUTH_S[run.name]), fc))
    test_sum = summarise(test_rows, q_star)
    if not args.quiet:
        print("\nTest bearings (history = all 6 learning runs)")
        for name, _, a, fc in test_rows:
            pq = point(fc, q_star)
            print(f"{name:11} {a:8.0f} {fc.p10_s or 0:7.0f} {pq:7.0f} {fc.p50_s or 0:7.0f} "
                  f"{fc.p90_s or 0:7.0f} {score(a, pq):5.3f} {fc.status}/{fc.method}")  # fmt: skip
    summary["test_score"] = round(test_sum["score"], 4)
    summary["test_p10_p90_coverage"] = round(test_sum["coverage"], 3)
    summary["winner_2012"] = 0.3066
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
