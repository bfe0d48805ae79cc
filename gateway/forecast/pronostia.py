"""Reader for bearing feature CSVs in the shared layout: t_s plus per-axis node features, and the
data set's bearings.csv (condition, failed, test). Named for PRONOSTIA (IEEE PHM 2012), the
first set read; the IMS files and any set laid out alike read the same way."""

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
# ISO 281 life factors are taken against this condition (speed rpm, radial load N): PRONOSTIA's
# condition 1. Any reference works (the prior is fitted on lives divided by each run's factor
# and a forecast multiplies back), so it stays fixed for every data set.
REFERENCE_CONDITION = (1800.0, 4000.0)
# "1800rpm_4000N", "1800 rpm / 4000 N": the `condition` column of a data set's bearings.csv.
_CONDITION_TEXT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*rpm[\W_]*(\d+(?:\.\d+)?)\s*N\s*", re.IGNORECASE)


def shared_data_dir(name: str, start: str | Path | None = None) -> Path:
    """`shared/data/<name>` beside the checkout: searched upwards from the repository, so it is
    found from the main checkout (/work/main -> /work/shared) and from a worktree alike."""
    here = Path(start) if start is not None else Path(__file__).resolve().parent
    for d in (here, *here.parents):
        cand = d / "shared" / "data" / name
        if cand.is_dir():
            return cand
    return here.parents[2] / "shared" / "data" / name  # the usual place, even if absent


def parse_condition(text: str) -> tuple[float, float] | None:
    """ "1800rpm_4000N" -> (1800.0, 4000.0); None for an empty or unreadable text."""
    m = _CONDITION_TEXT.fullmatch(text)
    if m is None:
        return None
    rpm, load = float(m.group(1)), float(m.group(2))
    return (rpm, load) if rpm > 0 and load > 0 else None


def condition_factor(condition: tuple[float, float] | None) -> float:
    """ISO 281 running-life multiplier of a condition against the reference; 1 if unknown."""
    if condition is None:
        return 1.0
    return iso281_life_factor(*condition, *REFERENCE_CONDITION)


@dataclass(frozen=True)
class BearingRun:
    name: str
    t_s: F64
    features: dict[str, F64]
    # (rpm, radial load N) from the data set's own bearings.csv; None: not recorded. Never
    # guessed from the file name: "Bearing3_1" of another rig is not PRONOSTIA's condition 3.
    condition: tuple[float, float] | None = None
    rows_skipped: int = 0  # readings with a missing (non-finite) value, left out

    @property
    def last_t_s(self) -> float:
        return float(self.t_s[-1])

    @property
    def life_factor(self) -> float:
        return condition_factor(self.condition)

    def history(self, upto: int | None = None, condition_aware: bool = True) -> PartHistory:
        """The first `upto` rows as a PartHistory (running time = rig time)."""
        sl = slice(None, upto)
        feats = {k: v[sl] for k, v in self.features.items()}
        k = self.life_factor if condition_aware else 1.0
        return PartHistory(self.t_s[sl], feats, self.name, k)


def bearings_table(directory: str | Path) -> tuple[Path, list[dict[str, str]]] | None:
    """The data set's `bearings.csv` (one row per bearing): in the directory itself, else in its
    parent (a data set split into learning/ and test/ keeps one table above them)."""
    d = Path(directory)
    for f in (d / "bearings.csv", d.parent / "bearings.csv"):
        if f.is_file():
            with f.open(newline="") as fh:
                return f, list(csv.DictReader(fh))
    return None


def read_conditions(directory: str | Path) -> dict[str, tuple[float, float]]:
    """Each run's operating condition from the data set's table: a `condition` column
    ("1800rpm_4000N") or `rpm` and `load_n` columns. Runs without one are not in the result."""
    table = bearings_table(directory)
    if table is None:
        return {}
    f, rows = table
    out: dict[str, tuple[float, float]] = {}
    for row in rows:
        name = (row.get("bearing") or "").strip()
        if not name:
            continue
        text = (row.get("condition") or "").strip()
        if not text and row.get("rpm") and row.get("load_n"):
            text = f"{row['rpm']}rpm_{row['load_n']}N"
        if not text:
            continue
        cond = parse_condition(text)
        if cond is None:
            raise ValueError(f"{f}: condition of {name} must read like 1800rpm_4000N, got {text!r}")
        out[name] = cond
    return out


def _axes(p: Path, header: list[str]) -> list[str]:
    """The header with a one-accelerometer file's columns named as two axes: `rms` (or only
    `rms_h`) also stands for `rms_v`, as the IMS test 2 files carry one series in both."""
    cols = list(header)
    for feat in ("rms", "kurt", "peak"):
        h, v = f"{feat}_h", f"{feat}_v"
        if h not in cols and feat in cols:
            cols[cols.index(feat)] = h
        if h in cols and v not in cols:
            cols.append(v)
    missing = [c for c in COLUMNS if c not in cols]
    if missing:
        raise ValueError(f"{p}: missing columns {missing}")
    return cols


def read_bearing_csv(path: str | Path, condition: tuple[float, float] | None = None) -> BearingRun:
    """One run's features. `condition`: given, else the run's row in the data set's table."""
    p = Path(path)
    with p.open() as fh:
        header = fh.readline().strip().split(",")
    names = _axes(p, header)
    data = np.loadtxt(p, delimiter=",", skiprows=1, ndmin=2)
    if data.shape[0] < 1 or data.shape[1] != len(header):
        raise ValueError(f"{p}: expected {len(header)} columns of numbers and at least one row")
    # A reading with a missing value (nan, inf) is dropped and counted, never averaged in.
    finite = np.all(np.isfinite(data), axis=1)
    if not np.any(finite):
        raise ValueError(f"{p}: no row with every value finite")
    data = data[finite]
    cols = {name: np.ascontiguousarray(data[:, i]) for i, name in enumerate(names[: len(header)])}
    for feat in ("rms", "kurt", "peak"):
        cols.setdefault(f"{feat}_v", cols[f"{feat}_h"])
    if np.any(np.diff(cols["t_s"]) <= 0):
        raise ValueError(f"{p}: t_s must be strictly increasing")
    feats = {k: cols[k] for k in COLUMNS[1:]}
    if condition is None:
        condition = read_conditions(p.parent).get(p.stem)
    return BearingRun(p.stem, cols["t_s"], feats, condition, int(np.sum(~finite)))


def read_dir(directory: str | Path, exclude: Sequence[str | Path] = ()) -> list[BearingRun]:
    """All *.csv runs in a directory, sorted by name, skipping `exclude` (same file), each with
    its condition from the data set's table."""
    skip = {Path(e).resolve() for e in exclude}
    files = sorted(f for f in Path(directory).glob("*.csv") if f.resolve() not in skip)
    conditions = read_conditions(directory)
    return [read_bearing_csv(f, conditions.get(f.stem)) for f in files if f.name != "bearings.csv"]


def read_failed(directory: str | Path) -> dict[str, bool]:
    """Which runs failed, from the data set's `bearings.csv` (`bearing`, `failed` columns).

    Runs without an entry, or a table without the column (PRONOSTIA's: every learning run ends
    in failure), count as failed. A run that did not fail is a censored life: the part was
    still healthy when its history ends.
    """
    table = bearings_table(directory)
    if table is None:
        return {}
    f, rows = table
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
