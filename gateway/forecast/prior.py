"""Fleet prior: what completed lives of the same part type teach every new forecast.

Two pieces, both learned from the service log:
- a Weibull of running lives (MLE, right-censored for parts still in service or replaced
  before failure), giving the residual life of a healthy part given its age;
- an HI-to-remaining-life table from completed runs that carried feature histories: for each
  run and HI level, the running time it still had when its HI first reached that level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .lifekernel import km_weights, residual_table
from .model import (
    F64,
    ModelParams,
    Q,
    block_hi,
    block_times,
    cadence_s,
    for_cadence,
    quiet_level,
)
from .weibull import Weibull, fit_weibull_prior

LEVELS = np.linspace(0.0, 3.0, 121)  # HI grid of the table (HI 3 = 20x the quiet level)


@dataclass(frozen=True)
class FleetPrior:
    weibull: Weibull | None
    levels: F64 = field(default_factory=lambda: LEVELS.copy())
    rul_table: F64 = field(default_factory=lambda: np.zeros((0, LEVELS.size)))  # (runs, levels)
    n_failures: int = 0
    n_censored: int = 0
    # Kernel life model (lifekernel.py): residual-life quantiles (ages, Q) on an age grid.
    kernel_ages: F64 = field(default_factory=lambda: np.zeros(0))
    kernel_table: F64 = field(default_factory=lambda: np.zeros((0, Q.size)))
    # What the history covers, so a forecast can tell when an asset lies outside it:
    # the longest recorded life (failed or censored, reference-condition running seconds),
    # the runs' reading cadence (median seconds between readings; 0 = unknown) and the
    # machine type the lives come from ("" = unknown, matches anything).
    max_life_s: float = math.inf
    cadence_s: float = 0.0
    machine_type: str = ""
    # Running seconds from a bearing warning to the failure, for each failed part that had been
    # warned (reference condition): the fleet's record of how long warned parts went on.
    warning_leads_s: F64 = field(default_factory=lambda: np.zeros(0))
    # The quiet acceleration-RMS levels (model.quiet_level, g) of the runs with readings,
    # lowest and highest (0 = unknown): an asset far outside them is another machine.
    level_lo: float = 0.0
    level_hi: float = 0.0
    # Of the censored lives, the parts still in service when it was fitted (not completed
    # lives: a site shown the fleet server's prior counts them apart). Last: fitters build
    # the prior with positional arguments.
    n_running: int = 0

    @property
    def n_runs(self) -> int:
        return int(self.rul_table.shape[0])

    def matched_rul(self, hi: F64) -> F64:
        """Remaining life each fleet run had when first at each asset's HI: (A,) -> (A, runs)."""
        cols = [np.interp(hi, self.levels, row) for row in self.rul_table]
        return np.stack(cols, axis=1) if cols else np.zeros((hi.size, 0))

    def to_state(self) -> dict[str, Any]:
        return {
            "weibull": None if self.weibull is None else self.weibull.to_state(),
            "levels": self.levels.tolist(),
            "rul_table": self.rul_table.tolist(),
            "n_failures": self.n_failures,
            "n_censored": self.n_censored,
            "n_running": self.n_running,
            "kernel_ages": self.kernel_ages.tolist(),
            "kernel_table": [
                [None if np.isnan(v) else v for v in row] for row in self.kernel_table.tolist()
            ],
            "max_life_s": None if math.isinf(self.max_life_s) else self.max_life_s,
            "cadence_s": self.cadence_s,
            "machine_type": self.machine_type,
            "warning_leads_s": self.warning_leads_s.tolist(),
            "level_lo": self.level_lo,
            "level_hi": self.level_hi,
        }

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> FleetPrior:
        w = d.get("weibull")
        levels = np.asarray(d.get("levels", LEVELS), dtype=np.float64)
        table = np.asarray(d.get("rul_table", []), dtype=np.float64).reshape(-1, levels.size)
        return cls(
            weibull=None if w is None else Weibull.from_state(w),
            levels=levels,
            rul_table=table,
            n_failures=int(d.get("n_failures", 0)),
            n_censored=int(d.get("n_censored", 0)),
            n_running=int(d.get("n_running", 0)),
            kernel_ages=np.asarray(d.get("kernel_ages", []), dtype=np.float64),
            kernel_table=np.asarray(
                [[np.nan if v is None else v for v in row] for row in d.get("kernel_table", [])],
                dtype=np.float64,
            ).reshape(-1, Q.size),
            max_life_s=math.inf if d.get("max_life_s") is None else float(d["max_life_s"]),
            cadence_s=float(d.get("cadence_s", 0.0)),
            machine_type=str(d.get("machine_type", "")),
            warning_leads_s=np.asarray(d.get("warning_leads_s", []), dtype=np.float64),
            level_lo=float(d.get("level_lo", 0.0)),
            level_hi=float(d.get("level_hi", 0.0)),
        )


def run_table_row(t: F64, features: dict[str, F64], p: ModelParams) -> F64:
    """Remaining life at first passage of each grid level for one run that ended in failure."""
    tt = np.asarray(t, np.float64)
    p = for_cadence(p, cadence_s(tt[None, :]))
    feats = {k: np.asarray(v, np.float64)[None, :] for k, v in features.items()}
    hi = np.maximum.accumulate(block_hi(feats, p)[0])  # first passage = running max
    tb = block_times(tt[None, :], p)[0]
    life = float(tt[-1])
    # First block whose running max reaches each level; levels never reached count as failed.
    idx = np.searchsorted(hi, LEVELS, side="left")
    reached = idx < hi.size
    rul = np.zeros(LEVELS.size)
    rul[reached] = life - tb[idx[reached]]
    return rul


def fit_fleet_prior(
    lives_s: ArrayLike,
    censored: ArrayLike | None = None,
    runs: Sequence[tuple[F64, dict[str, F64]]] = (),
    params: ModelParams | None = None,
    life_factors: ArrayLike | None = None,
    run_factors: ArrayLike | None = None,
    machine_type: str = "",
    warning_leads_s: ArrayLike | None = None,
    lead_factors: ArrayLike | None = None,
) -> FleetPrior:
    """Fit the prior from completed lives (running seconds) and optional failed-run histories.

    `runs` are (t_running_s, features) of parts that ran to failure; their last point is the
    end of life. Without a failure the Weibull part is left out (None); with few failures its
    shape leans on a bearing's typical shape (weibull.fit_weibull_prior), never below 1.
    `life_factors` / `run_factors` (one per life / run, default 1) are each part's expected-life
    multiplier for its operating condition (`usage.iso281_life_factor`): lives and remaining
    lives are divided by it, so the prior is in reference-condition running seconds and a
    forecast multiplies back by the asset's own factor.
    `warning_leads_s` (with `lead_factors`): running time from the warning to the failure of
    each warned part that then failed (service log: a warning, then a failure or a confirmed
    defect and replacement).
    """
    p = params or ModelParams()
    lv = np.asarray(lives_s, dtype=np.float64)
    if life_factors is not None:
        lv = lv / np.asarray(life_factors, dtype=np.float64)
    c = np.zeros(lv.shape, bool) if censored is None else np.asarray(censored, dtype=bool)
    n_fail = int((~c).sum())
    wb: Weibull | None = None
    if n_fail >= 1:
        try:
            wb = fit_weibull_prior(lv, c)
        except ValueError:
            wb = None
    rf = np.ones(len(runs)) if run_factors is None else np.asarray(run_factors, np.float64)
    rows = [
        run_table_row(t, f, p) / k
        for (t, f), k in zip(runs, rf, strict=True)
        if len(t) >= for_cadence(p, cadence_s(np.asarray(t)[None, :])).block * p.min_blocks
    ]
    leads = np.asarray([] if warning_leads_s is None else warning_leads_s, np.float64)
    if lead_factors is not None:
        leads = leads / np.asarray(lead_factors, np.float64)
    leads = leads[np.isfinite(leads) & (leads > 0)]
    cadences = [cadence_s(np.asarray(t, np.float64)[None, :]) for t, _ in runs]
    quiet = np.array([
        quiet_level({k: np.asarray(v, np.float64)[None, :] for k, v in f.items()},
                    for_cadence(p, c))[0]
        for (_, f), c in zip(runs, cadences, strict=True)
    ])  # fmt: skip
    quiet = quiet[np.isfinite(quiet)]
    table = np.stack(rows) if rows else np.zeros((0, LEVELS.size))
    k_ages, k_table = np.zeros(0), np.zeros((0, Q.size))
    if wb is not None and p.life_kernel > 0:
        atoms, weights = km_weights(lv, c)
        k_ages, k_table = residual_table(atoms, weights, p.life_kernel, Q)
    return FleetPrior(
        wb, LEVELS.copy(), table, n_fail, int(c.size) - n_fail, k_ages, k_table,
        max_life_s=float(lv.max()) if lv.size else math.inf,
        cadence_s=float(np.median(cadences)) if cadences else 0.0,
        machine_type=machine_type,
        warning_leads_s=leads,
        level_lo=float(quiet.min()) if quiet.size else 0.0,
        level_hi=float(quiet.max()) if quiet.size else 0.0,
    )  # fmt: skip
