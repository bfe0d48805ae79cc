"""In-memory `FleetData` with a synthetic, deterministic fleet (tests, benchmark, offline demo).

Vibration follows level(u) = base * exp(g * (u - onset)) after onset (u = running hours since
install); the forecast is the time for that curve to reach the failure level, with a log-normal
spread. Histories are generated on demand from a per-asset seed, so 10,000 assets stay cheap.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime

import numpy as np

from .data import Row

HOUR = 3600.0
DAY = 86400.0
WEEK = 7 * DAY
ZONES = {"A": 1.12, "B": 2.8, "C": 7.1}  # ISO 10816 class II upper limits, mm/s
FAIL = 11.2
SPREAD = (0.55, 1.0, 1.7)  # P10, P50, P90 multipliers on the median life
PARTS = {"bearing": "6205-2RS", "gearbox": "GBX-OIL-SEAL", "fan": "FAN-BRG-6203", "pump": "MS-40"}
SITES = ("Osaka Works", "Nagoya Plant", "Kobe Yard", "Sendai Mill", "Fukuoka Line")


def iso(ts: float | None) -> str | None:
    """ISO 8601 UTC with a Z, whole seconds (time.strftime: 4x faster than datetime)."""
    if ts is None or not math.isfinite(ts):
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def day(ts: float | None) -> str | None:
    s = iso(ts)
    return s[:10] if s else None


class MemoryFleet:
    def __init__(self, n_assets: int = 40, seed: int = 7, now: float | None = None) -> None:
        self.now = float(now if now is not None else time.time())
        self._lock = threading.Lock()
        self._ver = 1
        self._rows: list[Row] | None = None
        self.users: dict[str, Row] = {}
        self._service: list[Row] = []
        self._ledger: list[Row] = []
        self._events: list[Row] = []
        rng = np.random.default_rng(seed)
        comps = list(PARTS)
        self.assets: dict[str, Row] = {}
        self._nodes: dict[str, Row] = {}
        for i in range(n_assets):
            aid = f"A{i + 1:05d}"
            site = SITES[i % len(SITES)]
            comp = comps[i % len(comps)]
            age_h = float(rng.uniform(500, 14000))
            util = float(rng.uniform(0.35, 0.95))
            degrading = bool(rng.random() < 0.35)
            a: Row = {
                "id": aid,
                "name": f"{comp.title()} {i + 1}",
                "site": site,
                "machine": f"Line {i % 7 + 1} / M{i % 13 + 1:02d}",
                "component": comp,
                "part_number": PARTS[comp],
                "node_id": f"N{i + 1:05d}",
                "seed": seed * 100003 + i,
                "util": util,
                "base": float(rng.uniform(0.6, 1.6)),
                "g": 0.0,
                "onset_h": 1e12,
                "installed": self.now - age_h / util * HOUR,
                "runtime0": float(rng.uniform(0, 20000)),
                "starts_per_h": float(rng.uniform(0.02, 0.3)),
                "last_seen": self.now - float(rng.exponential(120)),
            }
            if degrading:  # pick today's level, then the growth that leads there
                a["onset_h"] = age_h * float(rng.uniform(0.6, 0.92))
                target = float(rng.choice([rng.uniform(1.3, 3.0), rng.uniform(2.8, 8.5)]))
                a["g"] = max(1e-5, math.log(max(target, a["base"] * 1.05) / a["base"])) / (
                    age_h - a["onset_h"]
                )
            self.assets[aid] = a
            self._nodes[a["node_id"]] = {
                "id": a["node_id"],
                "asset_id": aid,
                "site": site,
                "firmware": "1.4.2" if i % 9 else "1.3.7",
                "last_birth": self.now - float(rng.uniform(1, 40)) * DAY,
                "reset_causes": {
                    "power_on": 1 + i % 3,
                    "watchdog": i % 5 // 4,
                    "brownout": i % 11 // 10,
                },
                "dropped_frames": int(rng.poisson(3)),
                "frames": int(rng.uniform(5e4, 3e5)),
                "rssi_dbm": round(float(rng.uniform(-92, -48)), 1),
                "link_quality": round(float(rng.uniform(0.6, 1.0)), 3),
                "battery_v": round(float(rng.uniform(3.3, 4.1)), 2) if i % 4 == 0 else None,
            }
            if degrading and self._level(a, self._age_h(a)) > ZONES["B"]:
                self._events.append(
                    {
                        "ts": self.now - float(rng.uniform(1, 20)) * DAY,
                        "asset_id": aid,
                        "kind": "alarm",
                        "severity": "warning",
                        "message": "Vibration entered zone C",
                    }
                )

    # -- model ------------------------------------------------------------------------------
    def _age_h(self, a: Row, at: float | None = None) -> float:
        t = at if at is not None else self.now
        return max(0.0, float((t - a["installed"]) / HOUR * a["util"]))

    def _level(self, a: Row, u: float) -> float:
        return float(a["base"] * math.exp(a["g"] * max(0.0, u - a["onset_h"])))

    def _rul_h(self, a: Row) -> tuple[float, float, float, str]:
        u = self._age_h(a)
        lv = self._level(a, u)
        if a["g"] > 0 and u > a["onset_h"]:
            p50 = max(0.0, math.log(FAIL / lv) / a["g"])
            status = "degrading"
        else:
            p50 = max(200.0, 25000.0 - u)
            status = "healthy_no_trend"
        return p50 * SPREAD[0], p50, p50 * SPREAD[2], status

    def _bump(self) -> None:
        self._ver += 1
        self._rows = None

    def version(self) -> int:
        return self._ver

    def _row(self, a: Row) -> Row:
        u = self._age_h(a)
        lv = self._level(a, u)
        prev = self._level(a, max(0.0, u - 168 * a["util"]))
        zone = (
            "A"
            if lv <= ZONES["A"]
            else "B"
            if lv <= ZONES["B"]
            else "C"
            if lv <= ZONES["C"]
            else "D"
        )
        change = (lv - prev) / prev if prev > 0 else 0.0
        trend = "rising" if change > 0.03 else "falling" if change < -0.03 else "stable"
        p10, p50, p90, status = self._rul_h(a)
        cal = HOUR / a["util"]
        d10 = self.now + p10 * cal
        win = self._window_for(a["site"], d10)
        node = self._nodes[a["node_id"]] if a["node_id"] else None
        seen_age = self.now - a["last_seen"]
        nh = "ok" if seen_age < 900 else "stale" if seen_age < DAY else "offline"
        if node and nh == "ok" and (node["battery_v"] or 4.0) < 3.45:
            nh = "battery_low"
        return {
            "id": a["id"],
            "name": a["name"],
            "site": a["site"],
            "machine": a["machine"],
            "component": a["component"],
            "health": zone,
            "trend": trend,
            "trend_pct_week": round(change * 100, 1),
            "vel_rms": round(lv, 3),
            "temp_c": round(35 + 1.5 * lv, 1),
            "readings": {
                "vel_rms": round(lv, 3),
                "peak": round(lv * 3.1, 3),
                "temp_c": round(35 + 1.5 * lv, 1),
            },
            "runtime_h": round(a["runtime0"] + u, 1),
            "starts": int((a["runtime0"] + u) * a["starts_per_h"]),
            "rul_p10_h": round(p10, 1),
            "rul_p50_h": round(p50, 1),
            "rul_p90_h": round(p90, 1),
            "rul_p10_date": day(d10),
            "rul_p50_date": day(self.now + p50 * cal),
            "rul_p90_date": day(self.now + p90 * cal),
            "forecast_status": status,
            "window_id": win["id"] if win else None,
            "window_start": iso(win["start"]) if win else None,
            "window_end": iso(win["end"]) if win else None,
            "due_ts": win["start"] if win else None,
            "last_seen": iso(a["last_seen"]),
            "node_id": a["node_id"],
            "node_health": nh if node else "none",
            "zones": dict(ZONES),
            "part_number": a["part_number"],
        }

    # -- FleetData --------------------------------------------------------------------------
    def overview(self) -> list[Row]:
        with self._lock:
            if self._rows is None:
                self._rows = [self._row(a) for a in self.assets.values()]
            return self._rows

    def asset(self, asset_id: str) -> Row | None:
        a = self.assets.get(asset_id)
        return None if a is None else self._row(a)

    def history(self, asset_id: str, start: float, end: float) -> dict[str, list[float]]:
        a = self.assets[asset_id]
        out: dict[str, list[float]] = {"t": [], "vel_rms": [], "runtime_h": [], "starts": []}
        segments = [*a.get("past", []), {**a, "until": math.inf}]
        lo = start
        for seg in segments:  # earlier parts of this asset, then the current one
            hi = min(end, seg["until"])
            if hi > lo:
                part = self._segment(seg, lo, hi)
                for k in out:
                    out[k] += part[k]
            lo = max(lo, seg["until"])
        return out

    def _segment(self, a: Row, start: float, end: float) -> dict[str, list[float]]:
        t0 = max(start, a["installed"])
        t = np.arange(math.ceil(t0 / HOUR) * HOUR, min(end, self.now) + 1, HOUR)
        rng = np.random.default_rng(a["seed"] + int(t0 // DAY))
        running = rng.random(t.size) < a["util"]
        u = (t - a["installed"]) / HOUR * a["util"]
        lv = a["base"] * np.exp(a["g"] * np.maximum(0.0, u - a["onset_h"]))
        v = lv * rng.lognormal(0, 0.06, t.size)
        rt = a["runtime0"] + np.cumsum(running) + self._age_h(a, t0)
        starts = np.cumsum(running & ~np.roll(running, 1)) + int(a["runtime0"] * a["starts_per_h"])
        return {
            "t": t.tolist(),
            "vel_rms": np.round(v, 3).tolist(),
            "runtime_h": np.round(rt, 1).tolist(),
            "starts": np.asarray(starts, dtype=float).tolist(),
        }

    def cone(self, asset_id: str) -> Row:
        a = self.assets[asset_id]
        u = self._age_h(a)
        lv = self._level(a, u)
        p10, p50, p90, status = self._rul_h(a)
        cal = HOUR / a["util"]
        out: Row = {"t": [], "p10": [], "p50": [], "p90": [], "fail_level": FAIL, "status": status}
        if status != "degrading":
            return out
        horizon = p90 * 1.05
        for k in range(25):
            h = horizon * k / 24
            out["t"].append(self.now + h * cal)
            # P10 life = fastest growth: its level curve is the upper edge of the cone.
            for key, life in (("p10", p10), ("p50", p50), ("p90", p90)):
                g = math.log(FAIL / lv) / life if life > 0 else 1.0
                out[key].append(round(min(FAIL, lv * math.exp(g * h)), 3))
        return out

    def events(self, asset_id: str | None = None, limit: int = 200) -> list[Row]:
        ev = [e for e in self._events if asset_id is None or e["asset_id"] == asset_id]
        return sorted(ev, key=lambda e: -e["ts"])[:limit]

    def service_log(self, asset_id: str | None = None) -> list[Row]:
        s = [e for e in self._service if asset_id is None or e["asset_id"] == asset_id]
        return sorted(s, key=lambda e: -e["ts"])

    def parts(self, asset_id: str) -> list[Row]:
        a = self.assets[asset_id]
        used = [s for s in self.service_log(asset_id) if s["part"]]
        # Same keys as the store-backed fleet; a synthetic asset's install time is either its
        # generated first data or the latest replacement recorded through the page.
        replaced = any(s["kind"] == "replacement" for s in used)
        installed = {"part": a["part_number"], "name": a["component"], "role": "installed",
                     "since": iso(a["installed"]),
                     "since_source": "replacement" if replaced else "first_data"}  # fmt: skip
        return [
            installed,
            *({"part": s["part"], "name": a["component"], "role": "replaced",
               "since": iso(s["ts"]), "since_source": "replacement"} for s in used),
        ]  # fmt: skip

    def correct_ledger(
        self, entry_id: int, acted_on_warning: bool, downtime_avoided_h: float, user: str
    ) -> Row:
        from gateway import service_entry as rules

        hours = rules.check_downtime(downtime_avoided_h, acted_on_warning)
        with self._lock:
            for e in self._service:
                if e["id"] == entry_id:
                    e.update(acted_on_warning=acted_on_warning, downtime_avoided_h=hours)
                    self._ver += 1
                    return dict(e)
        raise KeyError(entry_id)

    def record_service(
        self,
        asset_id: str,
        kind: str,
        user: str,
        note: str = "",
        part: str = "",
        acted_on_warning: bool = False,
        downtime_avoided_h: float = 0.0,
        date: str | None = None,
    ) -> Row:
        # Same rules as the store-backed fleet; the synthetic wear reset still happens "now".
        from gateway import service_entry as rules

        rules.check_kind(kind)
        rules.check_downtime(downtime_avoided_h, acted_on_warning)
        if part and part != self.assets[asset_id]["part_number"]:
            raise ValueError(f"asset {asset_id} has no part {part!r}")
        today = datetime.fromtimestamp(self.now, UTC).date()
        day = rules.check_date(date, today) if date else None
        with self._lock:
            a = self.assets[asset_id]
            ts = max(self.now, (self._service[-1]["ts"] + 1) if self._service else 0)
            if day is not None:
                ts = datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()
            entry = {
                "id": len(self._service) + 1,
                "ts": ts,
                "asset_id": asset_id,
                "kind": kind,
                "part": part or (a["part_number"] if kind == "replacement" else ""),
                "note": note,
                "user": user,
                "acted_on_warning": acted_on_warning,
                "downtime_avoided_h": downtime_avoided_h,
            }
            self._service.append(entry)
            if kind == "replacement":
                keep = (
                    "installed",
                    "base",
                    "g",
                    "onset_h",
                    "runtime0",
                    "util",
                    "seed",
                    "starts_per_h",
                )
                a.setdefault("past", []).append(
                    {**{k: a[k] for k in keep}, "until": self.now - HOUR}
                )
                a["runtime0"] += self._age_h(a)
                a["installed"] = self.now - HOUR
                a["onset_h"] = 1e12
                a["g"] = 0.0
            if acted_on_warning:
                self._ledger.append(entry)
            self._events.append(
                {
                    "ts": ts,
                    "asset_id": asset_id,
                    "kind": "service",
                    "severity": "info",
                    "message": f"{kind} recorded by {user}",
                }
            )
            self._bump()
            return entry

    def ledger(self) -> list[Row]:
        return list(self._ledger)

    def _site_windows(self, site: str) -> list[Row]:
        first = (self.now // WEEK + 1) * WEEK + 2 * DAY + 6 * HOUR  # Saturdays 06:00 UTC
        k = SITES.index(site) if site in SITES else 0
        return [
            {
                "id": f"{site[:3].upper()}-{j}",
                "site": site,
                "start": first + (2 * j + k % 2) * WEEK,
                "end": first + (2 * j + k % 2) * WEEK + 8 * HOUR,
            }
            for j in range(7)
        ]

    def _window_for(self, site: str, due: float) -> Row | None:
        ws = [w for w in self._site_windows(site) if w["end"] <= due]
        return (
            ws[-1] if ws else (self._site_windows(site)[0] if due < self.now + 14 * WEEK else None)
        )

    def windows(self, site: str | None = None) -> list[Row]:
        rows = self.overview()
        out = []
        for s in [site] if site else self.sites():
            for w in self._site_windows(s):
                jobs = [
                    {
                        "asset_id": r["id"],
                        "name": r["name"],
                        "machine": r["machine"],
                        "kind": "replacement" if r["health"] in "CD" else "inspection",
                        "part": r["part_number"],
                        "health": r["health"],
                        "rul_p10_date": r["rul_p10_date"],
                    }
                    for r in rows
                    if r["window_id"] == w["id"] and r["site"] == s
                ]
                out.append({**w, "start": iso(w["start"]), "end": iso(w["end"]), "jobs": jobs})
        return out

    def parts_demand(self, weeks: int) -> list[Row]:
        limit = self.now + weeks * WEEK
        count: dict[str, int] = {}
        for r in self.overview():
            if r["due_ts"] is not None and r["due_ts"] <= limit and r["health"] in "CD":
                count[r["part_number"]] = count.get(r["part_number"], 0) + 1
        return [{"part": p, "weeks": weeks, "quantity": q} for p, q in sorted(count.items())]

    def nodes(self) -> list[Row]:
        out = []
        for n in self._nodes.values():
            a = self.assets.get(n["asset_id"]) if n["asset_id"] else None
            out.append(
                {
                    **n,
                    "last_birth": iso(n["last_birth"]),
                    "last_seen": iso(a["last_seen"]) if a else None,
                }
            )
        return out

    def sites(self) -> list[str]:
        return sorted({a["site"] for a in self.assets.values()})

    def site_report(self, site: str, days: int) -> Row:
        rows = [r for r in self.overview() if r["site"] == site]
        assets = [self.assets[r["id"]] for r in rows]
        start = (self.now // DAY - days + 1) * DAY
        per_day: list[Row] = []
        util = np.array([a["util"] for a in assets]) if assets else np.zeros(0)
        for d in range(days):
            rng = np.random.default_rng(int(start // DAY) + d)
            hours = np.clip(util * 24 * rng.normal(1, 0.08, util.size), 0, 24)
            per_day.append(
                {"date": day(start + d * DAY), "runtime_h": round(float(hours.sum()), 1)}
            )
        total = sum(p["runtime_h"] for p in per_day)
        return {
            "site": site,
            "days": days,
            "assets": rows,
            "utilisation": round(total / max(1, len(rows) * days * 24), 3),
            "runtime_per_day": per_day,
            "zones": {z: sum(1 for r in rows if r["health"] == z) for z in "ABCD"},
        }

    def get_user(self, name: str) -> Row | None:
        return self.users.get(name)

    def list_users(self) -> list[Row]:
        return [{k: v for k, v in u.items() if k != "password_hash"} for u in self.users.values()]

    def add_user(self, name: str, role: str, password_hash: str) -> None:
        if name in self.users:
            raise ValueError(f"user {name!r} exists")
        self.users[name] = {
            "name": name,
            "role": role,
            "password_hash": password_hash,
            "disabled": False,
        }

    def set_user(self, name: str, role: str | None = None, disabled: bool | None = None) -> None:
        u = self.users[name]
        if role is not None:
            u["role"] = role
        if disabled is not None:
            u["disabled"] = disabled

    def update_asset(self, asset_id: str, fields: Row) -> None:
        a = self.assets[asset_id]
        for k in ("name", "site", "machine"):
            if fields.get(k):
                a[k] = str(fields[k])
        self._bump()

    def assign_node(self, node_id: str, asset_id: str | None) -> None:
        n = self._nodes[node_id]
        if n["asset_id"] in self.assets:
            self.assets[n["asset_id"]]["node_id"] = None
        n["asset_id"] = asset_id
        if asset_id:
            self.assets[asset_id]["node_id"] = node_id
        self._bump()
