"""Ed25519 signing (RFC 8032) for the tests, on the curve arithmetic of firmware.ed25519.

Checked against RFC 8032's first test vector (deterministic signatures must match exactly).
"""

from __future__ import annotations

import hashlib

from firmware import ed25519 as e


def _mul(k: int, pt: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    acc = (0, 1, 1, 0)
    while k:
        if k & 1:
            acc = e._add(acc, pt)
        pt = e._add(pt, pt)
        k >>= 1
    return acc


def _base() -> tuple[int, int, int, int]:
    b = e._decode((4 * e._inv(5) % e.P).to_bytes(32, "little"))
    assert b is not None
    return b


def public_key(seed: bytes) -> bytes:
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a = (a & ((1 << 254) - 8)) | (1 << 254)
    return e._encode(_mul(a, _base()))


def sign(seed: bytes, msg: bytes) -> bytes:
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a = (a & ((1 << 254) - 8)) | (1 << 254)
    pub = e._encode(_mul(a, _base()))
    r = int.from_bytes(hashlib.sha512(h[32:] + msg).digest(), "little") % e.L
    big_r = e._encode(_mul(r, _base()))
    k = int.from_bytes(hashlib.sha512(big_r + pub + msg).digest(), "little") % e.L
    s = (r + k * a) % e.L
    return big_r + s.to_bytes(32, "little")
