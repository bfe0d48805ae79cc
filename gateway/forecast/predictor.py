"""Predictor: degradation state + fleet prior + usage -> distribution of remaining running time.

Distributions are carried as quantiles on a fixed grid Q (A, G) so that Weibull residual
lives, trend forecasts and their blend share one representation.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from .estimator import DegradationState
from .lifekernel import table_residual_quantile
from .model import F64, ModelParams, Q
from .prior import FleetPrior
from .usage import UsageModel

I10, I50, I90 = 1, 9, 17

NOT_ENOUGH_DATA = "not_enough_data"
PRIOR_ONLY = "prior_only"
HEALTHY = "healthy_no_trend"
DEGRADING = "degrading"
# The fleet history does not cover this asset (older than every recorded life, another
# cadence or machine type): the answer comes from the rated life, or there is none.
NOT_FIT = "history_does_not_fit"
STATUSES = (NOT_ENOUGH_DATA, PRIOR_ONLY, HEALTHY, DEGRADING, NOT_FIT)
# Method of a degrading part whose HI is at or past ModelParams.fail_level when no failed fleet
# runs exist: fail_level is an assumption, not a measurement, and this part has outrun it, so
# nothing says when it fails. No quantiles, and no age or rated-life answer in their place
# (a rated life far ahead would contradict the vibration the part shows).
PAST_FAIL_LEVEL = "past_fail_level"


def _norm_ppf(q: float) -> float:
    # Newton on the normal CDF; only called for the 19 grid points at import.
    z = 0.0
    for _ in range(50):
        cdf = 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))
        z -= (cdf - q) / (math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi))
    return z


Z = np.array([_norm_ppf(float(q)) for q in Q])
Z90 = float(Z[I90])


def predict(
    st: DegradationState,
    prior: FleetPrior | None,
    usage: UsageModel | None,
    consumed_h: F64 | None,
    rate: F64 | None,
    p: ModelParams,
    life_factor: F64 | None = None,
    fits: NDArray[np.bool_] | None = None,
    runs_fit: bool = True,
    warned_at: F64 | None = None,
) -> tuple[F64, NDArray[np.str_], NDArray[np.str_]]:
    """Return (quantiles (A, G) in running seconds, status (A,), method (A,)).

    `life_factor` (A,) is each asset's expected-life multiplier for its operating condition
    relative to the fleet prior's reference condition (1 = same condition).
    `fits` (A,) says whether the fleet history covers the asset (age within the recorded
    lives, same cadence and machine type); where it does not, the age-based fleet prior is not
    used: the rated life answers if there is one, else nothing does ("history does not fit").
    `runs_fit` False also drops the fleet runs' level matching (another machine or cadence).
    `warned_at` (A,) running seconds of each part's latched warning (NaN: none): a warned part
    is forecast from the fleet's warning-to-failure lead times instead of level matching.
    """
    a = st.age_s.size
    k = np.ones(a) if life_factor is None else np.asarray(life_factor, np.float64)
    ok_fit = np.ones(a, bool) if fits is None else np.asarray(fits, bool)
    out = np.full((a, Q.size), np.nan)
    method = np.full(a, "none", dtype=object)
    has_prior = prior is not None and prior.weibull is not None
    if prior is not None and prior.weibull is not None:
        # Residual life at the reference condition, then back to this asset's running time.
        base = prior.weibull.residual_quantile(st.age_s[:, None] / k[:, None], Q[None, :])
        if prior.kernel_table.size:
            kern = table_residual_quantile(prior.kernel_ages, prior.kernel_table, st.age_s / k)
            fine = np.all(np.isfinite(kern), axis=1)
            base[fine] = kern[fine]  # past every fleet life the Weibull tail answers
        out[ok_fit] = (base * k[:, None])[ok_fit]
        method[ok_fit] = "fleet_prior"
    if usage is not None and consumed_h is not None and rate is not None:
        use_rated = ~ok_fit if has_prior else np.ones(a, bool)
        out[use_rated] = usage.remaining_running_s(consumed_h, rate, Q)[use_rated]
        method[use_rated] = "rated_life"
    has_base = method != "none"

    mu_t, s_t, trend_name = _trend(st, prior if runs_fit else None, p, k)
    names_t = np.full(a, trend_name, dtype=object)
    use_trend = st.degrading & np.isfinite(mu_t)
    if warned_at is not None and prior is not None and runs_fit and prior.warning_leads_s.size:
        mu_w, s_w = _after_warning(st.age_s, np.asarray(warned_at, np.float64), prior, p, k)
        w = np.isfinite(mu_w)
        mu_t, s_t = np.where(w, mu_w, mu_t), np.where(w, s_w, s_t)
        names_t[w] = "warning_lead"
        use_trend = use_trend | w
    # Past the assumed end-of-life level with no fleet runs and no warning lead: no figure.
    past = st.degrading & (trend_name == "trend_exp") & (st.hi >= p.fail_level) & ~use_trend
    if np.any(use_trend):
        mu, s = mu_t[use_trend], s_t[use_trend]
        blend = has_base[use_trend]
        if np.any(blend):
            # Product of the two log-normal beliefs: the trend says how fast this part is going,
            # the fleet says how long parts like it last at this age.
            lb = np.log(out[use_trend][blend] + p.offset_s)
            mu_b = lb[:, I50]
            s_b = np.maximum((lb[:, I90] - lb[:, I10]) / (2 * Z90), 1e-3)
            w_t, w_b = 1.0 / s[blend] ** 2, p.prior_weight / s_b**2
            mu[blend] = (mu[blend] * w_t + mu_b * w_b) / (w_t + w_b)
            s[blend] = np.maximum(1.0 / np.sqrt(w_t + w_b), p.sigma_floor)
        out[use_trend] = np.exp(mu[:, None] + s[:, None] * Z[None, :]) - p.offset_s
        tn = names_t[use_trend].astype(str)
        method[use_trend] = np.where(
            blend, np.char.add(np.char.add(tn, "+"), method[use_trend].astype(str)), tn
        )
    out = np.maximum(out, 0.0)

    enough = st.n_blocks >= p.min_blocks
    status = np.where(st.degrading | use_trend, DEGRADING, HEALTHY).astype(object)
    status[~enough] = np.where(has_base[~enough], PRIOR_ONLY, NOT_ENOUGH_DATA)
    status[enough & ~use_trend & ~has_base] = HEALTHY  # no evidence: quantiles stay null
    if prior is not None:
        status[~ok_fit & ~use_trend] = NOT_FIT
    out[past] = np.nan
    method[past] = PAST_FAIL_LEVEL
    status[past] = DEGRADING
    return out, status.astype(np.str_), method.astype(np.str_)


def _after_warning(
    age: F64, warned_at: F64, prior: FleetPrior, p: ModelParams, k: F64
) -> tuple[F64, F64]:
    """Log-normal (mu, sigma) of remaining life from the fleet's warning-to-failure leads.

    Each fleet lead says "a warned part ran this long after its warning"; a part warned
    `elapsed` ago that is still running has lead - elapsed left, from the leads longer than
    `elapsed` (the others would have failed already). NaN where the part is not warned or has
    outlived every fleet lead (then level matching answers).
    """
    elapsed = np.maximum(age - warned_at, 0.0)  # NaN stays NaN
    rem = prior.warning_leads_s[None, :] * k[:, None] - elapsed[:, None]
    alive = rem > 0
    n = alive.sum(axis=1)
    lr = np.log(np.where(alive, rem, 1.0) + p.offset_s)
    mu = np.where(n > 0, (lr * alive).sum(axis=1) / np.maximum(n, 1), np.nan)
    var = ((lr - mu[:, None]) ** 2 * alive).sum(axis=1) / np.maximum(n - 1, 1)
    s = np.maximum(np.sqrt(var), p.sigma_floor)
    ok = np.isfinite(warned_at) & (n > 0)
    return np.where(ok, mu, np.nan), np.where(ok, s, np.nan)


def _trend(
    st: DegradationState, prior: FleetPrior | None, p: ModelParams, k: F64
) -> tuple[F64, F64, str]:
    """Log-normal (mu, sigma) of log(remaining + offset) from the condition data alone."""
    if prior is not None and prior.n_runs > 0:
        # Level matching: each failed fleet run says how long it lasted from this HI onwards.
        lr = np.log(prior.matched_rul(st.hi) * k[:, None] + p.offset_s)
        sd = lr.std(axis=1, ddof=1) if lr.shape[1] > 1 else np.zeros(lr.shape[0])
        return lr.mean(axis=1), np.maximum(sd, p.sigma_floor), "trend_match"
    # Exponential growth fallback: HI (a log level) rises linearly; extrapolate to fail_level.
    # At or past fail_level there is nothing to extrapolate to (NaN; predict says so): the
    # level is assumed, and a part still running above it shows the assumption was wrong.
    ok = (st.slope > 0) & (st.hi < p.fail_level)
    safe = np.where(ok, st.slope, 1.0)
    r = (p.fail_level - st.hi) / safe
    mu = np.where(ok, np.log(r + p.offset_s), np.nan)
    rel = np.where(ok, st.slope_se / safe, np.inf)
    s = np.clip(rel, p.sigma_floor, 2.0)
    return mu, s, "trend_exp"
