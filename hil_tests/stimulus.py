"""Bench stimuli and the values the firmware must measure for them.

One `Stimulus` is what the shaker table (or the simulated sensor) produces. It maps to
- a firmware.sensors.sim profile dict (virtual board: the vboard's `--profile-file`), and
- flat `bench` command args (real board in bench mode, validated by firmware/stimulus.py).
  The `bench` command takes one tone: `bench_args()` carries the first tone only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

G_MM_S2 = 9806.65


@dataclass(frozen=True)
class Stimulus:
    tones: tuple[tuple[float, float, float, float], ...] = ()  # (f_hz, ax_g, ay_g, az_g)
    noise_g: float = 0.002
    impulses: tuple[float, float, float, float] | None = None  # rate_hz, g, res_hz, decay_ms
    schedule: tuple[int, int] | None = None  # (on_s, off_s) of machine time
    phase_s: int = 0
    running: bool = True
    temp_c: tuple[float, float] = (20.0, 30.0)
    notes: dict = field(default_factory=dict, compare=False)

    # ------------------------------------------------------------ encodings

    def profile(self) -> dict:
        sched = list(self.schedule) if self.schedule else None
        if not self.running:
            sched = [0, 3600]  # never running
        return {
            "tones": [list(t) for t in self.tones],
            "noise_g": self.noise_g,
            "impulses": list(self.impulses) if self.impulses else None,
            "schedule": sched,
            "growth": [0.0, 0.0],
            "temp_c": list(self.temp_c),
            "phase_s": self.phase_s,
        }

    def bench_args(self) -> dict:
        """Flat args for the `bench` command (scalars and short lists only, as the protocol's
        command maps allow; schema in docs/FIRMWARE.md, `bench`). One tone only: further tones
        are dropped (docs/HIL.md, known limitations)."""
        args: dict = {"seconds": 0, "noise_g": self.noise_g, "run": self.running}
        if self.tones:
            f, ax, ay, az = self.tones[0]
            args["tone_hz"] = f
            args["tone_g"] = [ax, ay, az]
        if self.impulses:
            args["imp"] = list(self.impulses)
        if self.schedule:
            args["schedule"] = list(self.schedule)
            args["phase_s"] = self.phase_s
        return args

    # ------------------------------------------------------------ expectations

    def expected_acc_rms_mg(self) -> list[float]:
        """Per axis: sqrt(sum(A_i^2) / 2) over the tones (mean removed: gravity excluded)."""
        out = []
        for axis in (1, 2, 3):
            out.append(1000.0 * math.sqrt(sum(t[axis] ** 2 for t in self.tones) / 2.0))
        return out

    def expected_vel_rms_mm_s(self) -> list[float]:
        """Per axis: A * g / (2 pi f) / sqrt(2), tones in the 10-1000 Hz band."""
        out = []
        for axis in (1, 2, 3):
            s = 0.0
            for t in self.tones:
                if 10.0 <= t[0] <= 1000.0:
                    s += (t[axis] * G_MM_S2 / (2.0 * math.pi * t[0])) ** 2 / 2.0
            out.append(math.sqrt(s))
        return out

    def expected_peak_mg(self) -> float:
        return 1000.0 * max((sum(t[a] for t in self.tones) for a in (1, 2, 3)), default=0.0)


def sine(f_hz: float, amp_g: float, y_frac: float = 0.5, z_frac: float = 0.25) -> Stimulus:
    """A sine on x of amplitude `amp_g` (y and z carry fixed fractions, to check the axes)."""
    return Stimulus(tones=((f_hz, amp_g, amp_g * y_frac, amp_g * z_frac),))


HEALTHY = Stimulus(tones=((24.6, 0.03, 0.02, 0.01), (49.2, 0.01, 0.008, 0.004)), noise_g=0.01)
BEARING = Stimulus(
    tones=HEALTHY.tones, noise_g=0.01, impulses=(87.3, 0.3, 1210.0, 3.0)
)  # outer-race defect impacts exciting a 1.2 kHz resonance
RUNNING = Stimulus(tones=((29.5, 0.05, 0.03, 0.01),), noise_g=0.005)
STOPPED = Stimulus(running=False)


def schedule(on_s: int, off_s: int) -> Stimulus:
    """RUNNING on a run/stop cycle that starts stopped at machine time 0 (phase = on_s)."""
    return Stimulus(
        tones=RUNNING.tones, noise_g=RUNNING.noise_g, schedule=(on_s, off_s), phase_s=on_s
    )


def expected_schedule(on_s: int, off_s: int, t0: float, t1: float) -> tuple[float, int]:
    """(running seconds, starts) of schedule(on_s, off_s) between machine times t0 and t1."""
    period = on_s + off_s
    run = 0.0
    starts = 0
    k = math.floor(t0 / period)
    while k * period < t1:
        on_start = k * period + off_s
        on_end = on_start + on_s
        run += max(0.0, min(t1, on_end) - max(t0, on_start))
        if t0 < on_start <= t1:
            starts += 1
        k += 1
    return run, starts
