"""Ed25519 signature verification (RFC 8032) in plain Python for MicroPython boards.

Only verification: the node holds the fleet's public key, the gateway signs. Written for a
node's heap (docs/FIRMWARE.md, Heap during an update): SHA-512 is streamed (one 128-byte block
per slice, no copy of the message) and works on 16-bit limbs in preallocated
arrays (64-bit words would be big integers on a 32-bit port: every operation would allocate),
and the curve arithmetic uses formulas with few big-integer temporaries: one joint
double-and-add ([S]B - [h]A, Shamir's trick) in extended coordinates with the three fixed
points (B, -A, B - A) precomputed in affine "cached" form. Every slice of work (`step`) leaves
a few KB of short-lived garbage at most, so the node's loop runs it in slices, polling and
feeding the watchdog between them.

`verify(public_key, message, signature) -> bool` in one go, or
`Verify(public_key, message, signature).step(units)` in slices (see there).
"""

from array import array

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
# -121665 / 121666 mod P, 2d, sqrt(-1) and the base point: derived once in
# tests/firmware/test_ota.py from their definitions (computing them here at import would cost
# a few KB of garbage on every update)
D = 0x52036CEE2B6FFE738CC740797779E89800700A4D4141D8AB75EB4DCA135978A3
D2 = 2 * D % P
SQRT_M1 = 0x2B8324804FC1DF0B2B4D00993DFBD7A72F431806AD2FE478C4EE1B274A0EA0B0
BX = 0x216936D3CD6E53FEC0A4E231FDD6DC5C692CC7609525A7B2C9562D608F25D51A
BY = 0x6666666666666666666666666666666666666666666666666666666666666658
_SQRT_EXP = (P - 5) // 8

# ------------------------------------------------------------------ SHA-512

# The 8 initial values and 80 round constants (fractional parts of the square and cube roots
# of the first primes; test_ota derives them and compares), as hex: indexing bytes gives
# small ints, so turning them into limbs allocates nothing but the arrays.
_HEX = (
    b"6a09e667f3bcc908bb67ae8584caa73b3c6ef372fe94f82ba54ff53a5f1d36f1"
    b"510e527fade682d19b05688c2b3e6c1f1f83d9abfb41bd6b5be0cd19137e2179"
    b"428a2f98d728ae227137449123ef65cdb5c0fbcfec4d3b2fe9b5dba58189dbbc3956c25bf348b53859f111f1b605d019"
    b"923f82a4af194f9bab1c5ed5da6d8118d807aa98a303024212835b0145706fbe243185be4ee4b28c550c7dc3d5ffb4e2"
    b"72be5d74f27b896f80deb1fe3b1696b19bdc06a725c71235c19bf174cf692694e49b69c19ef14ad2efbe4786384f25e3"
    b"0fc19dc68b8cd5b5240ca1cc77ac9c652de92c6f592b02754a7484aa6ea6e4835cb0a9dcbd41fbd476f988da831153b5"
    b"983e5152ee66dfaba831c66d2db43210b00327c898fb213fbf597fc7beef0ee4c6e00bf33da88fc2d5a79147930aa725"
    b"06ca6351e003826f142929670a0e6e7027b70a8546d22ffc2e1b21385c26c9264d2c6dfc5ac42aed53380d139d95b3df"
    b"650a73548baf63de766a0abb3c77b2a881c2c92e47edaee692722c851482353ba2bfe8a14cf10364a81a664bbc423001"
    b"c24b8b70d0f89791c76c51a30654be30d192e819d6ef5218d69906245565a910f40e35855771202a106aa07032bbd1b8"
    b"19a4c116b8d2d0c81e376c085141ab532748774cdf8eeb9934b0bcb5e19b48a8391c0cb3c5c95a634ed8aa4ae3418acb"
    b"5b9cca4f7763e373682e6ff3d6b2b8a3748f82ee5defb2fc78a5636f43172f6084c87814a1f0ab728cc702081a6439ec"
    b"90befffa23631e28a4506cebde82bde9bef9a3f7b2c67915c67178f2e372532bca273eceea26619cd186b8c721c0c207"
    b"eada7dd6cde0eb1ef57d4f7fee6ed17806f067aa72176fba0a637dc5a2c898a6113f9804bef90dae1b710b35131c471b"
    b"28db77f523047d8432caab7b40c724933c9ebe0a15c9bebc431d67c49c100d4c4cc5d4becb3e42b6597f299cfc657e2a"
    b"5fcb6fab3ad6faec6c44198c4a475817"
)
# A 64-bit word is 4 limbs of 16 bits, least significant first, at 4 * word index.
_K = array("H", bytes(2 * 4 * 88))  # H0 (words 0-7), then K (8-87); filled at first use


def _limbs():
    if _K[0] or _K[1]:
        return
    h = _HEX
    for w in range(88):
        for j in range(4):
            v = 0
            o = 16 * w + 4 * (3 - j)
            for c in range(o, o + 4):
                c = h[c]
                v = (v << 4) | (c - 48 if c < 58 else c - 87)
            _K[4 * w + j] = v


# Rotations and shifts of sigma functions, (q, r) pairs: n = 16 q + r. Index 6 says whether
# the third is a shift (the message schedule's small sigmas) rather than a rotation.
_S0 = (1, 12, 2, 2, 2, 7, 0)  # rotr 28, 34, 39
_S1 = (0, 14, 1, 2, 2, 9, 0)  # rotr 14, 18, 41
_s0 = (0, 1, 0, 8, 0, 7, 1)  # rotr 1, rotr 8, shr 7
_s1 = (1, 3, 3, 13, 0, 6, 1)  # rotr 19, rotr 61, shr 6


def _sigma(src, o, spec, sc, out):
    """out[0:4] = the sigma of the word at src[o:o+4]. sc: 12 scratch limbs."""
    for i in range(4):
        v = src[o + i]
        sc[i] = v
        sc[i + 4] = v
        sc[i + 8] = 0
    q1, r1, q2, r2, q3, r3, shr = spec
    m1 = (1 << r1) - 1
    m2 = (1 << r2) - 1
    m3 = (1 << r3) - 1
    s1 = 16 - r1
    s2 = 16 - r2
    s3 = 16 - r3
    for i in range(4):
        a = ((sc[i + q1 + 1] & m1) << s1) | (sc[i + q1] >> r1)
        b = ((sc[i + q2 + 1] & m2) << s2) | (sc[i + q2] >> r2)
        j = i + q3
        if shr:  # a shift: the limbs above the word are zero
            c = ((sc[j + 5 if j + 1 > 3 else j + 1] & m3) << s3) | (sc[j + 4 if j > 3 else j] >> r3)
        else:
            c = ((sc[j + 1] & m3) << s3) | (sc[j] >> r3)
        out[i] = a ^ b ^ c


class Sha512:
    """Streaming SHA-512: update(data) any number of times, then digest() once. Holds about
    0.6 KB (state, a 16-word message window, a block buffer); allocates nothing per block."""

    def __init__(self):
        _limbs()
        self.h = array("H", _K[:32])
        self.w = array("H", bytes(128))  # the last 16 message words
        self.v = array("H", bytes(64))  # the working variables a..h
        self.buf = bytearray(128)
        self.n = 0  # bytes in buf
        self.total = 0

    def update(self, data):
        buf = self.buf
        n = self.n
        for b in data:
            buf[n] = b
            n += 1
            if n == 128:
                self._block()
                n = 0
        self.total += len(data)
        self.n = n

    def digest(self):
        bits = self.total * 8
        self.update(b"\x80")
        while self.n != 112:
            self.update(b"\x00")
        for i in range(15, -1, -1):
            self.update(bytes(((bits >> (8 * i)) & 0xFF,)))
        h = self.h
        out = bytearray(64)
        for w in range(8):
            for j in range(4):
                v = h[4 * w + j]
                out[8 * w + 6 - 2 * j] = v >> 8
                out[8 * w + 7 - 2 * j] = v & 0xFF
        return bytes(out)

    def _block(self):
        buf, w, v, k, t = self.buf, self.w, self.v, _K, _T1
        for i in range(16):
            for j in range(4):
                w[4 * i + j] = (buf[8 * i + 6 - 2 * j] << 8) | buf[8 * i + 7 - 2 * j]
        h = self.h
        for i in range(32):
            v[i] = h[i]
        base = 0  # the working variable a is word `base`, b is base+1, ... (mod 8)
        for r in range(80):
            wo = 4 * (r & 15)
            if r >= 16:  # w[r] = s1(w[r-2]) + w[r-7] + s0(w[r-15]) + w[r-16], in place
                _sigma(w, 4 * ((r - 2) & 15), _s1, _SC, t)
                _sigma(w, 4 * ((r - 15) & 15), _s0, _SC, _T2)
                o7 = 4 * ((r - 7) & 15)
                c = 0
                for j in range(4):
                    c += t[j] + _T2[j] + w[o7 + j] + w[wo + j]
                    w[wo + j] = c & 0xFFFF
                    c >>= 16
            a = 4 * base
            e = 4 * ((base + 4) & 7)
            f = 4 * ((base + 5) & 7)
            g = 4 * ((base + 6) & 7)
            hh = 4 * ((base + 7) & 7)
            b = 4 * ((base + 1) & 7)
            cc = 4 * ((base + 2) & 7)
            d = 4 * ((base + 3) & 7)
            _sigma(v, e, _S1, _SC, t)  # Sigma1(e)
            _sigma(v, a, _S0, _SC, _T2)  # Sigma0(a)
            ko = 32 + 4 * r
            c1 = 0
            c2 = 0
            c3 = 0
            for j in range(4):
                ej = v[e + j]
                aj = v[a + j]
                bj = v[b + j]
                c1 += v[hh + j] + t[j] + ((ej & v[f + j]) ^ (~ej & v[g + j] & 0xFFFF)) + k[ko + j]
                c1 += w[wo + j]
                t1 = c1 & 0xFFFF  # t1 limb j
                c1 >>= 16
                c2 += t1 + v[d + j]  # the new e = d + t1
                c3 += t1 + _T2[j] + ((aj & bj) ^ (aj & v[cc + j]) ^ (bj & v[cc + j]))
                v[d + j] = c2 & 0xFFFF
                v[hh + j] = c3 & 0xFFFF  # the new a = t1 + t2, in h's place
                c2 >>= 16
                c3 >>= 16
            base = (base - 1) & 7
        # after 80 rounds base is back at 0: a is word 0 again
        for i in range(8):
            o = 4 * i
            c = 0
            for j in range(4):
                c += h[o + j] + v[o + j]
                h[o + j] = c & 0xFFFF
                c >>= 16


_SC = array("H", bytes(24))  # scratch for _sigma (12 limbs)
_T1 = array("H", bytes(8))  # sigma outputs (one word each)
_T2 = array("H", bytes(8))


def sha512(data):
    s = Sha512()
    s.update(data)
    return s.digest()


# ------------------------------------------------------------------ the curve


def _inv(x):
    return pow(x, P - 2, P)


def _decode(s):
    """32 bytes -> affine (x, y), or None if not a point."""
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        return None
    yy = y * y % P
    u = (yy - 1) % P
    v = (D * yy + 1) % P
    v3 = v * v * v % P
    x = u * v3 * pow(u * v3 * v3 * v % P, _SQRT_EXP, P) % P
    vx2 = v * x * x % P
    if vx2 == (P - u) % P:
        x = x * SQRT_M1 % P
    elif vx2 != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return x, y


def _cached(x, y):
    """Affine point -> (y + x, y - x, 2 d x y): what the mixed addition needs."""
    return ((y + x) % P, (y - x) % P, D2 * x * y % P)


class Verify:
    """One verification in slices, so the node's loop keeps polling and feeding the watchdog.

    `step(units)` does that many units of work and returns None while unfinished, then the
    result (True / False) on every later call. Units: the key and the fixed points (one), each
    128-byte block of R || A || message hashed (one each), each of the 253 scalar bits (one
    each). In the 32-bit MicroPython VM a bit leaves about 3-4.5 KB of garbage, a block
    0.2 KB, the first unit about 8 KB (bench.ota_cost, tests/firmware/test_ota_heap.py).
    The node signs short messages (the manifest's SHA-256), so it hashes one block."""

    def __init__(self, public_key, message, signature):
        self.result = None
        self.key = bytes(public_key)
        self.msg = message
        self.sig = bytes(signature)
        self.off = -1  # next message offset to hash; -1: the key is not decoded yet
        self.i = -1  # scalar bit to do next; -1 while hashing
        self.sha = Sha512()
        self.acc = (0, 1, 1, 0)  # the accumulator: the neutral point

    def _setup(self):
        sig = self.sig
        a = _decode(self.key) if len(sig) == 64 else None
        s = int.from_bytes(sig[32:], "little") if a is not None else L
        if a is None or s >= L:
            self.result = False
            return
        self.s = s
        # -A = (-x, y); B - A once, in affine form (one inversion)
        self.na = _cached(P - a[0], a[1])
        self.b = _cached(BX, BY)
        x, y, z, _ = _madd(BX, BY, 1, BX * BY % P, self.na)
        zi = _inv(z)
        self.bna = _cached(x * zi % P, y * zi % P)
        self.sha.update(memoryview(sig)[:32])
        self.sha.update(self.key)
        self.off = 0

    def step(self, units=1):
        if self.result is None and self.off < 0 and units > 0:
            self._setup()
            units -= 1
        if self.result is not None:
            return self.result
        while units > 0 and self.i < 0:  # hash the message: one block per unit
            off = self.off
            part = memoryview(self.msg)[off : off + 128 - self.sha.n]
            self.sha.update(part)
            self.off = off + len(part)
            units -= 1
            if self.off >= len(self.msg):
                self.h = int.from_bytes(self.sha.digest(), "little") % L
                self.msg = b""
                self.i = 252  # s, h < L < 2^253
        if self.i < 0:
            return None
        x, y, z, t = self.acc
        s, h, i = self.s, self.h, self.i
        while units > 0 and i >= 0:  # [s]B + [h](-A), one shared doubling chain
            bs = (s >> i) & 1
            bh = (h >> i) & 1
            x, y, z, t = _dbl(x, y, z, bs | bh)
            if bs and bh:
                x, y, z, t = _madd(x, y, z, t, self.bna)
            elif bs:
                x, y, z, t = _madd(x, y, z, t, self.b)
            elif bh:
                x, y, z, t = _madd(x, y, z, t, self.na)
            i -= 1
            units -= 1
        self.i = i
        if i >= 0:
            self.acc = (x, y, z, t)
            return None
        zi = _inv(z)
        x = x * zi % P
        y = y * zi % P
        self.result = (y | ((x & 1) << 255)).to_bytes(32, "little") == self.sig[:32]
        self.acc = (0, 1, 1, 0)  # free the big numbers
        self.na = self.b = self.bna = (0, 0, 0)
        return self.result


def _dbl(x1, y1, z1, want_t):
    """2 * (x1, y1, z1) in extended coordinates (a = -1); T only when an addition follows."""
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    e = x1 + y1
    e = (e * e - a - b) % P
    g = b - a
    f = g - c
    h = -a - b
    return e * f % P, g * h % P, f * g % P, (e * h % P) if want_t else 0


def _madd(x1, y1, z1, t1, q):
    """(x1, y1, z1, t1) + an affine point in cached form (y + x, y - x, 2 d x y)."""
    a = (y1 - x1) * q[1] % P
    b = (y1 + x1) * q[0] % P
    c = t1 * q[2] % P
    d = 2 * z1
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    return e * f % P, g * h % P, f * g % P, 0  # T: not needed, a doubling follows


def verify(public_key, message, signature):
    """True if `signature` is `public_key`'s Ed25519 signature of `message` (in one go)."""
    v = Verify(public_key, bytes(message), signature)
    while True:
        r = v.step(64)
        if r is not None:
            return r
