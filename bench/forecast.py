"""Fleet forecast speed: 10,000 assets x 1000 points each through forecast_many.

    .venv/bin/python -m bench.forecast [--assets N] [--points M]

Histories are synthetic but shaped like the real runs: a quiet level with noise and spikes,
and for a third of the assets an exponential rise in the last part of the record.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from gateway.forecast.prior import fit_fleet_prior
from gateway.forecast.rul import PartBatch, forecast_many
from gateway.forecast.usage import UsageModel


def synth(a: int, n: int, seed: int = 1) -> PartBatch:
    rng = np.random.default_rng(seed)
    t = np.broadcast_to(np.arange(n, dtype=np.float64) * 600.0, (a, n))  # 10-min reports
    base = rng.uniform(0.2, 0.6, (a, 1))
    onset = rng.uniform(0.5, 1.5, (a, 1)) * n  # > n means no rise yet
    growth = rng.uniform(2.0, 6.0, (a, 1)) / n
    rise = np.exp(np.maximum(np.arange(n)[None, :] - onset, 0.0) * growth)
    feats = {}
    for axis in ("h", "v"):
        noise = rng.lognormal(0.0, 0.08, (a, n))
        spikes = 1 + 4 * (rng.random((a, n)) < 0.005)
        feats[f"rms_{axis}"] = base * rise * noise * spikes
    feats["load"] = rng.uniform(0.8, 1.2, (a, 1)) * np.ones((1, n))
    return PartBatch(np.ascontiguousarray(t), feats)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="time forecast_many on a synthetic fleet")
    ap.add_argument("--assets", type=int, default=10_000)
    ap.add_argument("--points", type=int, default=1000)
    args = ap.parse_args(argv)
    batch = synth(args.assets, args.points)
    rng = np.random.default_rng(2)
    prior = fit_fleet_prior(rng.weibull(1.5, 200) * 3.0e7, rng.random(200) < 0.3)
    usage = UsageModel(rated_l10_h=20_000)
    forecast_many(PartBatch(batch.t_running_s[:10], {k: v[:10] for k, v in batch.features.items()}),
                  prior, usage)  # fmt: skip  # warm-up
    t0 = time.perf_counter()
    res = forecast_many(batch, prior, usage)
    dt = time.perf_counter() - t0
    statuses = {str(s): int(c) for s, c in zip(*np.unique(res.status, return_counts=True),
                                                strict=True)}  # fmt: skip
    print(json.dumps({"assets": args.assets, "points": args.points, "seconds": round(dt, 3),
                      "assets_per_s": round(args.assets / dt), "statuses": statuses}))  # fmt: skip
    return 0 if dt < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
