"""Simulated accelerometer for host runs and bench mode: deterministic from its seed.

A machine profile is a dict:
    tones: [[freq_hz, amp_x_g, amp_y_g, amp_z_g], ...]   shaft 1x, 2x, blade pass, ...
    noise_g: broadband noise (triangular, per axis)
    impulses: [rate_hz, amp_g, resonance_hz, decay_ms]  bearing-defect impacts, or None
    schedule: [on_s, off_s] run/stop cycle (None: always running), offset by phase_s
    growth: [per_day, start_day]  impulse and tone amplitude factor 1 + per_day * days^2
    temp_c: [stopped, running]
Time comes from an injected `now_s()` (simulated seconds), so accelerated clocks age the
machine accordingly. Stopped machines show gravity and sensor noise only.
"""

import math

LSB_G = 0.0039
STOPPED_NOISE_G = 0.004

PROFILES: dict = {
    "healthy": {
        "tones": [[24.6, 0.03, 0.02, 0.01], [49.2, 0.01, 0.008, 0.004]],
        "noise_g": 0.01,
        "impulses": None,
        "schedule": None,
        "growth": [0.0, 0.0],
        "temp_c": [21.0, 38.0],
    },
    "bearing_degrading": {
        "tones": [[24.6, 0.03, 0.02, 0.01], [49.2, 0.01, 0.008, 0.004]],
        "noise_g": 0.01,
        "impulses": [87.3, 0.15, 1210.0, 3.0],
        "schedule": None,
        "growth": [0.004, 0.0],
        "temp_c": [21.0, 41.0],
    },
    "imbalance": {
        "tones": [[24.6, 0.09, 0.07, 0.02], [49.2, 0.01, 0.008, 0.004]],
        "noise_g": 0.01,
        "impulses": None,
        "schedule": None,
        "growth": [0.0005, 0.0],
        "temp_c": [21.0, 40.0],
    },
    "shifts": {
        "tones": [[29.5, 0.035, 0.025, 0.01], [59.0, 0.01, 0.008, 0.004]],
        "noise_g": 0.01,
        "impulses": None,
        "schedule": [8 * 3600, 16 * 3600],
        "growth": [0.0, 0.0],
        "temp_c": [19.0, 36.0],
    },
    "idle": {
        "tones": [[24.6, 0.03, 0.02, 0.01]],
        "noise_g": 0.01,
        "impulses": None,
        "schedule": [600, 6 * 3600 - 600],
        "growth": [0.0, 0.0],
        "temp_c": [20.0, 30.0],
    },
}


class SimSensor:
    name = "sim"
    lsb_g = LSB_G
    full_scale = 32767
    RATES = (3200, 1600, 800, 400, 200, 100)

    def __init__(self, profile="healthy", seed=1, now_s=None, age_days=0.0, phase_s=0):
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        self.seed = seed & 0xFFFFFFFF or 1
        self._state = self.seed
        self.now_s = now_s if now_s is not None else (lambda: 0.0)
        self.age_days = age_days
        self.phase_s = phase_s
        self.rate = 3200
        self.fault = False  # tests set this to simulate a dead sensor

    def configure(self, rate_hz):
        self.rate = rate_hz

    def _rand(self):
        # xorshift32: same sequence on CPython and MicroPython
        x = self._state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._state = x
        return x / 4294967296.0

    def running(self, t=None):
        sched = self.profile["schedule"]
        if sched is None:
            return True
        if t is None:
            t = self.now_s()
        on, off = sched
        return (t + self.phase_s) % (on + off) < on

    def growth(self, t):
        per_day, start = self.profile["growth"]
        days = self.age_days + t / 86400.0 - start
        return 1.0 + per_day * days * days if days > 0 else 1.0

    def read_window(self, bx, by, bz, n):
        if self.fault:
            return False
        t0 = self.now_s()
        run = self.running(t0)
        p = self.profile
        g = self.growth(t0)
        dt = 1.0 / self.rate
        k = 1.0 / LSB_G
        # Stopped: the sensor's own noise, about 1 LSB as on a real part (never a flat line).
        noise = p["noise_g"] * k if run else STOPPED_NOISE_G * k
        tones = p["tones"] if run else []
        imp = p["impulses"] if run else None
        two_pi = 2.0 * math.pi
        # Phase of the window start, kept small so float error does not grow with uptime.
        ph = [(t0 * f[0]) % 1.0 for f in tones]
        w = [two_pi * f[0] * dt for f in tones]
        amps = [(f[1] * k * g, f[2] * k * g, f[3] * k * g) for f in tones]
        if imp is not None:
            period = self.rate / imp[0]
            ia = imp[1] * k * g * g
            iw = two_pi * imp[2] * dt
            idecay = math.exp(-1.0 / (imp[3] * 1e-3 * self.rate))
            first = (t0 * imp[0]) % 1.0 * period
        gz = k  # gravity on z
        rnd = self._rand
        for i in range(n):
            x = (rnd() + rnd() - 1.0) * noise
            y = (rnd() + rnd() - 1.0) * noise
            z = gz + (rnd() + rnd() - 1.0) * noise
            for j in range(len(w)):
                s = math.sin(two_pi * ph[j] + w[j] * i)
                a = amps[j]
                x += a[0] * s
                y += a[1] * s
                z += a[2] * s
            if imp is not None:
                age = (i + first) % period
                e = ia * idecay**age * math.sin(iw * age)
                x += e
                y += 0.5 * e
                z += 0.8 * e
            bx[i] = _clip(x)
            by[i] = _clip(y)
            bz[i] = _clip(z)
        return True

    def temperature(self):
        lo, hi = self.profile["temp_c"]
        return hi if self.running() else lo


def _clip(v):
    n = int(v + 0.5) if v >= 0 else -int(-v + 0.5)
    if n > 32767:
        return 32767
    if n < -32768:
        return -32768
    return n
