"""Early warnings a service team can act on: per-bearing excursions over a learned baseline.

What makes a warning here (docs/FORECASTING.md, "Warnings"):

- Time, not points: readings are grouped into blocks of `block_s` running seconds (at least
  `min_block_points` readings, so a slow cadence still gets a median of several points), the
  baseline is the median of the block medians over the first `baseline_s` running seconds
  (after `settle_s` of run-in), and an excursion must hold for `hold_s` running seconds.
- Early bearing signs beside the level: acceleration RMS and peak (level), Pearson kurtosis and
  crest factor (impacts from a spall show here before the RMS moves), and temperature rise over
  the asset's own baseline (ambient-corrected when an ambient reading is given).
- Shared excursions are not one bearing's: on a machine with several monitored positions each
  position's ratio is divided by the median ratio of its machine mates (floored at 1), so a rise
  of the whole housing (load, speed, a neighbour failing loudly) does not warn every bearing.
  A rise shared by the mates is reported as `machine_excursion` instead.
- Ratios to the asset's own baseline, never z-scores: a very steady baseline gives a tiny
  spread, and z-scores against it alarmed on every IMS bearing (issue 14).
- A warning latches: it stays until the part is replaced or the service marks it false
  (`reset()`), so it cannot drop out before the failure. It says why, in words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

CHANNELS = ("rms", "velocity", "peak", "kurtosis", "crest", "temp")
_WORDS = {
    "rms": "RMS",
    "velocity": "velocity RMS",
    "peak": "peak",
    "kurtosis": "kurtosis",
    "crest": "crest factor",
}


@dataclass(frozen=True)
class WarningParams:
    """Every constant of the warning rule; see docs/FORECASTING.md for how each was chosen."""

    block_s: float = 3600.0  # running seconds per block
    min_block_points: int = 3  # a block closes only once it holds this many readings
    settle_s: float = 0.0  # run-in skipped before the baseline starts
    baseline_s: float = 86400.0  # running seconds of blocks the baseline is learned from
    hold_s: float = 6 * 3600.0  # an excursion must last this long to warn
    level_ratio: float = 2.0  # RMS or peak at 2x the baseline (+6 dB)
    kurt_ratio: float = 1.5  # Pearson kurtosis (excess + 3) at 1.5x the baseline
    crest_ratio: float = 1.5  # crest factor (peak / RMS) at 1.5x the baseline
    temp_rise_c: float = 15.0  # degC over the asset's baseline (over ambient when known)

    @classmethod
    def preset(cls, name: str) -> WarningParams:
        """`field` (machines in service, lives of months) or `accelerated_rig` (lives of hours)."""
        if name == "field":
            return cls()
        if name == "accelerated_rig":
            return cls(block_s=300.0, baseline_s=900.0, hold_s=600.0)
        raise KeyError(f"unknown warning preset {name!r}; known: field, accelerated_rig")

    def threshold(self, channel: str) -> float:
        return {
            "rms": self.level_ratio,
            "velocity": self.level_ratio,
            "peak": self.level_ratio,
            "kurtosis": self.kurt_ratio,
            "crest": self.crest_ratio,
            "temp": self.temp_rise_c,
        }[channel]

    def to_state(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_state(cls, d: Mapping[str, float | int]) -> WarningParams:
        return cls(**{k: type(getattr(cls(), k))(v) for k, v in d.items()})


def preset_for_life(life_s: float) -> str:
    """The warning preset for parts whose shortest life is `life_s` running seconds: `field`
    when its baseline (learned over the first running day) fits in the first quarter of that
    life, else `accelerated_rig` (lives of hours: its baseline is 15 running minutes). The
    gateway always uses `field`; this serves `kizashi rul` on a data set it does not know."""
    field_ = WarningParams()
    return "field" if field_.settle_s + field_.baseline_s <= 0.25 * life_s else "accelerated_rig"


@dataclass(frozen=True)
class Warning_:
    """One raised warning: when, which position, and why in words."""

    t_running_s: float
    position: str
    channel: str
    value: float  # ratio to baseline (temperature: degC over baseline)
    held_s: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Warning_:
        return cls(float(d["t_running_s"]), str(d["position"]), str(d["channel"]),
                   float(d["value"]), float(d["held_s"]), str(d["reason"]))  # fmt: skip


def readings_from_features(feats: Mapping[str, float]) -> dict[str, float]:
    """Node features of one reading (rms_*, vel_rms*, peak_*, kurt_*, optional temp_c,
    ambient_c) -> the channels the rule watches. Axes are combined: mean acceleration RMS,
    max velocity RMS (as the ISO zones take it), max peak, mean kurtosis."""
    rms = [v for k, v in feats.items() if k.startswith("rms_") and math.isfinite(v)]
    vel = [v for k, v in feats.items() if k.startswith("vel_rms") and math.isfinite(v)]
    peak = [v for k, v in feats.items() if k.startswith("peak") and math.isfinite(v)]
    kurt = [v for k, v in feats.items() if k.startswith("kurt") and math.isfinite(v)]
    out: dict[str, float] = {}
    if rms:
        out["rms"] = float(np.mean(rms))
    if vel:
        out["velocity"] = float(max(vel))
    if peak:
        out["peak"] = float(max(peak))
    if kurt:
        out["kurtosis"] = float(np.mean(kurt)) + 3.0  # Pearson: positive, 3 for Gaussian noise
    if rms and peak and out["rms"] > 0:
        out["crest"] = out["peak"] / out["rms"]
    temp = feats.get("temp_c")
    if temp is not None and math.isfinite(temp):
        amb = feats.get("ambient_c")
        out["temp"] = float(temp) - (float(amb) if amb is not None and math.isfinite(amb) else 0)
    return out


def _hours(s: float) -> str:
    h = s / 3600.0
    if h >= 1.0:
        return f"{h:.0f} running hours" if h >= 10 else f"{h:.1f} running hours"
    return f"{s / 60.0:.0f} running minutes"


@dataclass
class _Position:
    """Per-position state: the open block, the baseline blocks, excursion starts, the latch."""

    block: dict[str, list[float]] = field(default_factory=dict)
    block_start: float | None = None
    n_points: int = 0
    base_blocks: dict[str, list[float]] = field(default_factory=dict)
    base_span_s: float = 0.0
    baseline: dict[str, float] | None = None
    over_since: dict[str, float] = field(default_factory=dict)
    latched: Warning_ | None = None
    last: dict[str, float] = field(default_factory=dict)  # last block's ratios (for mates)
    peak: dict[str, float] = field(default_factory=dict)  # highest own ratio per channel
    last_t: float | None = None  # running time of the newest reading
    confirmed: bool = False  # the latched warning was confirmed at an inspection (counted)

    def to_state(self) -> dict[str, Any]:
        d = asdict(self)
        d["latched"] = None if self.latched is None else self.latched.to_dict()
        return d

    @classmethod
    def from_state(cls, d: Mapping[str, Any]) -> _Position:
        def floats(m: Any) -> dict[str, float]:
            return {str(k): float(v) for k, v in (m or {}).items()}

        def lists(m: Any) -> dict[str, list[float]]:
            return {str(k): [float(x) for x in v] for k, v in (m or {}).items()}

        lat = d.get("latched")
        return cls(
            block=lists(d.get("block")),
            block_start=None if d.get("block_start") is None else float(d["block_start"]),
            n_points=int(d.get("n_points", 0)),
            base_blocks=lists(d.get("base_blocks")),
            base_span_s=float(d.get("base_span_s", 0.0)),
            baseline=None if d.get("baseline") is None else floats(d["baseline"]),
            over_since=floats(d.get("over_since")),
            latched=None if lat is None else Warning_.from_dict(lat),
            last=floats(d.get("last")),
            peak=floats(d.get("peak")),
            last_t=None if d.get("last_t") is None else float(d["last_t"]),
            confirmed=bool(d.get("confirmed", False)),
        )


class MachineWarnings:
    """Warnings for the monitored positions of one machine, fed reading by reading.

    `update(t, {position: channels})` takes one reading per position at running time t (the
    same t for every position: one machine, one running clock). Returns warnings raised by
    this reading (each position warns once, then stays latched).
    """

    def __init__(self, positions: Sequence[str], params: WarningParams | None = None) -> None:
        self.params = params or WarningParams()
        self.positions = list(positions)
        self.state = {p: _Position() for p in self.positions}
        self.machine_excursions: list[tuple[float, str, float]] = []  # (t, channel, ratio)
        self._shared_open: set[str] = set()

    def to_state(self) -> dict[str, Any]:
        """JSON-safe state, so a gateway restart resumes baselines, holds and latches."""
        return {
            "params": self.params.to_state(),
            "positions": {p: st.to_state() for p, st in self.state.items()},
            "machine_excursions": [list(x) for x in self.machine_excursions],
            "shared_open": sorted(self._shared_open),
        }

    @classmethod
    def from_state(cls, d: Mapping[str, Any]) -> MachineWarnings:
        pos = d.get("positions", {})
        mw = cls(list(pos), WarningParams.from_state(d.get("params", {})))
        mw.state = {p: _Position.from_state(v) for p, v in pos.items()}
        mw.machine_excursions = [
            (float(t), str(ch), float(r)) for t, ch, r in d.get("machine_excursions", [])
        ]
        mw._shared_open = {str(x) for x in d.get("shared_open", [])}
        return mw

    def warning(self, position: str) -> Warning_ | None:
        return self.state[position].latched

    def reset(self, position: str, relearn: bool = True) -> None:
        """Part replaced (relearn the baseline) or warning found false (keep the baseline)."""
        st = self.state[position]
        self.state[position] = (
            _Position() if relearn else replace(st, latched=None, over_since={}, peak={})
        )

    def record_service(self, position: str, kind: str, finding: str) -> WarningOutcome | None:
        """Apply a service-log entry to a position; the warning outcome it settles, if any.

        `replacement` / `failure`: a new part, so the baseline is relearned; a warning that
        stood is confirmed (unless an inspection already confirmed it). `inspection` whose
        finding starts with "no defect" while a warning stands: the warning was false; it is
        cleared and the baseline kept. `inspection` whose finding starts with "defect" while a
        warning stands: confirmed now (the warning stays until the part is replaced). Other
        inspections change nothing.
        """
        w = self.warning(position)
        st = self.state[position]
        out = (
            None if w is None else WarningOutcome(w.channel, st.peak.get(w.channel, w.value), True)
        )
        if kind in ("replacement", "failure"):
            self.reset(position, relearn=True)
            return None if st.confirmed else out
        if kind == "inspection" and out is not None and finding_is_defect(finding):
            if st.confirmed:
                return None
            st.confirmed = True
            return out
        if kind == "inspection" and out is not None and finding_is_false(finding):
            self.reset(position, relearn=False)
            return replace(out, confirmed=False)
        return None

    def update(
        self, t_running_s: float, readings: Mapping[str, Mapping[str, float]]
    ) -> list[Warning_]:
        p = self.params
        closed = False
        starts: dict[str, float] = {}
        end = t_running_s
        for pos, vals in readings.items():
            st = self.state[pos]
            # A reading stands for the running time until the next one: a block of 12 readings
            # 5 minutes apart spans one hour.
            step = 0.0 if st.last_t is None else max(t_running_s - st.last_t, 0.0)
            st.last_t = t_running_s
            end = t_running_s + step
            if st.block_start is None:
                st.block_start = t_running_s
            for ch, v in vals.items():
                st.block.setdefault(ch, []).append(float(v))
            st.n_points += 1
            if end - st.block_start >= p.block_s and st.n_points >= p.min_block_points:
                closed = True
        if not closed:
            return []
        medians: dict[str, dict[str, float]] = {}
        for pos in readings:
            st = self.state[pos]
            starts[pos] = st.block_start if st.block_start is not None else t_running_s
            medians[pos] = {ch: float(np.median(v)) for ch, v in st.block.items() if v}
            st.block, st.block_start, st.n_points = {}, None, 0
            self._learn(st, medians[pos], end - starts[pos], t_running_s)
        ratios = {pos: self._ratios(self.state[pos], m) for pos, m in medians.items()}
        return self._judge(t_running_s, end, starts, ratios)

    def _learn(self, st: _Position, med: dict[str, float], span: float, t: float) -> None:
        p = self.params
        if st.baseline is not None or t < p.settle_s:
            return
        for ch, v in med.items():
            st.base_blocks.setdefault(ch, []).append(v)
        st.base_span_s += span
        if st.base_span_s >= p.baseline_s:
            st.baseline = {ch: float(np.median(v)) for ch, v in st.base_blocks.items()}
            st.base_blocks = {}

    def _ratios(self, st: _Position, med: dict[str, float]) -> dict[str, float]:
        if st.baseline is None:
            return {}
        out: dict[str, float] = {}
        for ch, v in med.items():
            b = st.baseline.get(ch)
            if b is None:
                continue
            if ch == "temp":
                out[ch] = v - b  # a rise in degC, not a ratio
            elif b > 0:
                out[ch] = v / b
        st.last = out
        return out

    def _judge(
        self, t: float, end: float, starts: dict[str, float], ratios: dict[str, dict[str, float]]
    ) -> list[Warning_]:
        p = self.params
        raised: list[Warning_] = []
        for pos, r in ratios.items():
            st = self.state[pos]
            if not r:
                continue
            mates = [ratios[m] for m in ratios if m != pos and ratios[m]]
            best: tuple[float, str, float, float] | None = None
            for ch, v in r.items():
                shared = self._mates_level(ch, mates)
                own = v - max(shared, 0.0) if ch == "temp" else v / max(shared, 1.0)
                st.peak[ch] = max(st.peak.get(ch, -math.inf), own)
                if own >= p.threshold(ch):
                    # Held from the start of the first block over to the end of this one.
                    held_s = end - st.over_since.setdefault(ch, starts[pos])
                    if held_s >= p.hold_s:
                        margin = own / p.threshold(ch)
                        if best is None or margin > best[0]:
                            best = (margin, ch, own, held_s)
                else:
                    st.over_since.pop(ch, None)
                if mates and shared >= p.threshold(ch) and ch not in self._shared_open:
                    self._shared_open.add(ch)
                    self.machine_excursions.append((t, ch, shared))
            if best is not None and st.latched is None:
                _, ch, own, held_s = best
                w = Warning_(t, pos, ch, own, held_s, _reason(ch, own, held_s, bool(mates)))
                st.latched = w
                raised.append(w)
        return raised

    @staticmethod
    def _mates_level(ch: str, mates: list[dict[str, float]]) -> float:
        vals = [m[ch] for m in mates if ch in m]
        if not vals:
            return 0.0 if ch == "temp" else 1.0
        return float(np.median(vals))


def _reason(ch: str, value: float, held_s: float, has_mates: bool) -> str:
    over = " above the rest of the machine" if has_mates else ""
    if ch == "temp":
        return f"temperature {value:.0f} degC over its baseline{over} for {_hours(held_s)}"
    return f"{_WORDS[ch]} {value:.1f}x its baseline{over} for {_hours(held_s)}"


# A finding that marks a warning false: "no defect found", "No defect, bearing clean", ...
FALSE_FINDING = "no defect"


def finding_is_false(finding: str) -> bool:
    return finding.strip().lower().startswith(FALSE_FINDING)


# A finding that confirms a standing warning at an inspection: "defect: outer race spall", ...
DEFECT_FINDING = "defect"


def finding_is_defect(finding: str) -> bool:
    return finding.strip().lower().startswith(DEFECT_FINDING)


_FIELD = {
    "rms": "level_ratio",
    "velocity": "level_ratio",
    "peak": "level_ratio",
    "kurtosis": "kurt_ratio",
    "crest": "crest_ratio",
    "temp": "temp_rise_c",
}


@dataclass(frozen=True)
class WarningOutcome:
    """What the service found after a warning on one machine group (from the service log)."""

    channel: str  # the channel that warned
    peak_value: float  # the highest value that channel reached (ratio; temp: degC rise)
    confirmed: bool  # a defect was found or the part failed; False: the warning was false


THRESHOLD_FIELDS = tuple(sorted(set(_FIELD.values())))


def evidence(outcomes: Sequence[WarningOutcome]) -> set[str]:
    """The thresholds the records have evidence to tune: those with a warning found false on
    one of their channels. Without one a threshold stays as it was (not enough evidence)."""
    return {_FIELD[o.channel] for o in outcomes if not o.confirmed and o.channel in _FIELD}


def tune_warning_params(
    params: WarningParams, outcomes: Sequence[WarningOutcome], margin: float = 1.1
) -> tuple[WarningParams, list[str]]:
    """Thresholds of one machine group after its records: each threshold rises above the
    highest value a false warning reached (x `margin`), but never above the lowest peak of a
    confirmed defect on it (that defect must still be warned). Returns the parameters and
    one line per change, in words, for the service team."""
    notes: list[str] = []
    new = params
    tunable = evidence(outcomes)
    for name in THRESHOLD_FIELDS:
        if name not in tunable:
            continue
        chans = [ch for ch, f in _FIELD.items() if f == name]
        false = [o.peak_value for o in outcomes if o.channel in chans and not o.confirmed]
        cur = float(getattr(new, name))
        want = max(cur, margin * max(false))
        conf = [o.peak_value for o in outcomes if o.channel in chans and o.confirmed]
        capped = bool(conf) and want > min(conf)
        if capped:
            want = max(cur, min(conf))
        if want > cur:
            new = WarningParams.from_state({**new.to_state(), name: want})
            notes.append(
                f"{name} {cur:g} -> {want:.3g}: {len(false)} warning(s) found false reached "
                f"{max(false):.3g}" + (f"; capped by a confirmed defect at {min(conf):.3g}"
                                       if capped else "")
            )  # fmt: skip
    return new, notes


@dataclass
class WarningRecords:
    """Warning outcomes per machine group from the service log, and the thresholds they give
    (`tune_warning_params` on `base`)."""

    base: WarningParams = field(default_factory=WarningParams)
    outcomes: dict[str, list[WarningOutcome]] = field(default_factory=dict)

    def add(self, group: str, outcome: WarningOutcome) -> None:
        self.outcomes.setdefault(group, []).append(outcome)

    def params(self, group: str) -> WarningParams:
        return tune_warning_params(self.base, self.outcomes.get(group, []))[0]

    def notes(self, group: str) -> list[str]:
        return tune_warning_params(self.base, self.outcomes.get(group, []))[1]

    def learned(self) -> dict[str, dict[str, float]]:
        """group -> the thresholds its records have evidence for (`evidence`), as tuned; the
        groups with none are left out. What a fleet server sends its sites (docs/FLEET.md)."""
        out: dict[str, dict[str, float]] = {}
        for group, outcomes in sorted(self.outcomes.items()):
            have = evidence(outcomes)
            if have:
                tuned = self.params(group)
                out[group] = {name: float(getattr(tuned, name)) for name in sorted(have)}
        return out

    def to_state(self) -> dict[str, Any]:
        outcomes = {g: [asdict(o) for o in os] for g, os in self.outcomes.items()}
        return {"base": self.base.to_state(), "outcomes": outcomes}

    @classmethod
    def from_state(cls, d: Mapping[str, Any]) -> WarningRecords:
        return cls(
            WarningParams.from_state(d.get("base", {})),
            {
                str(g): [
                    WarningOutcome(str(o["channel"]), float(o["peak_value"]), bool(o["confirmed"]))
                    for o in os
                ]
                for g, os in d.get("outcomes", {}).items()
            },
        )


def with_thresholds(params: WarningParams, learned: Mapping[str, float]) -> WarningParams:
    """`params` with the thresholds of `learned` (a group's entry of `WarningRecords.learned`)
    in place of its own; ValueError for a name that is not a threshold or a value that is
    not a positive finite number."""
    for name, v in learned.items():
        if name not in THRESHOLD_FIELDS:
            raise ValueError(f"not a warning threshold: {name!r}")
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < math.inf:
            raise ValueError(f"threshold {name} must be a positive number, not {v!r}")
    return WarningParams.from_state({**params.to_state(), **learned})


def warn_run(
    t_running_s: np.ndarray,
    positions: Mapping[str, Mapping[str, np.ndarray]],
    params: WarningParams | None = None,
) -> MachineWarnings:
    """Offline: replay a machine's whole history (one time axis, features per position)."""
    mw = MachineWarnings(list(positions), params)
    names = {pos: list(f) for pos, f in positions.items()}
    for i, t in enumerate(np.asarray(t_running_s, np.float64)):
        reads = {
            pos: readings_from_features({k: float(positions[pos][k][i]) for k in names[pos]})
            for pos in positions
        }
        mw.update(float(t), reads)
    return mw
