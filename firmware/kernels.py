"""Per-sample integer kernels of a feature window, plain-Python version (runs everywhere).

kernels_viper.py holds the same functions under @micropython.viper; features.py selects it on
a board after checking it against this module on a known input (features.choose_kernels).
The bodies must stay identical apart from the viper casts (ptr16/ptr32, and int() around
every array load, which is a free cast in viper and a call in plain code) and annotations:
tests/firmware/test_kernels.py compares the two syntax trees, runs both on a real 64-bit
MicroPython (unix port) and compares every output, and traces every local of this version on
full-scale input to prove that no intermediate leaves the 31-bit small-int range (so viper's
32-bit ints cannot overflow and plain MicroPython never falls back to big integers).

Signed data is int16 only (array('h')), read through ptr16 in viper: a ptr16 load gives
0..65535 on every port, so the explicit fix-up `if x > 32767: x -= 65536` makes it signed on
32- and 64-bit boards alike (it is a no-op on the plain path). Viper never reads a negative
value through ptr32 (a 64-bit port zero-extends such a load): int32 arrays are written only,
and bit-reversal indices (array('H')) are never negative.

FFT data: complex points interleaved in one array('h') (re at 2j, im at 2j+1). Twiddles
tw[2t] = cos(2 pi t / n), tw[2t + 1] = sin(2 pi t / n) are Q14 (16384 = 1); the Hann window is
Q28 in two Q14 halves.
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
        x = p[i]
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


def central_moments(buf, n, par, out):
    # In (int16 par): par[0] = mean, par[1] = k (pre-shift), par[2] = s (d2 shift).
    # Out: out[3]/out[4] = low/high 16 bits sums of d2, out[5]/out[6] the same for q*q,
    # where d = (x - mean) >> k, d2 = d * d (< 2**30) and q = (d2 + r) >> s (<= 32767).
    p = buf
    a = par
    o = out
    mean = a[0]
    if mean > 32767:
        mean -= 65536
    k = a[1]
    s = a[2]
    r = (1 << s) >> 1
    lo2 = 0
    hi2 = 0
    lo4 = 0
    hi4 = 0
    i = 0
    while i < n:
        x = p[i]
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


def window_integrate(buf, n, par, hann, out):
    # Pass 1 of the velocity path: y_j = floor(sum over i <= j of (x_i - mean) * hann_i / 2**s1),
    # exact (the remainder r is carried, so rounding does not accumulate into a random walk
    # that the 1/f weighting would amplify), with par[0] = mean, par[3] = s1 chosen so that
    # n * max |g| < 2**28 (features.py).
    # hann_i is Q28 in two Q14 halves (hann[2i], hann[2i + 1]): a Q14 window alone puts its
    # rounding (3e-5) times a full-scale signal into every bin. |d * hann| <= 65535 * 16384.
    # out[0] = y_(n-1) = S (the sum of g), out[1] = max |y_j|, both < 2**28: window_load
    # stores values within out[1] + |S|.
    p = buf
    a = par
    w = hann
    o = out
    mean = a[0]
    if mean > 32767:
        mean -= 65536
    s1 = a[3]
    mask = (1 << s1) - 1
    y = 0
    r = 0
    mx = 0
    i = 0
    while i < n:
        x = p[i]
        if x > 32767:
            x -= 65536
        d = x - mean
        t = d * w[2 * i] + ((d * w[2 * i + 1]) >> 14)
        y += t >> s1
        r += t & mask
        if r > mask:
            r -= mask + 1
            y += 1
        if y > mx:
            mx = y
        if -y > mx:
            mx = -y
        i += 1
    o[0] = y
    o[1] = mx
    return 0


def window_load(buf, n, par, hann, rev, z):
    # Pass 2: the same running sum minus the ramp floor((j + 1) * S / n), S = the sum of g
    # (par[5] * 65536 + (par[6] & 0xFFFF)), so the sequence y ends at exactly 0 and its DFT Y
    # obeys G_k = Y_k * (1 - W^k) for k != 0 (G: DFT of g); |y| < 2**29.
    # Stored rounded >> s2 (par[4]) into z: even samples as real parts,
    # odd ones as imaginary parts, at the bit-reversed position of their pair (fft_stage).
    # par[7] = log2(n). Returns the largest magnitude stored (<= 8192 with features.py's s2).
    p = buf
    a = par
    w = hann
    b = rev
    o = z
    mean = a[0]
    if mean > 32767:
        mean -= 65536
    s1 = a[3]
    s2 = a[4]
    hi = a[5]
    if hi > 32767:
        hi -= 65536
    total = (hi << 16) + (a[6] & 0xFFFF)
    bits = a[7]
    q = total >> bits
    rem = total & (n - 1)
    half = (1 << s2) >> 1
    mask = (1 << s1) - 1
    y = 0
    r = 0
    ramp = 0
    frac = 0
    mx = 0
    i = 0
    while i < n:
        x = p[i]
        if x > 32767:
            x -= 65536
        d = x - mean
        t = d * w[2 * i] + ((d * w[2 * i + 1]) >> 14)
        y += t >> s1
        r += t & mask
        if r > mask:
            r -= mask + 1
            y += 1
        ramp += q
        frac += rem
        if frac >= n:
            frac -= n
            ramp += 1
        v = (y - ramp + half) >> s2
        o[2 * b[i >> 1] + (i & 1)] = v
        if v < 0:
            v = -v
        if v > mx:
            mx = v
        i += 1
    return mx


def fft_stage(z, m, size, sh, tw):
    # One radix-2 decimation-in-time stage over m complex points, butterflies of `size`,
    # every input first shifted right by sh with rounding (block floating point: features.py
    # picks sh so that inputs are <= 8192, complex magnitude <= 11586; then |products| <= 2**28
    # and outputs <= 8192 + 11587 < 19780 per component, magnitude <= 23172).
    # Returns the largest output component magnitude, from which the next stage's shift follows.
    o = z
    c = tw
    half = size >> 1
    step = (2 * m) // size
    rnd = (1 << sh) >> 1
    mx = 0
    start = 0
    while start < m:
        t = 0
        j = start
        end = start + half
        while j < end:
            wr = c[2 * t]
            if wr > 32767:
                wr -= 65536
            wi = c[2 * t + 1]
            if wi > 32767:
                wi -= 65536
            u = 2 * j
            v = u + size
            ar = o[u]
            if ar > 32767:
                ar -= 65536
            ai = o[u + 1]
            if ai > 32767:
                ai -= 65536
            br = o[v]
            if br > 32767:
                br -= 65536
            bi = o[v + 1]
            if bi > 32767:
                bi -= 65536
            ar = (ar + rnd) >> sh
            ai = (ai + rnd) >> sh
            br = (br + rnd) >> sh
            bi = (bi + rnd) >> sh
            # (br + i bi) * (wr - i wi), rounded back from Q14
            xr = (br * wr + bi * wi + 8192) >> 14
            xi = (bi * wr - br * wi + 8192) >> 14
            br = ar - xr
            bi = ai - xi
            ar = ar + xr
            ai = ai + xi
            o[u] = ar
            o[u + 1] = ai
            o[v] = br
            o[v + 1] = bi
            if ar < 0:
                ar = -ar
            if ai < 0:
                ai = -ai
            if br < 0:
                br = -br
            if bi < 0:
                bi = -bi
            if ar > mx:
                mx = ar
            if ai > mx:
                mx = ai
            if br > mx:
                mx = br
            if bi > mx:
                mx = bi
            t += step
            j += 1
        start += size
    return mx


def band_energy(z, m, par, tw, cw, out):
    # Velocity energy of bins k0..k1 (par[8], par[9]) of the real 2m-point sequence y whose
    # m-point complex FFT (even samples + i odd samples) is in z. Bin k of y:
    # E = (Z_k + conj Z_m-k) / 2, O = (Z_k - conj Z_m-k) / 2i, Y_k = E + W^k O,
    # W = exp(-2 pi i / 2m); |E|, |O| <= 23172, |Y_k| <= 46345. Velocity bin: V_k = Y_k * c_k,
    # c_k = (1 - W^k) * 2m / (2 pi k) in Q14 (cw[2(k - k0)], cw[2(k - k0) + 1], |c_k| <= 1),
    # v = V_k rounded >> 15 (|v| <= 23173, |v|^2 < 2**30). out[0]/out[1] = low/high 16-bit
    # sums of |v|^2. Returns the number of bins.
    o = z
    c = tw
    g = cw
    a = par
    q = out
    k0 = a[8]
    k1 = a[9]
    lo = 0
    hi = 0
    k = k0
    while k <= k1:
        u = 2 * k
        v = 2 * (m - k)
        zr = o[u]
        if zr > 32767:
            zr -= 65536
        zi = o[u + 1]
        if zi > 32767:
            zi -= 65536
        yr = o[v]
        if yr > 32767:
            yr -= 65536
        yi = o[v + 1]
        if yi > 32767:
            yi -= 65536
        wr = c[u]
        if wr > 32767:
            wr -= 65536
        wi = c[u + 1]
        if wi > 32767:
            wi -= 65536
        er = (zr + yr + 1) >> 1
        ei = (zi - yi + 1) >> 1
        fr = (zi + yi + 1) >> 1
        fi = (yr - zr + 1) >> 1
        # Y = E + (fr + i fi) * (wr - i wi), rounded back from Q14
        xr = er + ((fr * wr + fi * wi + 8192) >> 14)
        xi = ei + ((fi * wr - fr * wi + 8192) >> 14)
        u = 2 * (k - k0)
        cr = g[u]
        ci = g[u + 1]
        vr = (xr * cr - xi * ci + 16384) >> 15
        vi = (xr * ci + xi * cr + 16384) >> 15
        e = vr * vr + vi * vi
        lo += e & 0xFFFF
        hi += e >> 16
        k += 1
    q[0] = lo
    q[1] = hi
    return k1 - k0 + 1
