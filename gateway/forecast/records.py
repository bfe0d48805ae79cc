"""The fleet's records of part lives -> the fleet prior: one function for the bench, the
gateway's outlook and `kizashi rul` (issue 14 item 5).

A `Life` is one part's running time on one machine: ended by a failure, ended without one
(replaced in sound condition, a test stopped), or still running. Lives that did not end in a
failure are right-censored: they say "parts last at least this long" and lift the Weibull's
scale without pretending to be failures. A life that had a bearing warning
(early_warning.py) before it failed gives a warning-to-failure lead time: how long warned
parts went on running, which a warned part's forecast then uses (predictor._after_warning).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .model import F64, ModelParams
from .prior import FleetPrior, fit_fleet_prior


@dataclass(frozen=True)
class Life:
    """One part life, in running seconds of the part."""

    life_s: float  # from fitting to failure, replacement, end of record or now
    failed: bool  # False: right-censored (still running, replaced sound, test ended)
    warned_at_s: float | None = None  # running s of its latched bearing warning, if any
    life_factor: float = 1.0  # ISO 281 life multiplier of its operating condition
    t_s: F64 | None = None  # its readings (failed lives with readings feed the HI table)
    features: Mapping[str, F64] | None = None
    running: bool = False  # still in service now (its own age does not extend coverage)

    @property
    def lead_s(self) -> float | None:
        """Running time from the warning to the failure (None: not warned, or not failed)."""
        if not self.failed or self.warned_at_s is None or self.warned_at_s >= self.life_s:
            return None
        return self.life_s - self.warned_at_s


def prior_from_lives(
    lives: Sequence[Life], params: ModelParams | None = None, machine_type: str = ""
) -> FleetPrior:
    """The fleet prior from part lives (without a failure its Weibull is None: nothing to
    scale by).

    Failed lives with readings give the HI-to-remaining-life table; warned failures give the
    warning lead times; censored lives enter the Weibull as survivors. The oldest part still
    running does not extend what the history covers by its own age (it would always "fit"
    itself): coverage is the longest ended life or the second-oldest running part.
    """
    p = params or ModelParams()
    done = [lf for lf in lives if lf.failed and lf.t_s is not None and lf.features is not None]
    warned = [(lf.lead_s, lf.life_factor) for lf in lives if lf.lead_s is not None]
    prior = fit_fleet_prior(
        [lf.life_s for lf in lives],
        [not lf.failed for lf in lives],
        [(np.asarray(lf.t_s), dict(lf.features or {})) for lf in done],
        p,
        [lf.life_factor for lf in lives],
        [lf.life_factor for lf in done],
        machine_type,
        [lead for lead, _ in warned],
        [k for _, k in warned],
    )
    ended = [lf.life_s / lf.life_factor for lf in lives if not lf.running]
    running = sorted(lf.life_s / lf.life_factor for lf in lives if lf.running)
    cover = max(ended + running[-2:-1], default=math.inf)
    return replace(prior, max_life_s=cover, n_running=len(running))


def warned_since(warned_at_s: float | None, age_s: float) -> float | None:
    """A part's warning as its forecast sees it: only a warning raised by `age_s` (warnings
    are causal: a replay cut at some age has not seen later ones)."""
    return warned_at_s if warned_at_s is not None and warned_at_s <= age_s else None
