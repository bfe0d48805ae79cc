"""Window features per axis: acceleration RMS, peak, crest factor, excess kurtosis and
velocity RMS in the 10-1000 Hz band (ISO 2954 / ISO 10816 band).

Everything per sample is integer arithmetic in kernels.py (plain) or kernels_viper.py (the same
code compiled to machine code on a board); the per-window Python work converts the kernels'
sums into the results with ints below 2^30 only (a 32-bit MicroPython boxes every float and
every larger int), so a window allocates nothing. Results are ints in fine units (AxisResult:
ug, um/s, x1000; float properties for host code); RMS, crest, kurtosis and velocity use 15-bit
mantissas with exponents (_div, _isqrt), about 1e-4 relative, far inside the 1% the tests ask.

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

All buffers are allocated once in Features.__init__ (zeros(): no bytes template) and the
tables are generated in integers straight into them (_tables: Q29 cos/sin by angle addition
from a Taylor-series fine table, within about 2 units of 2^-29): building a Features leaves
about 1 KB of garbage, where per-element math.sin/cos left about 270 KB of boxed floats.
"""

import math
from array import array

G_MM_S2 = 9806.65
HANN_ENERGY = 0.375  # mean of the Hann window squared
Q14 = 16384
Q29 = 1 << 29
FFT_MAX = 8192  # largest magnitude a FFT stage's inputs may have (after its shift)
TWO_PI_Q27 = 843314857  # round(2 pi * 2**27)


def plain_kernels():
    """The plain-Python kernels (the host tests use them to compare with the board's)."""
    from firmware import kernels as k

    return k


def zeros(code, count):
    """A zero-filled array('h'/'H'/'i') of `count` items. Sized from a range (the array takes
    its length and fills in place) rather than from bytes(size), whose template would be
    garbage as large as the array: a board's start then needs only the buffers themselves."""
    if count > 32767:
        return array(code, bytes(count * (4 if code == "i" else 2)))
    a = array(code, range(count))
    i = 0
    while i < count:
        a[i] = 0
        i += 1
    return a


def _log2(n):
    b = 0
    while (1 << b) < n:
        b += 1
    if (1 << b) != n:
        raise ValueError("window must be a power of two")
    return b


# ------------------------------------------------ small-int arithmetic (nothing above 2**30)
# On a 32-bit MicroPython an int of 2**30 or more is a heap object, a float always is: the
# per-window conversions below use only ints below 2**30, as (mantissa, exponent) where a
# quantity does not fit.


def _bits(v):
    """Bit length of 0 <= v < 2**30."""
    b = 0
    while v >= 256:
        v >>= 8
        b += 8
    while v:
        v >>= 1
        b += 1
    return b


def _shr(v, s):
    """v * 2**-s rounded half up (s may be negative: an exact left shift)."""
    if s <= 0:
        return v << -s
    return (v + (1 << (s - 1))) >> s


def _isqrt(v):
    """floor(sqrt(v)) for 0 <= v < 2**30, bit by bit."""
    r = 0
    b = 1 << 28
    while b > v:
        b >>= 2
    while b:
        if v >= r + b:
            v -= r + b
            r = (r >> 1) + b
        else:
            r >>= 1
        b >>= 2
    return r


def _pair_bits(hi, lo):
    """Bit length of hi * 65536 + lo (hi, lo >= 0, already carried: lo < 65536)."""
    return _bits(hi) + 16 if hi else _bits(lo)


def _pair_shr(hi, lo, s):
    """(hi * 65536 + lo) * 2**-s, truncated; the result must stay below 2**30."""
    if s <= 0:
        return (hi << (16 - s)) + (lo << -s)
    if s <= 16:
        return (hi << (16 - s)) + (lo >> s)
    return hi >> (s - 16)


def _div(a, b, e):
    """round(a / b * 2**e) for 0 <= a < 2**30, 0 < b < 2**30 (about 14 significant bits);
    the result must stay below 2**30."""
    if a == 0:
        return 0
    sa = 29 - _bits(a)
    a = a << sa if sa >= 0 else a >> -sa
    sb = _bits(b) - 15
    if sb > 0:
        b = (b + (1 << (sb - 1))) >> sb
    else:
        sb = 0
    return _shr(a // b, sa + sb - e)


def _mq29(a, b):
    """a * b / 2**29 for |a|, |b| <= 2**29 (Q29 product), within 2 units, in 15-bit halves."""
    neg = False
    if a < 0:
        a = -a
        neg = True
    if b < 0:
        b = -b
        neg = not neg
    ah = a >> 15
    al = a & 0x7FFF
    bh = b >> 15
    bl = b & 0x7FFF
    t = ((ah * bl) >> 1) + ((al * bh) >> 1) + ((al * bl) >> 16)
    r = ((ah * bh) << 1) + ((t + 4096) >> 13)
    return -r if neg else r


def _mant15(x):
    """A positive float as m * 2**e, 2**14 <= m < 2**15 (init only: a few floats)."""
    e = 0
    while x >= 32768.0:
        x = x / 2.0
        e += 1
    while x < 16384.0:
        x = x * 2.0
        e -= 1
    m = int(x + 0.5)
    if m == 32768:
        return 16384, e + 1
    return m, e


def _muldiv(a, c, b, e):
    """round(a * c / b * 2**e) for 0 <= a, b < 2**30, 0 <= c < 2**15 (a kept to 15 bits)."""
    sa = _bits(a) - 15
    if sa > 0:
        a >>= sa
    else:
        sa = 0
    return _div(a * c, b, e + sa)


def _cos_sin(num, bits, out):
    """cos and sin of 2 pi num / 2**bits in Q29 into out[0], out[1] (0 <= num <= 2**bits / 32,
    or num = 1): a Taylor series on an angle of at most 2 pi / 32, then doubled back. About
    2 units of 2**-29; ints only, so building the tables leaves no float garbage."""
    j = 0
    while (num << 5) > (1 << (bits + j)):
        j += 1
    bb = bits + j  # angle = 2 pi num / 2**bb <= 2 pi / 32
    ph = TWO_PI_Q27 >> 15
    pl = TWO_PI_Q27 & 0x7FFF
    x = ((num * ph) << (17 - bb)) + ((num * pl) >> (bb - 2))
    x2 = _mq29(x, x)
    x3 = _mq29(x2, x)
    x4 = _mq29(x2, x2)
    x6 = _mq29(x4, x2)
    c = Q29 - (x2 >> 1) + x4 // 24 - x6 // 720
    s = x - x3 // 6 + _mq29(x4, x) // 120 - _mq29(x6, x) // 5040
    while j:  # double the angle back
        c2 = Q29 - 2 * _mq29(s, s)
        s = 2 * _mq29(s, c)
        c = c2
        j -= 1
    out[0] = c
    out[1] = s


class AxisResult:
    """One axis of a window, as integers in fine units (nothing boxed per window): acceleration
    RMS and peak in ug (1e-6 g), crest factor and excess kurtosis x1000, velocity RMS in um/s.
    The float properties are for host code and tests; the node uses the integers."""

    def __init__(self):
        self.rms_ug = 0
        self.peak_ug = 0
        self.crest_x1000 = 0
        self.kurt_x1000 = 0
        self.vel_um_s = 0
        self.saturated = False

    @property
    def rms_g(self):
        return self.rms_ug / 1e6

    @property
    def peak_g(self):
        return self.peak_ug / 1e6

    @property
    def crest(self):
        return self.crest_x1000 / 1000.0

    @property
    def kurtosis(self):
        return self.kurt_x1000 / 1000.0

    @property
    def vel_mm_s(self):
        return self.vel_um_s / 1000.0


class Features:
    """Computes features of one window of three int16 axes; nothing is allocated per window."""

    def __init__(self, n, rate_hz, lsb_g, band=(10, 1000), kern=None):
        bits = _log2(n)
        if n < 8:
            raise ValueError("window must be at least 8 samples")
        if bits > 14:
            raise ValueError("window must be at most 16384 samples")
        self.n = n
        self.bits = bits
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
        self._out = zeros("i", 8)
        self._vo = zeros("i", 2)
        # int16 parameters of the kernels: 0 mean, 1 k, 2 s (moments), 3 s1, 4 s2,
        # 5/6 high/low 16 bits of the windowed sum, 7 log2(n), 8/9 first/last band bin.
        self._par = zeros("h", 10)
        self._z = zeros("h", n)  # n/2 complex points, interleaved re, im
        # Result scales as 15-bit mantissa * 2**exponent (a few floats, once):
        # ug per count, and um/s per unit of sqrt(band energy) * 2**(e - 14) (velocity()).
        self._lm, self._le = _mant15(lsb_g * 1e6)
        self._vm, self._ve = _mant15(
            math.sqrt(8.0 / HANN_ENERGY) * lsb_g * G_MM_S2 * 1000.0 / (n * rate_hz)
        )
        k0, k1 = self._band_bins()
        self._k0 = k0
        self._k1 = k1
        # Tables, integers generated in place: Q14 twiddles, the Q28 Hann window in two Q14
        # halves, and the velocity weights (see _tables).
        self._tw = zeros("h", n)  # cos, sin of 2 pi t / n for t < n/2
        self._hann = zeros("h", 2 * n)  # Q28 Hann window, high and low 14 bits
        self._cw = zeros("h", 2 * (k1 - k0 + 1 if k1 >= k0 else 1))
        self._tables()
        rev = zeros("H", m)
        i = 0
        while i < m:  # while, not for/range: no range object per index
            r = 0
            x = i
            j = 1
            while j < bits:
                r = (r << 1) | (x & 1)
                x >>= 1
                j += 1
            rev[i] = r
            i += 1
        self._rev = rev
        par = self._par
        par[7] = bits
        par[8] = k0
        par[9] = k1
        self.axes = (AxisResult(), AxisResult(), AxisResult())

    def _tables(self):
        """cos/sin of 2 pi t / n for t = 0..n/2 in Q29, by rotating a coarse angle through a
        table of fine ones (angle addition, _mq29), written straight into the arrays:
        - twiddles tw[2t], tw[2t + 1] = cos, sin in Q14;
        - Hann h_i = 1/2 - cos / 2 in Q28 (h_(n-i) = h_i), as hann[2i] = h >> 14 and
          hann[2i + 1] = h & 16383;
        - velocity weights: the FFT sees the running sum of the windowed signal (a 1/f
          pre-emphasis, so that the velocity content, not high-frequency acceleration, sets
          the fixed-point scale); c_k = (1 - W^k) * n / (2 pi k), W = exp(-2 pi i / n),
          |c_k| <= 1, undoes the sum exactly bin by bin and applies the 1 / f of the
          velocity: cw = Q14 (1 - cos) n / (2 pi k), Q14 sin n / (2 pi k), k0 <= k <= k1."""
        n = self.n
        bits = self.bits
        m = n >> 1
        tw = self._tw
        hann = self._hann
        cw = self._cw
        k0 = self._k0
        k1 = self._k1
        fine_n = n >> 5 if n >= 64 else 1
        fine = zeros("i", 2 * fine_n)
        cs = zeros("i", 2)
        b = 0
        while b < fine_n:
            _cos_sin(b, bits, cs)
            fine[2 * b] = cs[0]
            fine[2 * b + 1] = cs[1]
            b += 1
        _cos_sin(fine_n, bits, cs)
        rc = cs[0]
        rs = cs[1]
        cc = Q29  # coarse angle
        sc = 0
        t = 0
        while t <= m:
            b = 0
            while b < fine_n and t <= m:
                fc = fine[2 * b]
                fs = fine[2 * b + 1]
                c = _mq29(cc, fc) - _mq29(sc, fs)
                s = _mq29(sc, fc) + _mq29(cc, fs)
                if t < m:
                    tw[2 * t] = _shr(c, 15)
                    tw[2 * t + 1] = _shr(s, 15)
                h = (1 << 27) - _shr(c, 2)
                if h < 0:
                    h = 0
                if h > 1 << 28:
                    h = 1 << 28
                hann[2 * t] = h >> 14
                hann[2 * t + 1] = h & (Q14 - 1)
                if 0 < t < m:
                    hann[2 * (n - t)] = h >> 14
                    hann[2 * (n - t) + 1] = h & (Q14 - 1)
                if k0 <= t <= k1:
                    u = (Q29 - c) >> 1  # 1 - cos, Q28
                    v = s >> 1 if s > 0 else 0  # sin, Q28 (>= 0 for t < n/2)
                    d = t * 25736  # 2 pi k in Q12
                    cw[2 * (t - k0)] = _div(u, d, bits - 2)
                    cw[2 * (t - k0) + 1] = _div(v, d, bits - 2)
                t += 1
                b += 1
            c = _mq29(cc, rc) - _mq29(sc, rs)
            sc = _mq29(sc, rc) + _mq29(cc, rs)
            cc = c

    # ---------------------------------------------------------------- time domain

    def _ug(self, v, e):
        """v * 2**-e counts (0 <= v < 2**30) in ug."""
        sb = _bits(v) - 15
        if sb > 0:
            v >>= sb
        else:
            sb = 0
        return _shr(v * self._lm, e - sb - self._le)

    def moments(self, buf, res):
        """Fills res.rms_ug, peak_ug, crest_x1000, kurt_x1000, saturated; returns the integer
        mean. Ints below 2**30 only (see _div, _isqrt): nothing is allocated."""
        n = self.n
        bits = self.bits
        o = self._out
        par = self._par
        self.k.sum_min_max(buf, n, o)
        total = o[0]
        lo = o[1]
        hi = o[2]
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
        res.saturated = lo <= -32767 or hi >= 32767
        pn = hi * n - total  # n * peak deviation from the exact mean
        if total - lo * n > pn:
            pn = total - lo * n
        res.peak_ug = self._ug(pn, bits)
        # sum of d^2 = (h2 * 65536 + l2) * 4^k, sum of q^2 = (h4 * 65536 + l4) (4^s 16^k)
        h2 = o[4] + (o[3] >> 16)
        l2 = o[3] & 0xFFFF
        h4 = o[6] + (o[5] >> 16)
        l4 = o[5] & 0xFFFF
        # variance * 4^F as V < 2**30 with F as large as fits (the mean square about the
        # integer mean minus delta^2, delta = exact mean - integer mean = dd / n).
        f = (29 - (_pair_bits(h2, l2) + 2 * k - bits)) >> 1
        if f < 0:
            f = 0
        dd = total - mean * n
        v = _pair_shr(h2, l2, bits - 2 * k - 2 * f) - _shr(dd * dd, 2 * bits - 2 * f)
        if v <= 0:
            res.rms_ug = 0
            res.crest_x1000 = 0
            res.kurt_x1000 = 0
            return mean
        rq = _isqrt(v)  # rms * 2^F counts
        res.rms_ug = self._ug(rq, f)
        res.crest_x1000 = _muldiv(pn, 1000, rq, f - bits) if rq else 0
        thr = 2 * f - 2  # variance > 1/4 LSB^2, as before
        if (thr < 0 and v > 0) or (0 <= thr < 30 and v > (1 << thr)):
            # m4 / m2^2 = sum4 * 2^(2s + 4k + 4F - bits) / V^2, in 15-bit mantissas
            s4 = _pair_bits(h4, l4) - 15
            if s4 < 0:
                s4 = 0
            m4 = _pair_shr(h4, l4, s4)
            sv = _bits(v) - 15
            if sv < 0:
                sv = 0
            v15 = v >> sv
            e = s4 + 2 * s + 4 * k + 4 * f - bits - 2 * sv
            res.kurt_x1000 = _muldiv(m4, 1000, v15 * v15, e) - 3000
        else:
            res.kurt_x1000 = 0
        return mean

    # ---------------------------------------------------------------- frequency domain

    def _band_bins(self):
        n = self.n
        rate = self.rate_hz
        # k0 = ceil(lo / df), k1 = floor(hi / df), df = rate / n, in integers
        k0 = (self.band[0] * n + rate - 1) // rate
        k1 = (self.band[1] * n) // rate
        if k0 < 1:
            k0 = 1
        if k1 > n // 2 - 1:
            k1 = n // 2 - 1
        return k0, k1

    def velocity(self, buf):
        """Velocity RMS (um/s, an int) in the band of the axis whose moments() ran last."""
        n = self.n
        m = n >> 1
        o = self._out
        par = self._par
        mean = par[0]
        dmax = o[2] - mean
        if mean - o[1] > dmax:
            dmax = mean - o[1]
        if dmax == 0 or self._k1 < self._k0:
            return 0
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
        # sum_k |G_k / k|^2 = (2 pi / n)^2 * 4^(e - 14) * 4 * energy (G: DFT of d * hann);
        # with Parseval, the Hann energy and 1 / (2 pi df), f_k = k df, velocity RMS =
        # sqrt(energy) * 2^(e - 14) * sqrt(8 / 0.375) / (n rate) * lsb * g: the last factors
        # are _vm * 2^_ve (um/s). sqrt(energy) = isqrt(energy / 4^h) * 2^h, in small ints.
        eh = vo[1] + (vo[0] >> 16)
        el = vo[0] & 0xFFFF
        if eh == 0 and el == 0:
            return 0
        h = (_pair_bits(eh, el) - 29) >> 1
        r = _isqrt(_pair_shr(eh, el, 2 * h))
        return _shr(r * self._vm, 14 - e - h - self._ve)

    def compute(self, bx, by, bz):
        """Three int16 windows -> self.axes (three AxisResult), returned."""
        ax = self.axes
        a = ax[0]
        self.moments(bx, a)
        a.vel_um_s = self.velocity(bx)
        a = ax[1]
        self.moments(by, a)
        a.vel_um_s = self.velocity(by)
        a = ax[2]
        self.moments(bz, a)
        a.vel_um_s = self.velocity(bz)
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
