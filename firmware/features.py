"""Window features per axis: acceleration RMS, peak, crest factor, excess kurtosis and
velocity RMS in the 10-1000 Hz band (ISO 2954 / ISO 10816 band).

Everything per sample is integer arithmetic in kernels.py (plain) or kernels_viper.py (the same
code compiled to machine code on a board); the per-window Python work is a few dozen floats.

Method
- Time domain: the mean (gravity, sensor offset) is removed; sums of d^2 and (d^2)^2 are
  accumulated in split 16-bit halves so no intermediate exceeds 2^30 even on full-scale
  +-32767 input. rms = sqrt(m2), kurtosis = m4 / m2^2 - 3.
- Velocity, frequency domain in fixed point: the mean-free window times a Q14 Hann window is
  scaled so that no value exceeds 8192 and transformed as a real signal (even samples + i odd
  samples, an n/2-point complex FFT, radix 2, Q14 twiddles, block floating point: a stage's
  inputs are shifted right just enough to stay <= 8192 and the shifts are counted). Each bin k
  with f_k in [band_lo, band_hi] contributes (|A_k| / (2 pi f_k))^2 through an integer weight
  16384 * kg / k (kg: first bin of k's octave, so every weight keeps 14 bits), scaled by
  Parseval and the Hann energy factor 3/8. A sine of amplitude A g at f Hz gives
  A * 9806.65 / (2 pi f) / sqrt(2) mm/s.

Kernel choice (choose_kernels, at import, i.e. at boot): on MicroPython the viper module is
imported and run beside the plain one on a fixed input with negative values and both int16
rails; it is used only if every integer it produces is identical. KERNELS says what runs and
why: "viper", "plain:no-viper" (CPython, or a port without the native emitter) or
"plain:viper-selftest-failed".

All buffers are allocated once in Features.__init__, zero-filled from bytes and filled in
place (a list of boxed floats would fragment a board's heap).
"""

import math
from array import array

G_MM_S2 = 9806.65
HANN_ENERGY = 0.375  # mean of the Hann window squared
Q14 = 16384
FFT_MAX = 8192  # largest magnitude a FFT stage's inputs may have (after its shift)


def plain_kernels():
    """The plain-Python kernels (the host tests use them to compare with the board's)."""
    from firmware import kernels as k

    return k


def _q14(v):
    return int(math.floor(Q14 * v + 0.5))


def _log2(n):
    b = 0
    while (1 << b) < n:
        b += 1
    if (1 << b) != n:
        raise ValueError("window must be a power of two")
    return b


class AxisResult:
    __slots__ = ("rms_g", "peak_g", "crest", "kurtosis", "vel_mm_s", "saturated")

    def __init__(self):
        self.rms_g = 0.0
        self.peak_g = 0.0
        self.crest = 0.0
        self.kurtosis = 0.0
        self.vel_mm_s = 0.0
        self.saturated = False


class Features:
    """Computes features of one window of three int16 axes, allocation-free per sample."""

    def __init__(self, n, rate_hz, lsb_g, band=(10, 1000), kern=None):
        bits = _log2(n)
        if n < 8:
            raise ValueError("window must be at least 8 samples")
        self.n = n
        self.rate_hz = rate_hz
        self.lsb_g = lsb_g
        self.band = (int(band[0]), int(band[1]))
        if kern is None:
            kern, name = choose_kernels()
        else:
            name = getattr(kern, "__name__", "custom").split(".")[-1]
            name = name.replace("kernels_", "").replace("kernels", "plain")
        self.k = kern
        self.kernels_in_use = name
        m = n // 2
        self._out = array("i", bytes(4 * 8))
        self._vo = array("i", bytes(4 * 2))
        # int16 parameters of the kernels: 0 mean, 1 k, 2 s (moments), 3 s1, 4 s2,
        # 5/6 high/low 16 bits of the windowed sum, 7 log2(n), 8/9 first/last band bin.
        self._par = array("h", bytes(2 * 10))
        self._z = array("h", bytes(2 * n))  # n/2 complex points, interleaved re, im
        # Q14 tables, filled in place (never a list of boxed floats).
        self._tw = array("h", bytes(2 * n))  # cos, sin of 2 pi t / n for t < n/2
        self._hann = array("h", bytes(4 * n))  # Q28 Hann window, high and low 14 bits
        step = 2 * math.pi / n
        for t in range(m):
            self._tw[2 * t] = _q14(math.cos(step * t))
            self._tw[2 * t + 1] = _q14(math.sin(step * t))
        for i in range(n):
            q = int(math.floor((0.5 - 0.5 * math.cos(step * i)) * Q14 * Q14 + 0.5))
            self._hann[2 * i] = q >> 14
            self._hann[2 * i + 1] = q & (Q14 - 1)
        rev = array("H", bytes(2 * m))
        for i in range(m):
            r = 0
            x = i
            for _ in range(bits - 1):
                r = (r << 1) | (x & 1)
                x >>= 1
            rev[i] = r
        self._rev = rev
        k0, k1, df = self._band_bins()
        self._k0 = k0
        self._k1 = k1
        self._df = df
        # The FFT sees the running sum of the windowed signal (a 1/f pre-emphasis, so that the
        # velocity content, not high-frequency acceleration, sets the fixed-point scale). The
        # weights c_k = (1 - W^k) * n / (2 pi k), W = exp(-2 pi i / n), |c_k| <= 1, undo the
        # sum exactly bin by bin and apply the 1 / f of the velocity.
        cw = array("h", bytes(4 * (k1 - k0 + 1 if k1 >= k0 else 1)))
        for k in range(k0, k1 + 1):
            g = n / (2 * math.pi * k)
            cw[2 * (k - k0)] = _q14((1.0 - math.cos(step * k)) * g)
            cw[2 * (k - k0) + 1] = _q14(math.sin(step * k) * g)
        self._cw = cw
        par = self._par
        par[7] = bits
        par[8] = k0
        par[9] = k1
        self.axes = (AxisResult(), AxisResult(), AxisResult())

    # ---------------------------------------------------------------- time domain

    def moments(self, buf, res):
        """Fills res.rms_g, peak_g, crest, kurtosis, saturated; returns the integer mean."""
        n = self.n
        o = self._out
        par = self._par
        self.k.sum_min_max(buf, n, o)
        total, lo, hi = o[0], o[1], o[2]
        # Round-half-up integer mean, without floats.
        mean = (2 * total + n) // (2 * n)
        dmax = hi - mean
        if mean - lo > dmax:
            dmax = mean - lo
        k = 0
        while (dmax >> k) >= 32767:
            k += 1
        dk = (dmax >> k) + 1
        d2max = dk * dk
        s = 0
        while (d2max >> s) >= 32767:
            s += 1
        par[0] = mean
        par[1] = k
        par[2] = s
        self.k.central_moments(buf, n, par, o)
        sum2 = (o[4] * 65536.0 + o[3]) * (4.0**k)
        sum4 = (o[6] * 65536.0 + o[5]) * (4.0**s) * (16.0**k)
        delta = total / n - mean  # exact mean - integer mean, |delta| <= 0.5
        m2 = sum2 / n - delta * delta
        m4 = sum4 / n
        lsb = self.lsb_g
        res.rms_g = math.sqrt(m2) * lsb if m2 > 0 else 0.0
        exact = total / n
        peak = hi - exact if hi - exact > exact - lo else exact - lo
        res.peak_g = peak * lsb
        res.crest = res.peak_g / res.rms_g if res.rms_g > 0 else 0.0
        res.kurtosis = m4 / (m2 * m2) - 3.0 if m2 > 0.25 else 0.0
        res.saturated = lo <= -32767 or hi >= 32767
        return mean

    # ---------------------------------------------------------------- frequency domain

    def _band_bins(self):
        n = self.n
        df = self.rate_hz / n
        k0 = int(math.ceil(self.band[0] / df))
        k1 = int(math.floor(self.band[1] / df))
        if k0 < 1:
            k0 = 1
        if k1 > n // 2 - 1:
            k1 = n // 2 - 1
        return k0, k1, df

    def velocity(self, buf):
        """Velocity RMS (mm/s) in the band of the axis whose moments() ran last."""
        n = self.n
        m = n >> 1
        o = self._out
        par = self._par
        mean = par[0]
        dmax = o[2] - mean
        if mean - o[1] > dmax:
            dmax = mean - o[1]
        if dmax == 0 or self._k1 < self._k0:
            return 0.0
        k = self.k
        vo = self._vo
        # s1: n * max |(x - mean) * hann >> s1| < 2**28 (|x - mean| * 16384 < 2**30).
        s1 = 0
        while ((dmax * Q14) >> s1) + 1 >= (1 << (28 - par[7])):
            s1 += 1
        par[3] = s1
        k.window_integrate(buf, n, par, self._hann, vo)
        total = vo[0]
        bound = vo[1] + (total if total > 0 else -total)  # >= max |y - ramp|, < 2**29
        s2 = 0
        while (bound >> s2) + 1 > FFT_MAX:
            s2 += 1
        par[4] = s2
        hi = total >> 16
        lo = total & 0xFFFF
        par[5] = hi
        par[6] = lo - 65536 if lo > 32767 else lo
        z = self._z
        tw = self._tw
        mx = k.window_load(buf, n, par, self._hann, self._rev, z)
        e = s1 + s2
        size = 2
        while size <= m:
            s = 0
            if mx > FFT_MAX:
                s = 1
                while (mx >> s) + 1 > FFT_MAX:
                    s += 1
            e += s
            mx = k.fft_stage(z, m, size, s, tw)
            size <<= 1
        k.band_energy(z, m, par, tw, self._cw, vo)
        energy = vo[1] * 65536.0 + vo[0]
        # sum_k |G_k / k|^2 = (2 pi / n)^2 * 4^(e - 14) * 4 * energy (G: DFT of d * hann);
        # then Parseval and the Hann energy, and 1 / (2 pi df) for f_k = k df.
        scale = 4.0 ** (e - 14) * 4.0 * 2.0 / (n * n * HANN_ENERGY)
        w = 2.0 * math.pi / n
        return math.sqrt(energy * scale) * w / (2.0 * math.pi * self._df) * self.lsb_g * G_MM_S2

    def compute(self, bx, by, bz):
        """Three int16 windows -> self.axes (three AxisResult), returned."""
        ax = self.axes
        self.moments(bx, ax[0])
        ax[0].vel_mm_s = self.velocity(bx)
        self.moments(by, ax[1])
        ax[1].vel_mm_s = self.velocity(by)
        self.moments(bz, ax[2])
        ax[2].vel_mm_s = self.velocity(bz)
        return ax


# ------------------------------------------------------------------ kernel choice at boot


def _selftest_input():
    """Three 64-sample axes: both int16 rails, a negative mean, large negative deviations."""
    bx = array("h", bytes(128))
    by = array("h", bytes(128))
    bz = array("h", bytes(128))
    for i in range(64):
        x = (i * 997) % 2001 - 1000
        if i % 5 == 0:
            x = 32767
        if i % 7 == 0:
            x = -32768
        bx[i] = x
        by[i] = -20000 + ((i * 37) % 64 - 32) * 300
        bz[i] = ((i * 13) % 32 - 16) * 2000 - 1
    return bx, by, bz


def kernel_trace(kern):
    """Every integer a kernel module produces on the self-test input (mean, shifts, moment
    sums, FFT buffer, band sums): two modules computing the same thing give equal lists."""
    f = Features(64, 640, 1.0, (10, 310), kern)
    res = AxisResult()
    out = []  # type: list[int]
    for buf in _selftest_input():
        f.moments(buf, res)
        f.velocity(buf)
        out.extend(f._out)
        out.extend(f._par)
        out.extend(f._z)
        out.extend(f._vo)
    return out


_CHOSEN = []  # type: list


def choose_kernels():
    """(kernel module, name): viper where it imports and matches the plain kernels exactly on
    the self-test input, else plain with the reason. Decided once per boot."""
    if _CHOSEN:
        return _CHOSEN[0], _CHOSEN[1]
    from firmware import kernels as plain

    choice = (plain, "plain:no-viper")
    try:
        from firmware import kernels_viper as viper

        choice = (plain, "plain:viper-selftest-failed")
        if kernel_trace(viper) == kernel_trace(plain):
            choice = (viper, "viper")
    except Exception:  # CPython or a port without the native emitter ("invalid micropython
        pass  # decorator"), or any error in the native code: stay on the plain kernels
    _CHOSEN.append(choice[0])
    _CHOSEN.append(choice[1])
    return choice


kernels, KERNELS = choose_kernels()
