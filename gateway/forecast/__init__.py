"""Kizashi forecasting: health zones and alarms, remaining useful life, calendar and planning.

Split after NASA ProgPy: model.py (health indicator), estimator.py (state from readings),
predictor.py (distribution of remaining running time); rul.py is the entry point.
"""

from .calendar import Utilisation
from .health import ZONE_LIMITS, AlarmMachine, Baseline, ChangeDetector, zone, zone_limits
from .model import ModelParams
from .planning import (
    Need,
    Recommendation,
    Window,
    parts_demand,
    recommend,
    recommend_with_zone,
)
from .prior import FleetPrior, fit_fleet_prior
from .rul import PartBatch, PartHistory, RulBatch, RulForecast, forecast_many, forecast_part
from .usage import UsageModel, life_ratio
from .weibull import Weibull, fit_weibull

__all__ = [
    "ZONE_LIMITS",
    "AlarmMachine",
    "Baseline",
    "ChangeDetector",
    "FleetPrior",
    "ModelParams",
    "Need",
    "PartBatch",
    "PartHistory",
    "Recommendation",
    "RulBatch",
    "RulForecast",
    "UsageModel",
    "Utilisation",
    "Weibull",
    "Window",
    "fit_fleet_prior",
    "fit_weibull",
    "forecast_many",
    "forecast_part",
    "life_ratio",
    "parts_demand",
    "recommend",
    "recommend_with_zone",
    "zone",
    "zone_limits",
]
