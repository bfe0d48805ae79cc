"""Board variants of kernels.py: the same bodies under @micropython.viper.

Imported only where `micropython.viper` exists (features.py); never on CPython or the WASI VM.
Keep every line in step with kernels.py: a test compares the two syntax trees.
"""

import micropython


@micropython.viper
def sum_min_max(buf, n: int, out) -> int:
    # out[0] = sum, out[1] = min, out[2] = max. |sum| <= 32768 * n < 2**30 for n <= 16384.
    p = ptr16(buf)  # noqa: F821 (viper builtin)
    o = ptr32(out)  # noqa: F821 (viper builtin)
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


@micropython.viper
def central_moments(buf, n: int, out) -> int:
    # In: out[0] = mean (int), out[1] = k (pre-shift), out[2] = s (d2 shift).
    # Out: out[3]/out[4] = low/high 16 bits sums of d2, out[5]/out[6] the same for q*q,
    # where d = (x - mean) >> k, d2 = d * d (< 2**30) and q = (d2 + r) >> s (<= 32767).
    p = ptr16(buf)  # noqa: F821 (viper builtin)
    o = ptr32(out)  # noqa: F821 (viper builtin)
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
