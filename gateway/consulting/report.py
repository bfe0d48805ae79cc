"""The consulting report: a period and the one before it, per site, with its findings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .findings import THRESHOLDS, Change, Recommendation, changes, recommendations
from .usage import Columns, MachineUsage, Period, SiteInput, SiteUsage, Usage, site_usage

# ------------------------------------------------------------------------------ the report


@dataclass
class Report:
    scope: str  # the customer, or the site
    period: Period
    sites: list[SiteUsage]
    previous: list[SiteUsage]
    changes: list[Change]
    recommendations: list[Recommendation]

    @property
    def total(self) -> Usage:
        out = Usage()
        for s in self.sites:
            out.add(s.total)
        return out

    def by_shift(self) -> dict[str, Usage]:
        """Shift totals over the sites, by shift name (sites may define their own)."""
        out: dict[str, Usage] = {}
        for s in self.sites:
            for k, u in s.by_shift().items():
                out.setdefault(k, Usage()).add(u)
        return out

    def not_enough(self) -> list[MachineUsage]:
        return [m for s in self.sites for m in s.machines if not m.enough]

    def to_dict(self) -> dict[str, Any]:
        prev = self.period.previous()
        return {
            "scope": self.scope,
            "first_day": self.period.first.isoformat(),
            "last_day": self.period.last.isoformat(),
            "days": self.period.days,
            "previous": {"first_day": prev.first.isoformat(), "last_day": prev.last.isoformat()},
            **self.total.to_dict(),
            "by_shift": {k: v.to_dict() for k, v in self.by_shift().items()},
            "sites": [s.to_dict() for s in self.sites],
            "changes": [c.to_dict() for c in self.changes],
            "recommendations": [r.to_dict() for r in self.recommendations],
            "not_enough_data": [m.spec.asset_id for m in self.not_enough()],
            "thresholds": dict(THRESHOLDS),
        }


def build_report(
    scope: str,
    sites: Sequence[SiteInput],
    hours: Mapping[str, Columns],
    warnings: Mapping[str, Sequence[float]],
    period: Period,
) -> Report:
    """The report over `period` (each site's own calendar days) and its comparison with the
    period just before. `hours`: each asset's hourly rows (`Store.hourly_columns`) over
    `fetch_bounds`; `warnings`: the instants of each asset's warning events."""
    prev = period.previous()
    now_sites = [site_usage(s, hours, period) for s in sites]
    prev_sites = [site_usage(s, hours, prev) for s in sites]
    cs: list[Change] = []
    recs: list[Recommendation] = []
    for n, p in zip(now_sites, prev_sites, strict=True):
        site_changes = changes(n, p, warnings)
        cs += site_changes
        recs += recommendations(n, site_changes, period.days)
    return Report(scope, period, now_sites, prev_sites, cs, recs)
