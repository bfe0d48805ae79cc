"""Reader for the PRONOSTIA (IEEE PHM 2012) feature CSVs: t_s plus per-axis node features."""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .model import F64, ModelParams
from .prior import FleetPrior
from .records import Life, prior_from_lives
from .rul import PartHistory
from .usage import iso281_life_factor

COLUMNS = ("t_s", "rms_h", "rms_v", "kurt_h", "kurt_v", "peak_h", "peak_v")
# Operating conditions of the rig (speed rpm, radial load N); bearing "BearingC_i" ran at C.
# A deployed gateway reads these from the asset registry.
CONDITIONS = {1: (1800.0, 4000.0), 2: (1650.0, 4200.0), 3: (1500.0, 5000.0)}
REFERENCE_CONDITION = 1


def shared_data_dir(name: str, start: str | Path | None = None) -> Path:
    """`shared/data/<name>` beside the checkout: searched upwards from the repository, so it is
    found from the main checkout (/work/main -> /work/shared) and from a worktree alike."""
    here = Path(start) if start is not None else Path(__file__).resolve().parent
    for d in (here, *here.parents):
        cand = d / "shared" / "data" / name
        if cand.is_dir():
            return cand
    return here.parents[2] / "shared" / "data" / name  # the usual place, even if absent


def condition_of(name: str) -> int | None:
    """Operating condition from the dataset's naming ("Bearing2_5" -> 2), None if unknown."""
    m = re.fullmatch(r"Bearing(\d+)_\d+", name)
    c = int(m.group(1)) if m else None
    return c if c in CONDITIONS else None


def life_factor(name: str) -> float:
    """ISO 281 running-life multiplier of the bearing's condition against condition 1."""
    c = condition_of(name)
    if c is None:
        return 1.0
    ref = CONDITIONS[REFERENCE_CONDITION]
    return iso281_life_factor(*CONDITIONS[c], *ref)


@dataclass(frozen=True)
class BearingRun:
    name: str
    t_s: F64
    features: dict[str, F64]

    @property
    def last_t_s(self) -> float:
        return float(self.t_s[-1])

    @property
    def life_factor(self) -> float:
        return life_factor(self.name)

    def history(self, upto: int | None = None, condition_aware: bool = True) -> PartHistory:
        """The first `upto` rows as a PartHistory (running time = rig time)."""
        sl = slice(None, upto)
        feats = {k: v[sl] for k, v in self.features.items()}
        k = self.life_factor if condition_aware else 1.0
        return PartHistory(self.t_s[sl], feats, self.name, k)


def read_bearing_csv(path: str | Path) -> BearingRun:
    p = Path(path)
    with p.open() as fh:
        header = fh.readline().strip().split(",")
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{p}: missing columns {missing}")
    data = np.loadtxt(p, delimiter=",", skiprows=1, ndmin=2)
    cols = {name: np.ascontiguousarray(data[:, i]) for i, name in enumerate(header)}
    if data.shape[0] < 1 or np.any(np.diff(cols["t_s"]) <= 0):
        raise ValueError(f"{p}: t_s must be strictly increasing and non-empty")
    feats = {k: cols[k] for k in COLUMNS[1:]}
    return BearingRun(p.stem, cols["t_s"], feats)


def read_dir(directory: str | Path, exclude: Sequence[str | Path] = ()) -> list[BearingRun]:
    """All *.csv runs in a directory, sorted by name, skipping `exclude` (same file)."""
    skip = {Path(e).resolve() for e in exclude}
    files = sorted(f for f in Path(directory).glob("*.csv") if f.resolve() not in skip)
    return [read_bearing_csv(f) for f in files if f.name != "bearings.csv"]


def read_failed(directory: str | Path) -> dict[str, bool]:
    """Which runs of a directory failed, from its `bearings.csv` (`bearing`, `failed` columns).

    Runs without an entry, or a directory without the file or the column (PRONOSTIA's learning
    set: every run ends in failure), count as failed. A run that did not fail is a censored
    life: the part was still healthy when its history ends.
    """
    f = Path(directory) / "bearings.csv"
    if not f.is_file():
        return {}
    with f.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "failed" not in rows[0] or "bearing" not in rows[0]:
        return {}
    out: dict[str, bool] = {}
    for row in rows:
        val = row["failed"].strip().lower()
        if val not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{f}: failed must be true/false, got {row['failed']!r}")
        out[row["bearing"]] = val in ("true", "1", "yes")
    return out


def prior_from_runs(
    runs: Sequence[BearingRun],
    params: ModelParams | None = None,
    condition_aware: bool = True,
    failed: dict[str, bool] | None = None,
    machine_type: str = "",
    warned_at: Mapping[str, float | None] | None = None,
) -> FleetPrior:
    """Completed runs -> fleet prior (lives for the Weibull, histories for the HI table).

    With `condition_aware`, lives are scaled to condition 1 by the ISO 281 factor of each run.
    `failed` (run name -> bool, default all failed) marks survivors: their lives are censored
    and their histories stay out of the HI table (they never reached the end of life).
    `warned_at` (run name -> running s of its bearing warning, or None): the warning records;
    each failed run that had been warned gives a warning-to-failure lead time.
    """
    fail = [True if failed is None else failed.get(r.name, True) for r in runs]
    lives = [
        Life(
            r.last_t_s,
            f,
            (warned_at or {}).get(r.name),
            r.life_factor if condition_aware else 1.0,
            r.t_s if f else None,
            r.features if f else None,
        )
        for r, f in zip(runs, fail, strict=True)
    ]
    return prior_from_lives(lives, params, machine_type)
