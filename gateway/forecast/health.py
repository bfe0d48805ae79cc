"""Health assessment: ISO severity zones, a learned per-asset baseline, change detection and an
alarm state machine with hysteresis. Pure in-memory objects; `to_state()` / `from_state()` give
plain dicts the gateway can persist (JSON-safe).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

# Velocity RMS zone boundaries per machine group, (A/B, B/C, C/D) mm/s: a rule every layer
# shares, kept in gateway/domain.py.
from gateway.domain import ZONE_LIMITS as ZONE_LIMITS
from gateway.domain import ZONES as ZONES


def zone_limits(
    machine: str, override: Mapping[str, tuple[float, float, float]] | None = None
) -> tuple[float, float, float]:
    """Limits for a machine group/class; a per-asset `override` entry wins."""
    lim = (override or {}).get(machine) or ZONE_LIMITS.get(machine)
    if lim is None:
        known = sorted({*ZONE_LIMITS, *(override or {})})
        raise KeyError(f"unknown machine group {machine!r}; known: {known}")
    if not (0 < lim[0] < lim[1] < lim[2]):
        raise ValueError(f"zone limits must be increasing and positive: {lim}")
    return lim


def zone_index(v_rms_mm_s: ArrayLike, limits: tuple[float, float, float]) -> NDArray[np.int64]:
    """0..3 for zones A..D. A boundary value belongs to the lower zone (limits are maxima)."""
    return np.searchsorted(np.asarray(limits), np.asarray(v_rms_mm_s, np.float64), side="left")


def zone(
    v_rms_mm_s: float,
    machine: str = "group2_rigid",
    override: Mapping[str, tuple[float, float, float]] | None = None,
) -> str:
    return ZONES[int(zone_index(v_rms_mm_s, zone_limits(machine, override)))]


@dataclass
class Baseline:
    """Median / MAD of the first `n_learn` points of a feature; frozen once learned."""

    n_learn: int = 2016  # one week at 5-min reports
    min_scale: float = 1e-6  # floor on the spread so a perfectly flat start does not explode z
    _buf: list[float] = field(default_factory=list)
    median: float | None = None
    scale: float | None = None

    @property
    def ready(self) -> bool:
        return self.median is not None

    def update(self, x: float) -> float | None:
        """Feed one value; returns its robust z-score once the baseline is learned."""
        if self.median is None:
            self._buf.append(float(x))
            if len(self._buf) >= self.n_learn:
                a = np.asarray(self._buf)
                self.median = float(np.median(a))
                mad = float(np.median(np.abs(a - self.median)))
                self.scale = max(1.4826 * mad, self.min_scale, 1e-3 * abs(self.median))
                self._buf = []
            return None
        return self.z(x)

    def z(self, x: float) -> float:
        if self.median is None or self.scale is None:
            raise RuntimeError("baseline not learned yet")
        return (float(x) - self.median) / self.scale

    def to_state(self) -> dict[str, Any]:
        return {"n_learn": self.n_learn, "min_scale": self.min_scale, "buf": list(self._buf),
                "median": self.median, "scale": self.scale}  # fmt: skip

    @classmethod
    def from_state(cls, d: Mapping[str, Any]) -> Baseline:
        b = cls(int(d["n_learn"]), float(d["min_scale"]))
        b._buf = [float(x) for x in d.get("buf", [])]
        b.median = None if d.get("median") is None else float(d["median"])
        b.scale = None if d.get("scale") is None else float(d["scale"])
        return b


@dataclass
class ChangeDetector:
    """One-sided CUSUM on clipped z-scores: a persistent rise alarms, a single spike cannot.

    Clipping each z at `clip` bounds what one point adds (clip - k), so with the defaults at least
    four consecutive high points are needed to pass `h`.
    """

    k: float = 0.5  # allowance: drift below k sigma is ignored
    h: float = 8.0  # decision threshold
    clip: float = 3.0
    spike_z: float = 4.0  # a single |z| above this is reported as a spike
    s: float = 0.0

    def update(self, z: float) -> str:
        """Returns "persistent", "spike" or "none"."""
        self.s = max(0.0, self.s + min(z, self.clip) - self.k)
        if self.s > self.h:
            return "persistent"
        return "spike" if abs(z) > self.spike_z else "none"

    def reset(self) -> None:
        self.s = 0.0

    def to_state(self) -> dict[str, float]:
        return {"k": self.k, "h": self.h, "clip": self.clip, "spike_z": self.spike_z, "s": self.s}

    @classmethod
    def from_state(cls, d: Mapping[str, float]) -> ChangeDetector:
        return cls(float(d["k"]), float(d["h"]), float(d["clip"]), float(d["spike_z"]),
                   float(d["s"]))  # fmt: skip


Transition = tuple[float, str, str, str]  # (t, from_state, to_state, reason)


@dataclass
class AlarmMachine:
    """Hysteresis alarm: level i is entered when value > enter[i] (at once), and left only after
    `clear_after` consecutive points below clear[i] (< enter[i]), so noise at a limit cannot flap.
    A value at a zone limit is the lower zone (zone_index: limits are maxima), so an alert is
    never raised for a reading the page calls zone B.
    """

    enter: tuple[float, ...] = (4.5, 7.1)  # default: group-1 rigid zone C and D limits, mm/s
    clear: tuple[float, ...] = (4.0, 6.4)
    states: tuple[str, ...] = ("normal", "alert", "danger")
    clear_after: int = 3
    state: str = "normal"
    below: int = 0
    history: list[Transition] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.enter) != len(self.clear) or len(self.states) != len(self.enter) + 1:
            raise ValueError("need one enter and one clear level per non-normal state")
        if any(c >= e for c, e in zip(self.clear, self.enter, strict=True)):
            raise ValueError("each clear level must be below its enter level")

    @classmethod
    def for_zones(cls, limits: tuple[float, float, float], margin: float = 0.9) -> AlarmMachine:
        """Alert in zone C, danger in zone D; clear at `margin` of each limit."""
        e = (limits[1], limits[2])
        return cls(enter=e, clear=(e[0] * margin, e[1] * margin))

    def update(self, t: float, value: float) -> str:
        cur = self.states.index(self.state)
        up = sum(1 for x in self.enter if value > x)
        down = sum(1 for x in self.clear if value >= x)  # below clear[i]: under level i
        if up > cur:
            self._go(t, up, f"value {value:g} > enter {self.enter[up - 1]:g}")
        elif down < cur:
            self.below += 1
            if self.below >= self.clear_after:
                why = f"{self.below} points below clear {self.clear[cur - 1]:g}"
                self._go(t, down, why)
        else:
            self.below = 0
        return self.state

    def _go(self, t: float, level: int, reason: str) -> None:
        new = self.states[level]
        self.history.append((float(t), self.state, new, reason))
        self.state = new
        self.below = 0

    def to_state(self) -> dict[str, Any]:
        return {"enter": list(self.enter), "clear": list(self.clear), "states": list(self.states),
                "clear_after": self.clear_after, "state": self.state, "below": self.below,
                "history": [list(h) for h in self.history]}  # fmt: skip

    @classmethod
    def from_state(cls, d: Mapping[str, Any]) -> AlarmMachine:
        hist = [(float(h[0]), str(h[1]), str(h[2]), str(h[3])) for h in d.get("history", [])]
        return cls(tuple(d["enter"]), tuple(d["clear"]), tuple(d["states"]),
                   int(d["clear_after"]), str(d["state"]), int(d["below"]), hist)  # fmt: skip


# A node's `sensor_fault` reports carry no vibration (protocol/README.md, Sensor fault): they
# are never judged as vibration. A fault that lasts this long raises an alarm (gateway event
# `sensor_fault_alarm`): the asset is unwatched. Ten minutes rides out a loose connector that
# recovers, and is still well within one report interval of a shift.
SENSOR_FAULT_ALARM_S = 600.0


def is_sensor_fault(flags: int | None) -> bool:
    """The report says its vibration values are no measurement (zeros, not a quiet machine)."""
    return bool((flags or 0) & 16)  # protocol.frames.FLAG_SENSOR_FAULT


@dataclass
class SensorFaultWatch:
    """Follows one asset's reports: when did the current sensor fault start, and is it old
    enough to alarm. `update(ts, faulted)` returns 'alarm' once when the fault has lasted
    SENSOR_FAULT_ALARM_S, 'clear' once when a good report follows an alarmed fault, else None."""

    since: float | None = None  # node time of the first report of the current fault
    alarmed: bool = False
    limit_s: float = SENSOR_FAULT_ALARM_S

    def update(self, ts: float, faulted: bool) -> str | None:
        if not faulted:
            was = self.alarmed
            self.since = None
            self.alarmed = False
            return "clear" if was else None
        if self.since is None:
            self.since = ts
        if not self.alarmed and ts - self.since >= self.limit_s:
            self.alarmed = True
            return "alarm"
        return None

    def to_state(self) -> dict[str, Any]:
        return {"since": self.since, "alarmed": self.alarmed}

    @classmethod
    def from_state(cls, d: Mapping[str, Any] | None) -> SensorFaultWatch:
        if not d:
            return cls()
        since = d.get("since")
        return cls(None if since is None else float(since), bool(d.get("alarmed")))
