"""Window features per axis: acceleration RMS, peak, crest factor, excess kurtosis and
velocity RMS in the 10-1000 Hz band (ISO 2954 / ISO 10816 band).

Method
- Time domain (exact integer arithmetic, kernels.py): the mean (gravity, sensor offset) is
  removed; sums of d^2 and (d^2)^2 are accumulated in split 16-bit halves so no intermediate
  exceeds 2^30 even on full-scale +-32767 input. rms = sqrt(m2), kurtosis = m4 / m2^2 - 3.
- Velocity (frequency domain, float): the mean-free window is multiplied by a Hann window,
  transformed with an in-place radix-2 FFT (two axes packed as x + iy in one complex FFT, the
  third alone), and each bin k with f_k in [band_lo, band_hi] contributes
  (|A_k| / (2 pi f_k))^2, scaled by Parseval and the Hann energy factor 3/8. A sine of
  amplitude A g at f Hz gives A * 9806.65 / (2 pi f) / sqrt(2) mm/s.

The FFT buffers are array('f') on every platform so CPython, the MicroPython VM and the board
store the same float32 values; everything is allocated once in Features.__init__.
"""

import math
from array import array

try:
    import micropython

    _VIPER = hasattr(micropython, "viper")
except ImportError:  # CPython
    _VIPER = False

if _VIPER:
    from firmware import kernels_viper as kernels
else:
    from firmware import kernels  # type: ignore[no-redef]

KERNELS = "viper" if _VIPER else "plain"
G_MM_S2 = 9806.65
HANN_ENERGY = 0.375  # mean of the Hann window squared


def plain_kernels():
    """The plain-Python kernels (the host tests use them to compare with the board's)."""
    from firmware import kernels as k

    return k


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
        self.n = n
        self.bits = _log2(n)
        self.rate_hz = rate_hz
        self.lsb_g = lsb_g
        self.band = (int(band[0]), int(band[1]))
        self.k = kern if kern is not None else kernels
        # Every buffer is allocated zero-filled from bytes and filled in place: a list of
        # boxed floats would hold thousands of small blocks live at once and fragment the heap
        # (a later 4 KB buffer then fails on a board with 180 KB free).
        self._out = array("i", bytes(4 * 8))
        self._re = array("f", bytes(4 * n))
        self._im = array("f", bytes(4 * n))
        self._re2 = array("f", bytes(4 * n))
        self._im2 = array("f", bytes(4 * n))
        self._cos = array("f", bytes(4 * (n // 2)))
        self._sin = array("f", bytes(4 * (n // 2)))
        self._hann = array("f", bytes(4 * n))
        step = 2 * math.pi / n
        for i in range(n // 2):
            self._cos[i] = math.cos(step * i)
            self._sin[i] = math.sin(step * i)
        for i in range(n):
            self._hann[i] = 0.5 - 0.5 * math.cos(step * i)
        rev = array("H", bytes(2 * n))
        for i in range(n):
            r = 0
            x = i
            for _ in range(self.bits):
                r = (r << 1) | (x & 1)
                x >>= 1
            rev[i] = r
        self._rev = rev
        self.axes = (AxisResult(), AxisResult(), AxisResult())

    # ---------------------------------------------------------------- time domain

    def moments(self, buf, res):
        """Fills res.rms_g, peak_g, crest, kurtosis, saturated; returns the integer mean."""
        n = self.n
        o = self._out
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
        o[0] = mean
        o[1] = k
        o[2] = s
        self.k.central_moments(buf, n, o)
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

    def _load(self, buf, mean, re, im, im_buf, im_mean):
        w = self._hann
        n = self.n
        if im_buf is None:
            for i in range(n):
                re[i] = (buf[i] - mean) * w[i]
                im[i] = 0.0
        else:
            for i in range(n):
                wi = w[i]
                re[i] = (buf[i] - mean) * wi
                im[i] = (im_buf[i] - im_mean) * wi

    def _fft(self, re, im):
        self._bitrev(re, im)
        size = 2
        while size <= self.n:
            self._stage(re, im, size)
            size <<= 1

    def _bitrev(self, re, im):
        rev = self._rev
        for i in range(self.n):
            j = rev[i]
            if j > i:
                t = re[i]
                re[i] = re[j]
                re[j] = t
                t = im[i]
                im[i] = im[j]
                im[j] = t

    def _stage(self, re, im, size):
        """One radix-2 stage (butterflies of `size`): a unit of work a caller may spread over
        several polls to bound the time spent per step."""
        n = self.n
        c = self._cos
        sn = self._sin
        half = size >> 1
        step = n // size
        for start in range(0, n, size):
            t = 0
            for j in range(start, start + half):
                wr = c[t]
                wi = -sn[t]
                m = j + half
                xr = re[m] * wr - im[m] * wi
                xi = re[m] * wi + im[m] * wr
                re[m] = re[j] - xr
                im[m] = im[j] - xi
                re[j] = re[j] + xr
                im[j] = im[j] + xi
                t += step

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

    def _velocity(self, re, im, packed):
        """Sum of (|A_k| / (2 pi f_k))^2 over the band, for one or two packed signals."""
        n = self.n
        k0, k1, df = self._band_bins()
        sa = 0.0
        sb = 0.0
        for k in range(k0, k1 + 1):
            w = 1.0 / (2.0 * math.pi * k * df)
            w2 = w * w
            if packed:
                ar = re[k]
                ai = im[k]
                br = re[n - k]
                bi = im[n - k]
                # X = (Z_k + conj Z_-k) / 2, Y = (Z_k - conj Z_-k) / 2i
                xr = ar + br
                xi = ai - bi
                yr = ai + bi
                yi = br - ar
                sa += (xr * xr + xi * xi) * 0.25 * w2
                sb += (yr * yr + yi * yi) * 0.25 * w2
            else:
                sa += (re[k] * re[k] + im[k] * im[k]) * w2
        scale = 2.0 / (n * n * HANN_ENERGY)
        g = self.lsb_g * G_MM_S2
        return math.sqrt(sa * scale) * g, math.sqrt(sb * scale) * g

    def compute(self, bx, by, bz):
        """Three int16 windows -> self.axes (three AxisResult), returned."""
        ax = self.axes
        mx = self.moments(bx, ax[0])
        my = self.moments(by, ax[1])
        mz = self.moments(bz, ax[2])
        self._load(bx, mx, self._re, self._im, by, my)
        self._fft(self._re, self._im)
        vx, vy = self._velocity(self._re, self._im, True)
        self._load(bz, mz, self._re2, self._im2, None, 0)
        self._fft(self._re2, self._im2)
        vz, _ = self._velocity(self._re2, self._im2, False)
        ax[0].vel_mm_s = vx
        ax[1].vel_mm_s = vy
        ax[2].vel_mm_s = vz
        return ax
