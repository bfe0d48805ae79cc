"""`kizashi rul FILE.csv --history-dir DIR --json`: RUL of one bearing from its feature file.

Options (docs/FORECASTING.md, "kizashi rul"): the bearing's operating condition and that of
history runs whose file names do not say it, the reading cadence, a rated life to fall back on
when the history does not fit, and survivors (censored lives) in the history, read from the
history's `bearings.csv` (`failed` column) or named with `--censored`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from .early_warning import Warning_, WarningParams, preset_for_life, warn_run
from .model import ModelParams
from .pronostia import (
    BearingRun,
    condition_factor,
    read_bearing_csv,
    read_conditions,
    read_dir,
    read_failed,
)
from .records import Life, prior_from_lives
from .rul import PartHistory, forecast_part
from .usage import UsageModel


def _condition(text: str) -> tuple[float, float]:
    try:
        rpm, load = (float(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected RPM:LOAD_N, got {text!r}") from None
    if rpm <= 0 or load <= 0:
        raise argparse.ArgumentTypeError("speed and load must be positive")
    return rpm, load


def _positive(text: str) -> float:
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return v


def _factor(run: BearingRun, given: tuple[float, float] | None) -> float | None:
    """ISO 281 life factor against the reference condition: from the command line, else from
    the data set's bearings.csv, else None (unknown). A file name is not evidence: another
    rig's "Bearing3_1" did not run at PRONOSTIA's condition 3."""
    cond = given if given is not None else run.condition
    return None if cond is None else condition_factor(cond)


def _warning(run: BearingRun, params: WarningParams | None) -> Warning_ | None:
    """The run's latched bearing warning, replayed as the gateway's monitor raises it."""
    if params is None:
        return None
    return warn_run(run.t_s, {run.name: run.features}, params).warning(run.name)


def _time_scale_s(run: BearingRun, hist: list[BearingRun], fail: list[bool]) -> float:
    """Running time that sets the warning preset: the shortest failed life in the history,
    else its longest run (survivors only), else this file's own span."""
    failed_lives = [r.last_t_s for r, f in zip(hist, fail, strict=True) if f]
    if failed_lives:
        return min(failed_lives)
    return max((r.last_t_s for r in hist), default=run.last_t_s)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="kizashi rul", description=__doc__.splitlines()[0])
    ap.add_argument("file", type=Path, help="bearing CSV (t_s, rms_h, rms_v, kurt_*, peak_*)")
    ap.add_argument("--history-dir", type=Path, help="completed runs to learn the fleet from")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument(
        "--condition",
        type=_condition,
        metavar="RPM:LOAD_N",
        help="this bearing's speed and radial load (default: from its name)",
    )
    ap.add_argument(
        "--history-condition",
        type=_condition,
        metavar="RPM:LOAD_N",
        help="condition of history runs whose names do not say it "
        "(default: the same as this bearing)",
    )
    ap.add_argument(
        "--cadence-s",
        type=_positive,
        metavar="S",
        help="seconds between readings (default: the median step of t_s)",
    )
    ap.add_argument(
        "--rated-l10-h",
        type=_positive,
        metavar="H",
        help="rated L10 life in running hours, the fallback when the history "
        "does not fit this bearing",
    )
    ap.add_argument(
        "--warnings",
        choices=("auto", "field", "accelerated_rig", "off"),
        default="auto",
        help="bearing-warning preset replayed on this file and every history run, as the "
        "gateway does: field (the gateway's, lives of weeks and more), accelerated_rig (lives "
        "of hours) or auto (default: chosen from the shortest failed life in the history)",
    )
    ap.add_argument(
        "--censored",
        action="append",
        default=[],
        metavar="NAME",
        help="a history run that did not fail (a censored life); repeatable",
    )
    return ap  # fmt: skip


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        run = read_bearing_csv(args.file)
        hist = read_dir(args.history_dir, exclude=[args.file]) if args.history_dir else []
        # The bearing itself never teaches its own forecast, a cut copy of it included.
        hist = [r for r in hist if r.name != run.name]
        failed = read_failed(args.history_dir) if args.history_dir else {}
        if run.condition is None and args.history_dir:
            # A copy of a run the data set describes (a history cut short, say): its row.
            run = replace(run, condition=read_conditions(args.history_dir).get(run.name))
    except (OSError, ValueError) as exc:
        print(f"kizashi rul: {exc}", file=sys.stderr)
        return 2
    unknown = set(args.censored) - {r.name for r in hist}
    if unknown:
        print(f"kizashi rul: --censored names no history run: {sorted(unknown)}", file=sys.stderr)
        return 2
    failed.update({name: False for name in args.censored})
    p = ModelParams()
    if args.cadence_s:
        # A declared cadence fixes the points per block (the time span stays block_s).
        p = replace(p, block=max(p.block_min_points, round(p.block_s / args.cadence_s)))
        p = replace(p, block_s=0.0)
    own = _factor(run, args.condition) or 1.0
    hist_default = _factor(run, args.history_condition) if args.history_condition else own
    factors = [_factor(r, None) or hist_default or 1.0 for r in hist]
    fail = [failed.get(r.name, True) for r in hist]
    # Warnings as the gateway raises them (early_warning.py): the file's own warning goes into
    # its forecast, the history's warned failures give the fleet's warning-to-failure leads.
    preset = args.warnings
    if preset == "auto":
        preset = preset_for_life(_time_scale_s(run, hist, fail))
    wp = None if preset == "off" else WarningParams.preset(preset)
    warned = {r.name: _warning(r, wp) for r in [*hist, run]}
    lives = [
        Life(
            r.last_t_s,
            f,
            None if (w := warned[r.name]) is None else w.t_running_s,
            k,
            r.t_s if f else None,
            r.features if f else None,
        )
        for r, k, f in zip(hist, factors, fail, strict=True)
    ]
    prior = prior_from_lives(lives, p) if hist else None
    usage = UsageModel(args.rated_l10_h) if args.rated_l10_h else None
    own_warning = warned[run.name]
    part = PartHistory(
        run.t_s, run.features, run.name, own,
        warned_at_s=None if own_warning is None else own_warning.t_running_s,
    )  # fmt: skip
    skipped = {r.name: r.rows_skipped for r in [run, *hist] if r.rows_skipped}
    if skipped:
        print(f"kizashi rul: rows with a missing value left out: {skipped}", file=sys.stderr)
    fc = forecast_part(part, prior, usage, p)
    out = fc.to_dict()
    out.update(
        file=str(args.file),
        history_runs=len(hist),
        history_censored=sum(not f for f in fail),
        history_warned=sum(lf.lead_s is not None for lf in lives),
        warning=None
        if own_warning is None
        else {
            "reason": own_warning.reason,
            "channel": own_warning.channel,
            "t_running_s": own_warning.t_running_s,
        },
        life_factor=own,
        warning_preset=preset,
        rows_skipped=run.rows_skipped,
        last_t_s=run.last_t_s,
    )
    if args.json:
        print(json.dumps(out))
    else:
        for key in ("status", "method", "rul_p10_s", "rul_p50_s", "rul_p90_s", "rul_point_s"):
            print(f"{key:11} {out[key]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
