"""The demo's past: weeks of readings written before the simulated nodes start, so the fleet
page shows forecasts, trends and utilisation within the first minutes of `kizashi demo`.

A wear forecast needs about 90 running hours of readings since the part was fitted (the
forecast's blocks, docs/FORECASTING.md); the live simulated nodes produce three days of
history in about seven minutes, so without a past the demo would show "too early" for its
first half hour. The past is made from the same machine profiles the simulated nodes run
(firmware/sensors/sim.py): the velocity RMS of each profile's tones (the dominant part of
what the node measures), scaled by the profile's wear growth at the machine's age, its
run/stop schedule and temperatures, with a little noise. One report every 10 minutes per
machine goes through `Store.write_batch` like any frame, under boot id 0 (real boots count
from 1), so the gateway's health monitor and outlook engine judge it as they judge live data.
Only `kizashi demo` calls this, on a fresh data directory.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from gateway.store.api import FrameRecord, Store, WriteBatch

G_MM_S2 = 9806.65  # 1 g in mm/s^2
STEP_S = 600
SEED_BOOT = 0  # real node boots count from 1: the past never collides with a live frame


def _profile(p: str | dict[str, Any]) -> dict[str, Any]:
    from firmware.sensors.sim import PROFILES

    return PROFILES[p] if isinstance(p, str) else p


def tone_vel_rms(profile: dict[str, Any]) -> tuple[float, float, float]:
    """Velocity RMS per axis (mm/s) of a profile's tones at wear growth 1: a tone of A g at
    f Hz has velocity amplitude A g / (2 pi f)."""
    out = []
    for axis in (1, 2, 3):
        s = sum((t[axis] * G_MM_S2 / (2 * math.pi * t[0])) ** 2 / 2 for t in profile["tones"])
        out.append(math.sqrt(s))
    return out[0], out[1], out[2]


def _growth(profile: dict[str, Any], age_days: float) -> float:
    per_day, start = profile["growth"]
    d = age_days - start
    return 1.0 + per_day * d * d if d > 0 else 1.0


# How far a part worn in the seeded past rose before its replacement: 1 + PAST_WEAR_RISE x^2,
# x from 0 when the wear began to 1 at the replacement (2.2x the new part's level then).
PAST_WEAR_RISE = 1.2


def _past_wear(spec: Any, t: float, origin: float) -> float:
    if not getattr(spec, "replaced_days", 0.0):
        return 1.0
    on = origin - spec.wear_from_days * 86400.0
    off = origin - spec.replaced_days * 86400.0
    if not on <= t < off:
        return 1.0
    x = (t - on) / (off - on)
    return float(1.0 + PAST_WEAR_RISE * x * x)


def _running(profile: dict[str, Any], t: float, phase_s: float) -> bool:
    sched = profile["schedule"]
    if sched is None:
        return True
    on, off = sched
    return bool((t + phase_s) % (on + off) < on)


def _fnv1a(text: str) -> int:
    """The simulated node's seed from its id (as firmware/host does)."""
    h = 2166136261
    for ch in text.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h or 1


def seed_history(
    store: Store, specs: Sequence[Any], origin: float, days: float, seed: int = 1
) -> tuple[int, dict[str, dict[str, int]]]:
    """Reports of `specs` (kizashi.demo_fleet.DemoNode) for `days` before `origin`, the
    simulated nodes' start. Returns the number written and each node's counters at the end
    (runtime_s, starts, life_s), which the simulated node takes over as a replacement board
    takes over a machine's (node.json `counters`), so its runtime continues the past's."""
    rng = random.Random(seed)
    n = 0
    counters: dict[str, dict[str, int]] = {}
    for spec in specs:
        prof = _profile(spec.profile)
        base = tone_vel_rms(prof)
        phase = _fnv1a(spec.node_id) % 3600  # the simulated node's schedule offset
        t = origin - days * 86400.0
        runtime = starts = 0
        was_running = False
        frames = []
        seq = 0
        while t < origin:
            # The machine's schedule runs on its node's clock, which starts at `origin` (the
            # boot of a fresh demo): the past ends in step with the live node.
            run = _running(prof, t - origin, phase)
            age = spec.age_days + (t - origin) / 86400.0
            g = _growth(prof, age) * _past_wear(spec, t, origin) if run else 0.0
            jitter = rng.lognormvariate(0.0, 0.03)
            vel = [max(0.02, v * g * jitter) if run else 0.03 for v in base]
            if run:
                runtime += STEP_S
                starts += 0 if was_running else 1
            was_running = run
            temp = prof["temp_c"][1] if run else prof["temp_c"][0]
            # Acceleration RMS of the same motion at the shaft tone (about 25 Hz), in mg.
            acc = [int(v * 2 * math.pi * 25 / G_MM_S2 * 1000) for v in vel]
            seq += 1
            frames.append(
                FrameRecord(
                    node_id=spec.node_id, boot_id=SEED_BOOT, seq=seq, kind="report",
                    node_time=int(t), recv_time=t, ts=t, payload=b"", flags=1 if run else 0,
                    dropped=0, runtime_s=runtime, starts=starts,
                    acc_rms_mg=(acc[0], acc[1], acc[2]),
                    vel_rms_mm_s_x100=(int(vel[0] * 100), int(vel[1] * 100), int(vel[2] * 100)),
                    peak_mg=int(max(vel) * 9), kurtosis_x100=300 + int(40 * (g - 1)),
                    temp_c_x10=int(temp * 10 + rng.uniform(-5, 5)),
                )
            )  # fmt: skip
            t += STEP_S
        store.write_batch(WriteBatch(frames=frames))
        n += len(frames)
        counters[spec.node_id] = {"runtime_s": runtime, "starts": starts, "life_s": runtime}
    return n, counters
