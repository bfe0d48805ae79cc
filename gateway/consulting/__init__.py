"""The consulting report: how a customer's machines are used, read from the stored hourly data.

Everything here is computed from `HourlyPoint`s (the store's hourly aggregates) in each site's
own time zone: a period is a run of the site's calendar days, a shift is a span of the site's
wall-clock hours (a night shift 22-06 crosses midnight; on a daylight-saving day it has 7 or 9
hours, as the people on it do).

Per hour of readings (a "monitored" hour):

- running time: the rise of the node's runtime counter since the hour before (at most the
  hour); after a gap in the readings or a counter that went back (a new board), the hour's
  share of reports flagged running instead, since the rise then spans hours we did not see;
- starts: the rise of the node's start counter since the hour before (not counted after a gap:
  those starts happened in hours we did not see);
- zone: the hour's running level (worst axis, hourly mean over its running reports: stopped
  reports read near zero, so the mean is divided by the running share, never above the hour's
  highest reading) on the asset's own limits (gateway/domain.py). Its running time counts as
  time in that zone.

Utilisation is running hours over monitored hours. Recommendations fire only on notable
differences (the thresholds below, shown on the page) and only for machines with at least
MIN_MONITORED_H monitored hours in the period; the others are "not enough data".

Modules: `usage` (periods, hours, machines, sites), `findings` (the recommendations and
their thresholds), `report` (the two periods together).
"""

from __future__ import annotations

from .findings import (
    THRESHOLDS,
    Change,
    Recommendation,
    change_findings,
    changes,
    idle_machines,
    recommendations,
    shift_pattern,
    start_stop,
    zone_findings,
)
from .report import Report, build_report
from .usage import (
    DEFAULT_DAYS,
    MIN_MONITORED_H,
    WEEKDAYS,
    Columns,
    MachineSpec,
    MachineUsage,
    Period,
    SiteClock,
    SiteInput,
    SiteUsage,
    Usage,
    columns_of,
    fetch_bounds,
    machine_usage,
    period_ending,
    running_level,
    site_usage,
)

__all__ = [
    "DEFAULT_DAYS",
    "MIN_MONITORED_H",
    "THRESHOLDS",
    "WEEKDAYS",
    "Change",
    "Columns",
    "MachineSpec",
    "MachineUsage",
    "Period",
    "Recommendation",
    "Report",
    "SiteClock",
    "SiteInput",
    "SiteUsage",
    "Usage",
    "build_report",
    "change_findings",
    "changes",
    "columns_of",
    "fetch_bounds",
    "idle_machines",
    "machine_usage",
    "period_ending",
    "recommendations",
    "running_level",
    "shift_pattern",
    "site_usage",
    "start_stop",
    "zone_findings",
]  # fmt: skip
