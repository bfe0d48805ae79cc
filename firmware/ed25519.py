"""Ed25519 signature verification (RFC 8032) in plain Python for MicroPython boards.

Only verification: the node holds the fleet's public key, the gateway signs. Written for
small heaps: no tables, one joint double-and-add ([S]B - [h]A, Shamir's trick) in extended
twisted-Edwards coordinates, integers only. SHA-512 is computed here too (MicroPython's
hashlib on the boards has sha256 only); its round constants are derived at first use from
the primes (fractional parts of square and cube roots), not typed in.

`verify(public_key, message, signature) -> bool` in one go, or `Verify(...).step(bits)` in
slices from a cooperative loop (see there).
"""

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
M64 = 0xFFFFFFFFFFFFFFFF


def _inv(x):
    return pow(x, P - 2, P)


D = -121665 * _inv(121666) % P
D2 = 2 * D % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

# ------------------------------------------------------------------ SHA-512

_K = [0] * 0  # the 80 round constants and 8 initial values, derived at first use
_H0 = [0] * 0


def _iroot(n, k):
    """floor(n ** (1 / k)) for integers (Newton's method)."""
    x = 1
    while x**k <= n:  # a start above the root (MicroPython ints have no bit_length)
        x <<= 1
    while True:
        y = ((k - 1) * x + n // x ** (k - 1)) // k
        if y >= x:
            return x
        x = y


def _consts():
    if _K:
        return
    primes = [2]
    n = 3
    while len(primes) < 80:
        if all(n % q for q in primes if q * q <= n):
            primes.append(n)
        n += 2
    _H0.extend(_iroot(q << 128, 2) & M64 for q in primes[:8])
    _K.extend(_iroot(q << 192, 3) & M64 for q in primes)


def _rotr(x, n):
    return ((x >> n) | (x << (64 - n))) & M64


def sha512(data):
    _consts()
    k = _K
    h = list(_H0)
    n = len(data)
    data = bytes(data) + b"\x80" + bytes((111 - n) % 128) + (n * 8).to_bytes(16, "big")
    for off in range(0, len(data), 128):
        w = [int.from_bytes(data[off + 8 * i : off + 8 * i + 8], "big") for i in range(16)]
        for i in range(16, 80):
            a = w[i - 15]
            b = w[i - 2]
            s0 = _rotr(a, 1) ^ _rotr(a, 8) ^ (a >> 7)
            s1 = _rotr(b, 19) ^ _rotr(b, 61) ^ (b >> 6)
            w.append((w[i - 16] + s0 + w[i - 7] + s1) & M64)
        a, b, c, d, e, f, g, hh = h
        for i in range(80):
            t1 = (hh + (_rotr(e, 14) ^ _rotr(e, 18) ^ _rotr(e, 41))
                  + ((e & f) ^ (~e & g)) + k[i] + w[i]) & M64  # fmt: skip
            t2 = ((_rotr(a, 28) ^ _rotr(a, 34) ^ _rotr(a, 39)) + ((a & b) ^ (a & c) ^ (b & c))) & M64
            hh, g, f, e, d, c, b, a = g, f, e, (d + t1) & M64, c, b, a, (t1 + t2) & M64
        h = [(x + y) & M64 for x, y in zip(h, (a, b, c, d, e, f, g, hh))]
    return b"".join(x.to_bytes(8, "big") for x in h)


# ------------------------------------------------------------------ the curve


def _add(p1, p2):
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * D2 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _decode(s):
    """32 bytes -> extended point, or None if not a point."""
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        return None
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    vx2 = v * x * x % P
    if vx2 == (-u) % P:
        x = x * SQRT_M1 % P
    elif vx2 != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


def _encode(pt):
    x, y, z, _ = pt
    zi = _inv(z)
    x = x * zi % P
    y = y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


_B = None


class Verify:
    """One verification, run in slices so the node's loop keeps polling and feeding the
    watchdog: `step(bits)` processes that many of the 256 scalar bits and returns None while
    unfinished, then the result (True / False) on every later call."""

    def __init__(self, public_key, message, signature):
        global _B
        self.result = None
        self.i = 255
        self.r = bytes(signature[:32])
        a = _decode(bytes(public_key)) if len(signature) == 64 else None
        s = int.from_bytes(signature[32:], "little") if a is not None else L
        if a is None or s >= L:
            self.result = False
            return
        if _B is None:
            _B = _decode((4 * _inv(5) % P).to_bytes(32, "little"))
        h = sha512(self.r + bytes(public_key) + bytes(message))
        self.s = s
        self.h = int.from_bytes(h, "little") % L
        self.neg_a = ((P - a[0]) % P, a[1], a[2], (P - a[3]) % P)
        self.both = _add(_B, self.neg_a)
        self.acc = (0, 1, 1, 0)

    def step(self, bits=16):
        if self.result is not None:
            return self.result
        acc = self.acc
        s, h, i = self.s, self.h, self.i
        stop = i - bits
        while i > stop and i >= 0:  # [s]B + [h](-A), one shared doubling chain
            acc = _add(acc, acc)
            bs = (s >> i) & 1
            bh = (h >> i) & 1
            if bs and bh:
                acc = _add(acc, self.both)
            elif bs:
                acc = _add(acc, _B)
            elif bh:
                acc = _add(acc, self.neg_a)
            i -= 1
        self.acc, self.i = acc, i
        if i < 0:
            self.result = _encode(acc) == self.r
            self.acc = self.both = self.neg_a = (0, 1, 1, 0)  # free the big numbers
        return self.result


def verify(public_key, message, signature):
    """True if `signature` is `public_key`'s Ed25519 signature of `message` (in one go)."""
    v = Verify(public_key, message, signature)
    while True:
        r = v.step(256)
        if r is not None:
            return r
