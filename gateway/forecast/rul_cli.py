"""`kizashi rul FILE.csv --history-dir DIR --json`: RUL of one bearing from its feature file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .pronostia import prior_from_runs, read_bearing_csv, read_dir
from .rul import forecast_part


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="kizashi rul", description=__doc__)
    ap.add_argument("file", type=Path, help="bearing CSV (t_s, rms_h, rms_v, kurt_*, peak_*)")
    ap.add_argument("--history-dir", type=Path, help="completed runs to learn the fleet from")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    try:
        run = read_bearing_csv(args.file)
        hist = read_dir(args.history_dir, exclude=[args.file]) if args.history_dir else []
    except (OSError, ValueError) as exc:
        print(f"kizashi rul: {exc}", file=sys.stderr)
        return 2
    prior = prior_from_runs(hist) if hist else None
    fc = forecast_part(run.history(), prior)
    out = fc.to_dict()
    out.update(file=str(args.file), history_runs=len(hist), last_t_s=run.last_t_s)
    if args.json:
        print(json.dumps(out))
    else:
        for key in ("status", "method", "rul_p10_s", "rul_p50_s", "rul_p90_s", "rul_point_s"):
            print(f"{key:11} {out[key]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
