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
# of the first primes; test_ota derives them and compares), big-endian 64-bit words.
_KB = (
    b"\x6a\x09\xe6\x67\xf3\xbc\xc9\x08\xbb\x67\xae\x85\x84\xca\xa7\x3b\x3c\x6e\xf3\x72\xfe\x94\xf8\x2b"
    b"\xa5\x4f\xf5\x3a\x5f\x1d\x36\xf1\x51\x0e\x52\x7f\xad\xe6\x82\xd1\x9b\x05\x68\x8c\x2b\x3e\x6c\x1f"
    b"\x1f\x83\xd9\xab\xfb\x41\xbd\x6b\x5b\xe0\xcd\x19\x13\x7e\x21\x79\x42\x8a\x2f\x98\xd7\x28\xae\x22"
    b"\x71\x37\x44\x91\x23\xef\x65\xcd\xb5\xc0\xfb\xcf\xec\x4d\x3b\x2f\xe9\xb5\xdb\xa5\x81\x89\xdb\xbc"
    b"\x39\x56\xc2\x5b\xf3\x48\xb5\x38\x59\xf1\x11\xf1\xb6\x05\xd0\x19\x92\x3f\x82\xa4\xaf\x19\x4f\x9b"
    b"\xab\x1c\x5e\xd5\xda\x6d\x81\x18\xd8\x07\xaa\x98\xa3\x03\x02\x42\x12\x83\x5b\x01\x45\x70\x6f\xbe"
    b"\x24\x31\x85\xbe\x4e\xe4\xb2\x8c\x55\x0c\x7d\xc3\xd5\xff\xb4\xe2\x72\xbe\x5d\x74\xf2\x7b\x89\x6f"
    b"\x80\xde\xb1\xfe\x3b\x16\x96\xb1\x9b\xdc\x06\xa7\x25\xc7\x12\x35\xc1\x9b\xf1\x74\xcf\x69\x26\x94"
    b"\xe4\x9b\x69\xc1\x9e\xf1\x4a\xd2\xef\xbe\x47\x86\x38\x4f\x25\xe3\x0f\xc1\x9d\xc6\x8b\x8c\xd5\xb5"
    b"\x24\x0c\xa1\xcc\x77\xac\x9c\x65\x2d\xe9\x2c\x6f\x59\x2b\x02\x75\x4a\x74\x84\xaa\x6e\xa6\xe4\x83"
    b"\x5c\xb0\xa9\xdc\xbd\x41\xfb\xd4\x76\xf9\x88\xda\x83\x11\x53\xb5\x98\x3e\x51\x52\xee\x66\xdf\xab"
    b"\xa8\x31\xc6\x6d\x2d\xb4\x32\x10\xb0\x03\x27\xc8\x98\xfb\x21\x3f\xbf\x59\x7f\xc7\xbe\xef\x0e\xe4"
    b"\xc6\xe0\x0b\xf3\x3d\xa8\x8f\xc2\xd5\xa7\x91\x47\x93\x0a\xa7\x25\x06\xca\x63\x51\xe0\x03\x82\x6f"
    b"\x14\x29\x29\x67\x0a\x0e\x6e\x70\x27\xb7\x0a\x85\x46\xd2\x2f\xfc\x2e\x1b\x21\x38\x5c\x26\xc9\x26"
    b"\x4d\x2c\x6d\xfc\x5a\xc4\x2a\xed\x53\x38\x0d\x13\x9d\x95\xb3\xdf\x65\x0a\x73\x54\x8b\xaf\x63\xde"
    b"\x76\x6a\x0a\xbb\x3c\x77\xb2\xa8\x81\xc2\xc9\x2e\x47\xed\xae\xe6\x92\x72\x2c\x85\x14\x82\x35\x3b"
    b"\xa2\xbf\xe8\xa1\x4c\xf1\x03\x64\xa8\x1a\x66\x4b\xbc\x42\x30\x01\xc2\x4b\x8b\x70\xd0\xf8\x97\x91"
    b"\xc7\x6c\x51\xa3\x06\x54\xbe\x30\xd1\x92\xe8\x19\xd6\xef\x52\x18\xd6\x99\x06\x24\x55\x65\xa9\x10"
    b"\xf4\x0e\x35\x85\x57\x71\x20\x2a\x10\x6a\xa0\x70\x32\xbb\xd1\xb8\x19\xa4\xc1\x16\xb8\xd2\xd0\xc8"
    b"\x1e\x37\x6c\x08\x51\x41\xab\x53\x27\x48\x77\x4c\xdf\x8e\xeb\x99\x34\xb0\xbc\xb5\xe1\x9b\x48\xa8"
    b"\x39\x1c\x0c\xb3\xc5\xc9\x5a\x63\x4e\xd8\xaa\x4a\xe3\x41\x8a\xcb\x5b\x9c\xca\x4f\x77\x63\xe3\x73"
    b"\x68\x2e\x6f\xf3\xd6\xb2\xb8\xa3\x74\x8f\x82\xee\x5d\xef\xb2\xfc\x78\xa5\x63\x6f\x43\x17\x2f\x60"
    b"\x84\xc8\x78\x14\xa1\xf0\xab\x72\x8c\xc7\x02\x08\x1a\x64\x39\xec\x90\xbe\xff\xfa\x23\x63\x1e\x28"
    b"\xa4\x50\x6c\xeb\xde\x82\xbd\xe9\xbe\xf9\xa3\xf7\xb2\xc6\x79\x15\xc6\x71\x78\xf2\xe3\x72\x53\x2b"
    b"\xca\x27\x3e\xce\xea\x26\x61\x9c\xd1\x86\xb8\xc7\x21\xc0\xc2\x07\xea\xda\x7d\xd6\xcd\xe0\xeb\x1e"
    b"\xf5\x7d\x4f\x7f\xee\x6e\xd1\x78\x06\xf0\x67\xaa\x72\x17\x6f\xba\x0a\x63\x7d\xc5\xa2\xc8\x98\xa6"
    b"\x11\x3f\x98\x04\xbe\xf9\x0d\xae\x1b\x71\x0b\x35\x13\x1c\x47\x1b\x28\xdb\x77\xf5\x23\x04\x7d\x84"
    b"\x32\xca\xab\x7b\x40\xc7\x24\x93\x3c\x9e\xbe\x0a\x15\xc9\xbe\xbc\x43\x1d\x67\xc4\x9c\x10\x0d\x4c"
    b"\x4c\xc5\xd4\xbe\xcb\x3e\x42\xb6\x59\x7f\x29\x9c\xfc\x65\x7e\x2a\x5f\xcb\x6f\xab\x3a\xd6\xfa\xec"
    b"\x6c\x44\x19\x8c\x4a\x47\x58\x17"
)
# A 64-bit word is 4 limbs of 16 bits, least significant first, at 4 * word index.
_K = array("H", bytes(2 * 4 * 88))  # H0 (words 0-7), then K (8-87); filled at first use


def _limbs():
    if _K[0] or _K[1]:
        return
    for w in range(88):
        for j in range(4):
            _K[4 * w + j] = (_KB[8 * w + 6 - 2 * j] << 8) | _KB[8 * w + 7 - 2 * j]


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
    result (True / False) on every later call. Units: the key, then the fixed points (two),
    each 128-byte block of R || A || message hashed (one each), then a doubling or an addition
    for each of the 253 scalar bits (about 440). In the 32-bit MicroPython VM a unit leaves
    at most about 2.5 KB of garbage (bench.ota_cost, tests/firmware/test_ota_heap.py).
    The node signs short messages (the manifest's SHA-256), so it hashes one block."""

    def __init__(self, public_key, message, signature):
        self.result = None
        self.key = bytes(public_key)
        self.msg = message
        self.sig = bytes(signature)
        self.off = -2  # next message offset to hash; -2, -1: the two setup units first
        self.add = False  # the addition of bit i is next (its doubling is done)
        self.i = -1  # scalar bit to do next; -1 while hashing
        self.sha = Sha512()
        self.acc = (0, 1, 1, 0)  # the accumulator: the neutral point

    def _setup(self):
        """Two units: the key decoded (a square root: the largest), then the fixed points."""
        sig = self.sig
        if self.off == -2:
            a = _decode(self.key) if len(sig) == 64 else None
            s = int.from_bytes(sig[32:], "little") if a is not None else L
            if a is None or s >= L:
                self.result = False
                return
            self.s = s
            self.na = _cached(P - a[0], a[1])  # -A = (-x, y)
            self.off = -1
            return
        self.b = _cached(BX, BY)
        x, y, z, _ = _madd(BX, BY, 1, BX * BY % P, self.na)  # B - A, once, made affine
        zi = _inv(z)
        self.bna = _cached(x * zi % P, y * zi % P)
        self.sha.update(memoryview(sig)[:32])
        self.sha.update(self.key)
        self.off = 0

    def step(self, units=1):
        while self.result is None and self.off < 0 and units > 0:
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
        s, h, i, add = self.s, self.h, self.i, self.add
        while units > 0 and i >= 0:  # [s]B + [h](-A), one shared doubling chain
            bs = (s >> i) & 1  # a unit: the doubling of bit i, or its addition
            bh = (h >> i) & 1
            units -= 1
            if not add:
                x, y, z, t = _dbl(x, y, z, bs | bh)
                add = bool(bs | bh)
                if add:
                    continue
            elif bs and bh:
                x, y, z, t = _madd(x, y, z, t, self.bna)
            elif bs:
                x, y, z, t = _madd(x, y, z, t, self.b)
            else:
                x, y, z, t = _madd(x, y, z, t, self.na)
            add = False
            i -= 1
        self.i, self.add = i, add
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
