"""Kizashi forecasting: health zones and alarms, remaining useful life, calendar and parts demand.

Split after NASA ProgPy: model.py (health indicator), estimator.py (state from readings),
predictor.py (distribution of remaining running time); rul.py is the entry point.
"""

from .calendar import Utilisation
from .health import ZONE_LIMITS, AlarmMachine, Baseline, ChangeDetector, zone, zone_limits
from .model import ModelParams
from .planning import Need, parts_demand
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
    "RulBatch",
    "RulForecast",
    "UsageModel",
    "Utilisation",
    "Weibull",
    "fit_fleet_prior",
    "fit_weibull",
    "forecast_many",
    "forecast_part",
    "life_ratio",
    "parts_demand",
    "zone",
    "zone_limits",
]
