"""Findings of the consulting report: recommendations that fire only on notable, consistent
differences (THRESHOLDS, stated on the page), and the change since the previous period."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.shifts import OUTSIDE

from .usage import MIN_FULL_DAYS, MIN_MONITORED_H, MachineUsage, SiteUsage, Usage

# What counts as notable (docs/SERVICE.md "Consulting report"; the page states them).
NOTABLE_RATIO = 3.0  # one figure at least 3x another
MIN_STARTS_DIFF = 10.0  # ... and at least 10 starts a day more
CONSISTENT_SHARE = 0.8  # ... on at least 80 % of its full days (one bad day is noise)
ZONE_MIN_H = 4.0  # running hours in zone C (or D) before they are a finding
ZONE_SHARE = 0.10  # ... and at least this share of the machine's running hours
ZONE_D_MIN_H = 1.0
SHIFT_SHARE = 0.8  # zone hours concentrated in one shift
IDLE_UTIL = 0.05  # a machine running under 5 % of its monitored hours ...
BUSY_UTIL = 0.25  # ... while the others at its site run a median of 25 % or more
SHIFT_GAP = 0.30  # utilisation of two shifts 30 points apart
MIN_SHIFT_H = 24.0  # monitored hours a shift needs before it is compared
CHANGE_UTIL = 0.20  # utilisation moved 20 points since the previous period
CHANGE_RATIO = 2.0  # starts per day at least doubled (and MIN_STARTS_DIFF more)

THRESHOLDS: dict[str, float] = {
    "min_monitored_h": MIN_MONITORED_H,
    "notable_ratio": NOTABLE_RATIO,
    "min_starts_diff_per_day": MIN_STARTS_DIFF,
    "consistent_share": CONSISTENT_SHARE,
    "zone_min_h": ZONE_MIN_H,
    "zone_share": ZONE_SHARE,
    "zone_d_min_h": ZONE_D_MIN_H,
    "shift_share": SHIFT_SHARE,
    "idle_utilisation": IDLE_UTIL,
    "busy_utilisation": BUSY_UTIL,
    "shift_gap": SHIFT_GAP,
    "change_utilisation": CHANGE_UTIL,
    "change_ratio": CHANGE_RATIO,
}


# ------------------------------------------------------------------------------ findings


@dataclass(frozen=True)
class Recommendation:
    """A finding in words with its figures, and what to do about it."""

    kind: str  # start_stop | zone_shift | zone_time | idle | shift_pattern | change
    site: str
    asset_id: str | None
    text: str
    advice: str
    figures: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "site": self.site,
            "asset_id": self.asset_id,
            "text": self.text,
            "advice": self.advice,
            "figures": {k: round(v, 3) for k, v in self.figures.items()},
        }


@dataclass(frozen=True)
class Change:
    """One machine, this period against the previous one (None: not enough data then)."""

    site: str
    asset_id: str
    name: str
    utilisation: tuple[float | None, float | None]
    starts_per_day: tuple[float | None, float | None]
    zone_c_h: tuple[float | None, float | None]
    zone_d_h: tuple[float | None, float | None]
    warnings: tuple[int, int]
    typical_starts: tuple[float | None, float | None] = (None, None)  # median of full days

    def to_dict(self) -> dict[str, Any]:
        def pair(v: tuple[float | None, float | None], nd: int) -> dict[str, float | None]:
            now, prev = v
            return {
                "now": None if now is None else round(now, nd),
                "previous": None if prev is None else round(prev, nd),
            }

        return {
            "site": self.site,
            "asset_id": self.asset_id,
            "name": self.name,
            "utilisation": pair(self.utilisation, 3),
            "starts_per_day": pair(self.starts_per_day, 1),
            "zone_c_h": pair(self.zone_c_h, 1),
            "zone_d_h": pair(self.zone_d_h, 1),
            "warnings": {"now": self.warnings[0], "previous": self.warnings[1]},
        }


def _pct(x: float) -> str:
    return f"{x * 100:.1f} %" if 0 < x < 0.1 else f"{x * 100:.0f} %"


def _n(x: float) -> str:
    return f"{x:.0f}" if x >= 10 or x == int(x) else f"{x:.1f}"


def _others(machines: Sequence[MachineUsage], m: MachineUsage) -> list[MachineUsage]:
    return [o for o in machines if o is not m and o.enough]


def _against(peers: Sequence[MachineUsage], value: float, unit: str, site: str) -> str:
    if len(peers) == 1:
        return f"against {_n(value)}{unit} for {peers[0].spec.name}"
    return f"against a median of {_n(value)}{unit} for the other {len(peers)} machines at {site}"


def start_stop(site: SiteUsage) -> list[Recommendation]:
    """A machine that starts far more often than the others at its site, day after day."""
    out = []
    for m in site.machines:
        peers = _others(site.machines, m)
        spd = m.total.starts_per_day
        if not m.enough or not peers or spd is None:
            continue
        ref = statistics.median(o.total.starts_per_day or 0.0 for o in peers)
        if spd < NOTABLE_RATIO * ref or spd - ref < MIN_STARTS_DIFF:
            continue
        days = m.full_days()
        above = sum(1 for d in days if d.starts > ref)
        if len(days) < MIN_FULL_DAYS or above < CONSISTENT_SHARE * len(days):
            continue
        out.append(
            Recommendation(
                "start_stop",
                site.site,
                m.spec.asset_id,
                f"{m.spec.name} starts {_n(spd)} times a day "
                f"{_against(peers, ref, '', site.site)} (more on {above} of {len(days)} "
                "full days).",
                "Every start loads the motor, coupling and bearings harder than steady "
                "running: check whether it can idle between jobs instead of stopping, and "
                "that its soft start or drive ramp is set.",
                {"starts_per_day": spd, "reference_per_day": ref, "days_above": above},
            )
        )
    return out


def _shift_label(site: SiteUsage, name: str) -> str:
    s = next((x for x in site.shifts if x.name == name), None)
    return f"the {name} shift ({s.label})" if s else name


def zone_findings(site: SiteUsage) -> list[Recommendation]:
    """Running time in zone D, and zone C, per machine; said per shift when one shift holds
    most of it and runs in that zone far more than the other shifts do."""
    out = []
    for m in site.machines:
        if not m.enough:
            continue
        run = m.total.running_h
        for z in ("D", "C"):
            zh = m.total.zone_h[z]
            least = ZONE_D_MIN_H if z == "D" else max(ZONE_MIN_H, ZONE_SHARE * run)
            if zh < least:
                continue
            shift = max(m.by_shift, key=lambda k: m.by_shift[k].zone_h[z])
            on = m.by_shift[shift]
            rest_run = run - on.running_h
            rest_z = zh - on.zone_h[z]
            rate_on = on.zone_h[z] / on.running_h if on.running_h else 0.0
            rate_rest = rest_z / rest_run if rest_run else 0.0
            concentrated = (
                on.zone_h[z] >= SHIFT_SHARE * zh
                and rest_run >= ZONE_MIN_H
                and rate_on >= NOTABLE_RATIO * rate_rest
            )
            figs = {"zone_h": zh, "running_h": run}
            advice = (
                "Zone D: vibration of this severity can damage the machine; stop and inspect "
                "at the earliest opportunity."
                if z == "D"
                # When is the outlook's to say (a planned stop, or an unplanned one before
                # zone D at the current pace): a fixed "next planned stop" here contradicted it.
                else "Zone C (ISO 10816/20816): not for long-term running; remedial work is "
                "needed, by the date the machine's recommended action gives."
            )
            if concentrated:
                only = "only" if rest_z == 0 else f"mostly ({_pct(on.zone_h[z] / zh)})"
                text = (
                    f"{m.spec.name} runs in zone {z} on {_shift_label(site, shift)} {only}: "
                    f"{_n(on.zone_h[z])} of its {_n(on.running_h)} running hours on that shift, "
                    f"against {_n(rest_z)} of {_n(rest_run)} on the other shifts."
                )
                advice = (
                    "Compare what that shift does differently (load, speed, product, settings): "
                    "the machine itself is fine on the other shifts. " + advice
                )
                figs |= {"shift_zone_h": on.zone_h[z], "shift_running_h": on.running_h}
                out.append(
                    Recommendation("zone_shift", site.site, m.spec.asset_id, text, advice, figs)
                )
            else:
                text = (
                    f"{m.spec.name} ran {_n(zh)} h in zone {z}, {_pct(zh / run)} of its "
                    f"{_n(run)} running hours."
                )
                out.append(
                    Recommendation("zone_time", site.site, m.spec.asset_id, text, advice, figs)
                )
            break  # zone D said, zone C is implied
    return out


def idle_machines(site: SiteUsage) -> list[Recommendation]:
    out = []
    for m in site.machines:
        peers = _others(site.machines, m)
        u = m.total.utilisation
        if not m.enough or not peers or u is None or u >= IDLE_UTIL:
            continue
        ref = statistics.median(o.total.utilisation or 0.0 for o in peers)
        if ref < BUSY_UTIL:
            continue
        out.append(
            Recommendation(
                "idle",
                site.site,
                m.spec.asset_id,
                f"{m.spec.name} ran {_n(m.total.running_h)} h of {_n(m.total.monitored_h)} "
                f"monitored hours ({_pct(u)}) "
                + (
                    f"against {_pct(ref)} for {peers[0].spec.name}."
                    if len(peers) == 1
                    else f"against a median of {_pct(ref)} for the other {len(peers)} "
                    f"machines at {site.site}."
                ),
                "If it is a standby, switch duty with its twin now and then so its bearings "
                "and seals do not stand still for weeks (standstill marks); if it is not "
                "needed, it can come off the service plan.",
                {"utilisation": u, "reference_utilisation": ref, "running_h": m.total.running_h},
            )
        )
    return out


def shift_pattern(site: SiteUsage) -> list[Recommendation]:
    """The site's busiest and quietest shift, when they are far apart."""
    judged = [m for m in site.machines if m.enough]
    if not judged:
        return []
    shifts: dict[str, Usage] = {}
    for m in judged:
        for k, u in m.by_shift.items():
            shifts.setdefault(k, Usage()).add(u)
    seen = {k: u for k, u in shifts.items() if k != OUTSIDE and u.monitored_h >= MIN_SHIFT_H}
    if len(seen) < 2:
        return []
    busy = max(seen, key=lambda k: seen[k].utilisation or 0.0)
    quiet = min(seen, key=lambda k: seen[k].utilisation or 0.0)
    ub, uq = seen[busy].utilisation or 0.0, seen[quiet].utilisation or 0.0
    if ub - uq < SHIFT_GAP:
        return []
    return [
        Recommendation(
            "shift_pattern",
            site.site,
            None,
            f"At {site.site} the machines run {_pct(ub)} of {_shift_label(site, busy)} "
            f"against {_pct(uq)} of {_shift_label(site, quiet)}.",
            f"Planned stops cost least in {_shift_label(site, quiet)}; where the process "
            "allows, work moved there lowers the peak load of the busy shift.",
            {"busy_utilisation": ub, "quiet_utilisation": uq},
        )
    ]


def _count(ts: Sequence[float], bounds: tuple[float, float]) -> int:
    return sum(1 for t in ts if bounds[0] <= t < bounds[1])


def changes(
    now: SiteUsage, prev: SiteUsage, warnings: Mapping[str, Sequence[float]]
) -> list[Change]:
    out = []
    for m in now.machines:
        p = prev.machine(m.spec.asset_id)

        def val(u: MachineUsage | None, pick: Any) -> float | None:
            return pick(u.total) if u is not None and u.enough else None

        w = warnings.get(m.spec.asset_id, ())
        out.append(
            Change(
                now.site,
                m.spec.asset_id,
                m.spec.name,
                (val(m, lambda t: t.utilisation), val(p, lambda t: t.utilisation)),
                (val(m, lambda t: t.starts_per_day), val(p, lambda t: t.starts_per_day)),
                (val(m, lambda t: t.zone_h["C"]), val(p, lambda t: t.zone_h["C"])),
                (val(m, lambda t: t.zone_h["D"]), val(p, lambda t: t.zone_h["D"])),
                (_count(w, now.period.bounds(now.tz)), _count(w, prev.period.bounds(prev.tz))),
                (
                    m.typical_starts() if m.enough else None,
                    p.typical_starts() if p is not None and p.enough else None,
                ),
            )
        )
    return out


def change_findings(cs: Sequence[Change], days: int) -> list[Recommendation]:
    out = []
    span = f"the previous {days} days"
    for c in cs:
        (u, up), (s, sp) = c.utilisation, c.starts_per_day
        ts, tsp = c.typical_starts
        if u is not None and up is not None and abs(u - up) >= CHANGE_UTIL:
            out.append(
                Recommendation(
                    "change",
                    c.site,
                    c.asset_id,
                    f"{c.name} ran {_pct(u)} of its monitored hours, "
                    f"{'up' if u > up else 'down'} from {_pct(up)} in {span}.",
                    "Ask what changed (orders, product, schedule): the service plan and the "
                    "remaining-life dates follow its utilisation.",
                    {"utilisation": u, "previous_utilisation": up},
                )
            )
        if (
            s is not None
            and sp is not None
            and s >= CHANGE_RATIO * sp
            and s - sp >= MIN_STARTS_DIFF
            # the typical day moved too, not one day of many starts
            and ts is not None
            and tsp is not None
            and ts >= CHANGE_RATIO * tsp
            and ts - tsp >= MIN_STARTS_DIFF
        ):
            out.append(
                Recommendation(
                    "change",
                    c.site,
                    c.asset_id,
                    f"{c.name} starts {_n(s)} times a day, up from {_n(sp)} in {span}.",
                    "Ask what changed in how it is run (control settings, batch sizes): "
                    "frequent starts wear the drive.",
                    {"starts_per_day": s, "previous_starts_per_day": sp},
                )
            )
    return out


def recommendations(now: SiteUsage, cs: Sequence[Change], days: int) -> list[Recommendation]:
    return (
        zone_findings(now)
        + start_stop(now)
        + idle_machines(now)
        + change_findings([c for c in cs if c.site == now.site], days)
        + shift_pattern(now)
    )
