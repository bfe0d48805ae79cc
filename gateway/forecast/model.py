"""Degradation model: the health indicator (HI) built from node features, and its parameters.

HI is the mean over vibration channels of log(level / floor), where `level` is the median of a
block of points (spike-proof) and `floor` the lowest block median seen so far. The floor, rather
than the first readings, is the reference because bearings often settle after run-in: an early
baseline would hide the first real rise. HI = 0 means "as quiet as it has ever been";
HI = ln 2 means the vibration has doubled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]

Q = np.round(np.linspace(0.05, 0.95, 19), 2)  # forecast quantile grid; has 0.1, 0.5, 0.9 exactly

# Node features that scale with damage: acceleration RMS and peak per axis, velocity RMS.
LEVEL_PREFIXES = ("rms_", "vel_rms")
PEAK_PREFIX = "peak_"
KURT_PREFIX = "kurt_"


@dataclass(frozen=True)
class ModelParams:
    """Tunable constants; defaults were chosen by leave-one-out on the PRONOSTIA learning runs."""

    block: int = 30  # points per block; with block_s > 0 it is derived from the cadence
    # Blocks are a span of running time, not a count of points: a 30-point block is 5 minutes
    # at 10 s readings but 5 hours at one reading per 10 minutes. The points per block are
    # block_s / cadence, at least block_min_points so a slow cadence still takes a median.
    block_s: float = 300.0
    block_min_points: int = 5
    min_blocks: int = 3  # below this the forecast says "not_enough_data"
    onset: float = math.log(1.6)  # HI above which the part counts as degrading
    persist_blocks: int = 2  # the last N blocks must all be above onset (no single spikes)
    peak_weight: float = 1.0  # weight of peak channels relative to RMS channels
    kurt_weight: float = 0.0  # HI added per unit of positive block-median kurtosis
    trend_blocks: int = 12  # blocks in the recent-slope fit of the exponential fallback
    fail_level: float = math.log(5.0)  # HI treated as end of life when no fleet runs exist
    sigma_floor: float = 0.5  # minimum log-spread of a trend forecast (lives vary a lot)
    prior_weight: float = 1.0  # fleet-prior precision relative to the trend's when blending
    offset_s: float = 60.0  # added before taking logs of remaining lives that may be 0
    # Log-spread of each fleet life's kernel in the healthy-part life model (lifekernel.py);
    # 0 = the smooth Weibull prior only. Off by default: leave-one-out over six clustered lives
    # favoured a narrow mixture (0.1) that was badly overconfident on new bearings; with so few
    # completed lives the parametric prior is the safer default. See docs/FORECASTING.md.
    life_kernel: float = 0.0

    def to_state(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_state(cls, d: Mapping[str, float | int]) -> ModelParams:
        return cls(**{k: type(getattr(cls(), k))(v) for k, v in d.items()})


def cadence_s(t: F64) -> float:
    """Typical seconds between readings of (A, N) running times (median step; 0 if unknown)."""
    tt = np.asarray(t, np.float64)
    if tt.ndim != 2 or tt.shape[1] < 2:
        return 0.0
    d = np.diff(tt, axis=1)
    d = d[d > 0]
    return float(np.median(d)) if d.size else 0.0


def for_cadence(p: ModelParams, cadence: float) -> ModelParams:
    """The parameters with `block` (points) set from `block_s` at this reading cadence."""
    if p.block_s <= 0 or cadence <= 0:
        return p
    n = max(p.block_min_points, round(p.block_s / cadence))
    return p if n == p.block else replace(p, block=int(n))


def _block_median(x: F64, block: int) -> F64:
    """(A, N) -> (A, N // block) medians, blocks aligned to the newest point."""
    a, n = x.shape
    nb = n // block
    tail = np.sort(x[:, n - nb * block :].reshape(a, nb, block), axis=2)
    # A sort of short rows is ~5x faster than np.median here (which partitions twice).
    return np.asarray(0.5 * (tail[..., (block - 1) // 2] + tail[..., block // 2]), np.float64)


def block_hi(features: Mapping[str, F64], p: ModelParams) -> F64:
    """HI per block for a batch: features are (A, N) arrays -> (A, N // block).

    Every block's HI is causal (uses only that block and earlier ones), so the same function
    gives the gateway's current HI and the fleet runs' HI history.
    """
    num: F64 | None = None
    weight = 0.0
    for name, arr in features.items():
        w = 1.0 if name.startswith(LEVEL_PREFIXES) else 0.0
        if name.startswith(PEAK_PREFIX):
            w = p.peak_weight
        if w == 0.0:
            continue
        lm = np.log(np.maximum(_block_median(np.asarray(arr, dtype=np.float64), p.block), 1e-9))
        term = w * (lm - np.minimum.accumulate(lm, axis=1))
        num = term if num is None else num + term
        weight += w
    if num is None:
        raise ValueError("no level feature (rms_*, vel_rms*) in the history")
    hi = num / weight
    if p.kurt_weight:
        for name, arr in features.items():
            if name.startswith(KURT_PREFIX):
                k = _block_median(np.asarray(arr, dtype=np.float64), p.block)
                hi = hi + p.kurt_weight * np.maximum(k, 0.0) / 2.0
    return np.asarray(hi, dtype=np.float64)


ACC_RMS_PREFIX = "rms_"


def quiet_level(features: Mapping[str, F64], p: ModelParams) -> F64:
    """(A,) the quiet vibration level of each history: the geometric mean over the
    acceleration-RMS channels (rms_*, g: the one unit every node and data set shares) of the
    lowest block median (the HI's floor). NaN without such a channel or a whole block."""
    logs = []
    for name, arr in features.items():
        if not name.startswith(ACC_RMS_PREFIX):
            continue
        x = np.asarray(arr, dtype=np.float64)
        if x.shape[1] < p.block:
            continue
        logs.append(np.log(np.maximum(_block_median(x, p.block), 1e-9)).min(axis=1))
    if not logs:
        a = next(iter(features.values())).shape[0] if features else 0
        return np.full(a, np.nan)
    return np.asarray(np.exp(np.mean(logs, axis=0)), np.float64)


def block_times(t: F64, p: ModelParams) -> F64:
    """Running time at the end of each block, (A, N) -> (A, N // block)."""
    a, n = t.shape
    nb = n // p.block
    return np.asarray(t[:, n - nb * p.block :].reshape(a, nb, p.block)[:, :, -1], np.float64)
