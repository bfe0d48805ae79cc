"""One honest evaluation of warnings and remaining life across bearing data sets (issue 14).

    .venv/bin/python -m bench.prognostics [--pronostia DIR] [--ims DIR] [--plots DIR]
                                          [--only pronostia|ims] [--json] [--data DIR ...]

Seen from a user: the forecast and the warnings run exactly as `kizashi rul` and the gateway
run them, on histories cut at 50/70/80/90/95 % of life, with a fleet history that never holds
the bearing being judged:

- PRONOSTIA: leave-one-out over the 6 learning runs (history: the other 5); then the 11 test
  bearings with all 6 learning runs as history, scored against the published remaining lives.
- IMS tests 1-2: leave-one-test-out (history: the other test's bearings; survivors are
  right-censored lives and never enter the HI table). Survivors are cut like the failures; their
  true remaining life is only known to be at least the rest of the test.
- IMS with PRONOSTIA as the history (another rig and cadence): should say the history does not
  fit rather than answer.

Per data set: PHM-2012 score of `rul_point_s`, P10-P90 coverage, mean absolute error of P50 in
% of life, late share, and the count of "not enough evidence" answers (no distribution: scored 0
and counted as coverage misses). Warnings: lead time of the first warning that stays until
failure (warnings latch) per failing bearing, in running hours and % of life; false warnings
per 1,000 running hours on survivors. Every parameter was fixed before the held-out runs were
scored (docs/FORECASTING.md, "Prognostics bench").
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from gateway.forecast.early_warning import (
    MachineWarnings,
    WarningOutcome,
    WarningParams,
    preset_for_life,
    tune_warning_params,
    warn_run,
)
from gateway.forecast.model import ModelParams
from gateway.forecast.prior import FleetPrior
from gateway.forecast.pronostia import (
    BearingRun,
    bearings_table,
    prior_from_runs,
    read_dir,
    read_failed,
    shared_data_dir,
)
from gateway.forecast.records import warned_since
from gateway.forecast.rul import RulForecast, forecast_part

CUTS = (0.5, 0.7, 0.8, 0.9, 0.95)
# Published remaining lives after the last row of each PRONOSTIA test file (scoring only).
PRONOSTIA_TEST_TRUTH_S = {
    "Bearing1_3": 5730, "Bearing1_4": 339, "Bearing1_5": 1610, "Bearing1_6": 1460,
    "Bearing1_7": 7570, "Bearing2_3": 7530, "Bearing2_4": 1390, "Bearing2_5": 3090,
    "Bearing2_6": 1290, "Bearing2_7": 580, "Bearing3_3": 820,
}  # fmt: skip
PRONOSTIA_TYPE = "pronostia_rig"
IMS_TYPE = "ims_rig"
# Warning presets per machine group (docs/FORECASTING.md): the rig runs bearings to failure in
# hours, the IMS rig (like a machine in service) in weeks.
WARN_PRESET = {PRONOSTIA_TYPE: "accelerated_rig", IMS_TYPE: "field"}


def phm_score(actual: float, predicted: float) -> float:
    """PHM 2012 accuracy of one point: late predictions cost 4x (Er < 0)."""
    er = 100.0 * (actual - predicted) / actual
    return math.exp(-math.log(0.5) * er / 5) if er <= 0 else math.exp(math.log(0.5) * er / 20)


@dataclass(frozen=True)
class Case:
    """One forecast of a held-out bearing at one cut."""

    bearing: str
    cut: float  # fraction of the life (or of the observed span, for survivors)
    life_s: float  # failure time, or the end of the test for a survivor
    age_s: float  # running time at the cut
    failed: bool
    p10_s: float | None
    p50_s: float | None
    p90_s: float | None
    point_s: float | None
    status: str

    @property
    def truth_s(self) -> float:
        """Remaining life (for a survivor: the least it can be)."""
        return self.life_s - self.age_s

    @classmethod
    def of(cls, run: BearingRun, cut: float, life: float, failed: bool, fc: RulForecast) -> Case:
        return cls(run.name, cut, life, fc.age_s, failed, fc.p10_s, fc.p50_s, fc.p90_s,
                   fc.point_s, fc.status)  # fmt: skip


def forecast_metrics(cases: Sequence[Case]) -> dict[str, float | int | None]:
    """The forecast figures of a data set. No distribution = "not enough evidence": it scores
    0 and misses coverage. Survivors only enter `survivor_consistent` (P90 not below the time
    the part is known to have survived: a forecast that calls a survivor dead is wrong)."""
    fail = [c for c in cases if c.failed]
    surv = [c for c in cases if not c.failed]
    answered = [c for c in fail if c.p50_s is not None]
    scores = [
        phm_score(c.truth_s, c.point_s) if c.point_s is not None and c.truth_s > 0 else 0.0
        for c in fail
    ]
    covered = [
        c.p10_s is not None and c.p90_s is not None and c.p10_s <= c.truth_s <= c.p90_s
        for c in fail
    ]
    err = [abs((c.p50_s or 0.0) - c.truth_s) / c.life_s * 100.0 for c in answered]
    late = [c.point_s is not None and c.point_s > c.truth_s for c in answered]
    consistent = [c.p90_s is not None and c.p90_s >= c.truth_s for c in surv]

    def mean(xs: Sequence[float | bool]) -> float | None:
        return round(float(np.mean(xs)), 4) if len(xs) else None

    return {
        "cases_failing": len(fail),
        "phm_score": mean(scores),
        "p10_p90_coverage": mean(covered),
        "mae_pct_of_life": mean(err),
        "late_share": mean(late),
        "not_enough_evidence": sum(c.p50_s is None for c in cases),
        "cases_survivor": len(surv),
        "survivor_consistent": mean(consistent),
    }


@dataclass
class WarnResult:
    bearing: str
    life_s: float
    failed: bool
    warned_at_s: float | None
    reason: str = ""

    @property
    def lead_s(self) -> float | None:
        if self.warned_at_s is None or not self.failed:
            return None
        return self.life_s - self.warned_at_s


def warning_metrics(results: Sequence[WarnResult]) -> dict[str, object]:
    """Lead times of failing bearings (hours, % of life) and false warnings on survivors."""
    leads = {
        r.bearing: None
        if r.lead_s is None
        else {"h": round(r.lead_s / 3600.0, 2), "pct": round(100.0 * r.lead_s / r.life_s, 1)}
        for r in results
        if r.failed
    }
    surv = [r for r in results if not r.failed]
    hours = sum(r.life_s for r in surv) / 3600.0
    false = sum(r.warned_at_s is not None for r in surv)
    return {
        "lead": leads,
        "survivors": len(surv),
        "false_warnings": false,
        "false_per_1000_h": round(1000.0 * false / hours, 3) if hours > 0 else None,
        "reasons": {r.bearing: r.reason for r in results if r.reason},
        "warned_at": {r.bearing: r.warned_at_s for r in results},
    }


def cut_index(run: BearingRun, frac: float) -> int:
    return int(np.searchsorted(run.t_s, frac * run.last_t_s, side="right"))


def forecast_cases(
    runs: Sequence[BearingRun],
    history_of: dict[str, list[BearingRun]],
    failed: dict[str, bool],
    hist_failed: dict[str, bool],
    mtype: str,
    hist_type: str,
    p: ModelParams,
    cuts: Sequence[float] = CUTS,
    records: dict[str, float | None] | None = None,
) -> list[Case]:
    """Forecasts of every run at every cut, each with its own (held-out) fleet history.

    `records` (second pass): each run's warning time. The history's failed runs give
    warning-to-failure lead times; a held-out run counts as warned at a cut only if its
    warning came before the cut (warnings are causal and latch).
    """
    out: list[Case] = []
    priors: dict[tuple[str, ...], FleetPrior] = {}
    for run in runs:
        hist = history_of[run.name]
        key = tuple(r.name for r in hist)
        if key not in priors:
            priors[key] = prior_from_runs(hist, p, True, hist_failed, hist_type, records)
        prior = priors[key]
        for frac in cuts:
            h = run.history(cut_index(run, frac))
            warned = warned_since((records or {}).get(run.name), float(h.t_running_s[-1]))
            h = replace(h, machine_type=mtype, warned_at_s=warned)
            fc = forecast_part(h, prior, params=p)
            out.append(Case.of(run, frac, run.last_t_s, failed.get(run.name, True), fc))
    return out


def machine_warnings(
    runs: Sequence[BearingRun], params: WarningParams, failed: dict[str, bool]
) -> tuple[list[WarnResult], MachineWarnings]:
    """Replay one machine (runs sharing one time axis are its monitored positions)."""
    t = runs[0].t_s
    for r in runs[1:]:
        if r.t_s.shape != t.shape or not np.allclose(r.t_s, t):
            raise ValueError("positions of one machine must share the time axis")
    mw = warn_run(t, {r.name: r.features for r in runs}, params)
    res = []
    for r in runs:
        w = mw.warning(r.name)
        res.append(WarnResult(r.name, r.last_t_s, failed.get(r.name, True),
                              None if w is None else w.t_running_s,
                              "" if w is None else w.reason))  # fmt: skip
    return res, mw


@dataclass
class DataSet:
    name: str
    forecast: dict[str, float | int | None]
    warnings: dict[str, object]
    cases: list[Case] = field(default_factory=list)


def run_pronostia(data: Path, p: ModelParams) -> list[DataSet]:
    learn = read_dir(data / "learning")
    hist = {r.name: [o for o in learn if o is not r] for r in learn}
    wp = WarningParams.preset(WARN_PRESET[PRONOSTIA_TYPE])
    warn = [machine_warnings([r], wp, {})[0][0] for r in learn]
    records = {w.bearing: w.warned_at_s for w in warn}
    out = []
    test = read_dir(data / "test")
    # The test files are replayed as far as they go: a warning before the cut is a record.
    test_warn = {r.name: machine_warnings([r], wp, {})[0][0] for r in test}
    test_rec = {name: w.warned_at_s for name, w in test_warn.items()}
    for suffix, rec in (("", None), ("+records", records)):
        loo = forecast_cases(learn, hist, {}, {}, PRONOSTIA_TYPE, PRONOSTIA_TYPE, p, CUTS, rec)
        wm = warning_metrics(warn) if not suffix else {}
        out.append(DataSet("pronostia_loo" + suffix, forecast_metrics(loo), wm, loo))
        prior = prior_from_runs(learn, p, True, None, PRONOSTIA_TYPE, rec)
        cases = []
        for run in test:
            h = replace(run.history(), machine_type=PRONOSTIA_TYPE,
                        warned_at_s=test_rec[run.name] if rec else None)  # fmt: skip
            fc = forecast_part(h, prior, params=p)
            life = run.last_t_s + PRONOSTIA_TEST_TRUTH_S[run.name]
            cases.append(Case.of(run, run.last_t_s / life, life, True, fc))
        # Test files end before failure; the failure time is known from the published truth,
        # so a warning inside the file has a lead time. None: not warned by the file's end.
        tw = [
            replace(test_warn[r.name], life_s=r.last_t_s + PRONOSTIA_TEST_TRUTH_S[r.name])
            for r in test
        ]
        wm_t = warning_metrics(tw) if not suffix else {}
        out.append(DataSet("pronostia_test" + suffix, forecast_metrics(cases), wm_t, cases))
    return out


def machines_of(data: Path) -> tuple[dict[str, list[BearingRun]], dict[str, bool]]:
    """A data set's runs grouped by machine: runs with the same `test` in its bearings.csv ran
    together on one rig (machine mates, held out together); without that column each run is
    its own machine. Also which runs failed (survivors are censored lives)."""
    runs = read_dir(data)
    table = bearings_table(data)
    rows = table[1] if table is not None else []
    test = {r.get("bearing", ""): (r.get("test") or "").strip() for r in rows}
    groups: dict[str, list[BearingRun]] = {}
    for r in runs:
        groups.setdefault(test.get(r.name) or r.name, []).append(r)
    return groups, read_failed(data)


def shares_time(runs: Sequence[BearingRun]) -> bool:
    """Whether the runs were read on one time axis (the positions of one machine)."""
    t = runs[0].t_s
    return all(r.t_s.shape == t.shape and np.allclose(r.t_s, t) for r in runs[1:])


def leave_one_machine_out(
    label: str,
    groups: dict[str, list[BearingRun]],
    failed: dict[str, bool],
    mtype: str,
    p: ModelParams,
    preset: str | None,
) -> list[DataSet]:
    """Every machine judged with the others as its fleet history: forecasts at the cuts,
    warnings (a machine's runs on one time axis are its positions), then a second pass where
    the other machines' warning outcomes tune the thresholds and give the lead times.
    `preset` None: each fold's warning preset from its history's shortest failed life, as
    `kizashi rul --warnings auto` chooses it."""
    hist = {
        r.name: [o for k, rs in groups.items() if k != n for o in rs]
        for n, runs in groups.items()
        for r in runs
    }
    every = [r for runs in groups.values() for r in runs]
    cases = forecast_cases(every, hist, failed, failed, mtype, mtype, p)
    presets: dict[str, WarningParams] = {}
    for n, runs in groups.items():
        lives = [r.last_t_s for r in hist[runs[0].name] if failed.get(r.name, True)]
        name = preset or preset_for_life(min(lives, default=max(r.last_t_s for r in runs)))
        presets[n] = WarningParams.preset(name)
    warn: list[WarnResult] = []
    machines: dict[str, MachineWarnings] = {}
    for n, runs in groups.items():
        res, machines[n] = machine_warnings(runs, presets[n], failed)
        warn.extend(res)
    out = [DataSet(label, forecast_metrics(cases), warning_metrics(warn), cases)]
    # Second pass: the other machines' records (their warnings, which of them were followed
    # by a failure, which were false) tune this machine's thresholds and give the forecast
    # its warning-to-failure lead times.
    records = {w.bearing: w.warned_at_s for w in warn}
    warn2: list[WarnResult] = []
    notes: list[str] = []
    for n, runs in groups.items():
        outcomes = [
            WarningOutcome(w.channel, machines[k].state[r.name].peak.get(w.channel, w.value),
                           failed.get(r.name, True))
            for k, rs in groups.items() if k != n
            for r in rs
            if (w := machines[k].warning(r.name)) is not None
        ]  # fmt: skip
        tuned, why = tune_warning_params(presets[n], outcomes)
        notes += [f"test {n}: {x}" for x in why] or [f"test {n}: thresholds unchanged"]
        warn2.extend(machine_warnings(runs, tuned, failed)[0])
    cases2 = forecast_cases(every, hist, failed, failed, mtype, mtype, p, CUTS, records)
    wm2 = warning_metrics(warn2)
    wm2["tuning"] = notes
    out.append(DataSet(label + "+records", forecast_metrics(cases2), wm2, cases2))
    return out


def run_ims(data: Path, p: ModelParams, pronostia: Path | None) -> list[DataSet]:
    tests, failed = machines_of(data)
    sets = leave_one_machine_out(
        "ims_leave_one_test_out", tests, failed, IMS_TYPE, p, WARN_PRESET[IMS_TYPE]
    )
    # Ablation (diagnostic, no choice made on it): each bearing judged alone, no machine mates.
    wp = WarningParams.preset(WARN_PRESET[IMS_TYPE])
    alone = [machine_warnings([r], wp, failed)[0][0] for runs in tests.values() for r in runs]
    out = [sets[0], DataSet("ims_warnings_without_mates", {}, warning_metrics(alone)), sets[1]]
    if pronostia is not None and (pronostia / "learning").is_dir():
        every = [r for runs in tests.values() for r in runs]
        learn = read_dir(pronostia / "learning")
        other = {r.name: learn for r in every}
        # The user has not told the gateway the machine type: only age and cadence can say
        # that the history does not fit.
        xc = forecast_cases(every, other, failed, {}, "", "", p)
        out.append(DataSet("ims_with_pronostia_history", forecast_metrics(xc), {}, xc))
    return out


def run_data_set(data: Path, p: ModelParams) -> list[DataSet]:
    """Any data set in the shared layout (feature CSVs and a bearings.csv), judged as a user
    meets it: leave one machine out, warning preset chosen from the history's lives, no
    machine type (only age, cadence and level can say the history does not fit)."""
    groups, failed = machines_of(data)
    if len(groups) < 2:
        raise SystemExit(f"{data}: need runs of at least two machines to hold one out")
    for key, runs in groups.items():
        if not shares_time(runs):  # the positions of one machine read on one clock
            raise SystemExit(f"{data}: the runs of test {key} must share their t_s")
    return leave_one_machine_out(data.name + "_leave_one_out", groups, failed, "", p, None)


def draw(ds_runs: dict[str, BearingRun], sets: Sequence[DataSet], plots: Path) -> int:
    """One PNG per bearing: level over its early median, warning, P10-P90 cone, truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots.mkdir(parents=True, exist_ok=True)
    n = 0
    for ds in sets:
        by_bearing: dict[str, list[Case]] = {}
        for c in ds.cases:
            by_bearing.setdefault(c.bearing, []).append(c)
        warns = ds.warnings.get("reasons", {}) if ds.warnings else {}
        assert isinstance(warns, dict)
        for name, cs in by_bearing.items():
            run = ds_runs.get(name)
            if run is None:
                continue
            fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
            th = run.t_s / 3600.0
            rms = np.mean([v for k, v in run.features.items() if k.startswith("rms_")], axis=0)
            base = float(np.median(rms[: max(5, rms.size // 20)]))
            ax1.semilogy(th, rms / base, lw=0.6, label="RMS / early median")
            kurt = np.mean([v for k, v in run.features.items() if k.startswith("kurt_")], axis=0)
            ax1.semilogy(th, np.maximum(kurt + 3, 0.1) / 3.0, lw=0.6, label="kurtosis / 3")
            w = ds.warnings.get("warned_at", {}) if ds.warnings else {}
            if isinstance(w, dict) and w.get(name) is not None:
                ax1.axvline(float(w[name]) / 3600.0, color="r", label="warning")
            ax1.set_title(f"{ds.name}: {name} ({'failed' if cs[0].failed else 'survived'})")
            if name in warns:
                ax1.text(0.01, 0.9, str(warns[name]), transform=ax1.transAxes, fontsize=7)
            ax1.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, 0.85))
            for c in cs:
                x = c.age_s / 3600.0
                if c.p10_s is None or c.p90_s is None or c.p50_s is None:
                    ax2.plot([x], [x], "kx")
                    continue
                ax2.plot([x, x], [x + c.p10_s / 3600, x + c.p90_s / 3600], "b-", lw=3, alpha=0.5)
                ax2.plot([x], [x + c.p50_s / 3600], "bo", ms=3)
            ax2.axhline(cs[0].life_s / 3600.0, color="k", ls="--",
                        label="failure" if cs[0].failed else "end of test (survived)")  # fmt: skip
            ax2.set_xlabel("running hours")
            ax2.set_ylabel("forecast end of life, h (P10-P90, P50)")
            ax2.legend(fontsize=7)
            fig.tight_layout()
            fig.savefig(plots / f"{ds.name}_{name}.png", dpi=80)
            plt.close(fig)
            n += 1
    return n


def print_set(ds: DataSet) -> None:
    print(f"\n== {ds.name}")
    if ds.forecast:
        print("forecast:", json.dumps(ds.forecast))
    if ds.warnings:
        print("warnings:", json.dumps({k: v for k, v in ds.warnings.items() if k != "warned_at"}))
    for c in ds.cases:

        def h(v: float | None) -> str:
            return "   -  " if v is None else f"{v / 3600:6.2f}"

        print(f"  {c.bearing:11} cut {c.cut:4.2f} truth {h(c.truth_s)}h p10 {h(c.p10_s)} "
              f"p50 {h(c.p50_s)} p90 {h(c.p90_s)} point {h(c.point_s)} {c.status}"
              f"{'' if c.failed else ' (survivor: truth is a minimum)'}")  # fmt: skip


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pronostia", type=Path, default=shared_data_dir("pronostia"))
    ap.add_argument("--ims", type=Path, default=shared_data_dir("ims"))
    ap.add_argument("--only", choices=("pronostia", "ims"))
    ap.add_argument(
        "--data",
        type=Path,
        action="append",
        default=[],
        help="another data set in the shared layout (repeatable); only these run",
    )
    ap.add_argument("--plots", type=Path, help="draw a PNG per bearing into this directory")
    ap.add_argument("--json", action="store_true", help="one JSON summary line only")
    args = ap.parse_args(argv)
    p = ModelParams()
    sets: list[DataSet] = []
    runs: dict[str, BearingRun] = {}
    for data in args.data:
        sets += run_data_set(data, p)
        runs.update({r.name: r for r in read_dir(data)})
    if not args.data and args.only in (None, "pronostia"):
        sets += run_pronostia(args.pronostia, p)
        runs.update({r.name: r for r in read_dir(args.pronostia / "learning")})
        runs.update({r.name: r for r in read_dir(args.pronostia / "test")})
    if not args.data and args.only in (None, "ims"):
        sets += run_ims(args.ims, p, args.pronostia if args.only is None else None)
        runs.update({r.name: r for r in read_dir(args.ims)})
    if not args.json:
        for ds in sets:
            print_set(ds)
    if args.plots is not None:
        print(f"\n{draw(runs, sets, args.plots)} plots in {args.plots}")
    summary = {ds.name: {"forecast": ds.forecast, "warnings": {
        k: v for k, v in ds.warnings.items() if k not in ("reasons", "warned_at")}}
        for ds in sets}  # fmt: skip
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
