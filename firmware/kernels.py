"""Per-sample integer kernels, plain-Python version (runs everywhere).

kernels_viper.py holds the same functions with @micropython.viper type annotations; the
board picks it at import (see features.py). The bodies must stay identical apart from the
viper casts (ptr16/ptr32/int/uint) and annotations: tests/firmware/test_kernels.py
compares the two syntax trees, and traces every local of the plain version on full-scale
input to prove that no intermediate leaves the 31-bit small-int range (so viper's 32-bit
ints cannot overflow and plain MicroPython never falls back to big integers).

Samples are signed 16-bit (array('h')); viper reads them through ptr16 (unsigned), hence
the explicit sign fix-up, which is a no-op for array('h') on the plain path.
"""


def sum_min_max(buf, n, out):
    # out[0] = sum, out[1] = min, out[2] = max. |sum| <= 32768 * n < 2**30 for n <= 16384.
    p = buf
    o = out
    s = 0
    lo = 32767
    hi = -32768
    i = 0
    while i < n:
        x = int(p[i])
        if x > 32767:
            x -= 65536
        s += x
        if x < lo:
            lo = x
        if x > hi:
            hi = x
        i += 1
    o[0] = s
    o[1] = lo
    o[2] = hi
    return 0


def central_moments(buf, n, out):
    # In: out[0] = mean (int), out[1] = k (pre-shift), out[2] = s (d2 shift).
    # Out: out[3]/out[4] = low/high 16 bits sums of d2, out[5]/out[6] the same for q*q,
    # where d = (x - mean) >> k, d2 = d * d (< 2**30) and q = (d2 + r) >> s (<= 32767).
    p = buf
    o = out
    mean = int(o[0])
    k = int(o[1])
    s = int(o[2])
    r = (1 << s) >> 1
    lo2 = 0
    hi2 = 0
    lo4 = 0
    hi4 = 0
    i = 0
    while i < n:
        x = int(p[i])
        if x > 32767:
            x -= 65536
        d = (x - mean) >> k
        d2 = d * d
        lo2 += d2 & 0xFFFF
        hi2 += d2 >> 16
        q = (d2 + r) >> s
        q2 = q * q
        lo4 += q2 & 0xFFFF
        hi4 += q2 >> 16
        i += 1
    o[3] = lo2
    o[4] = hi2
    o[5] = lo4
    o[6] = hi4
    return 0
