"""Ed25519 signing (RFC 8032) for the tests, by the `cryptography` package (the gateway's
signer), independent of the node's verifier in firmware/ed25519.py.

`sign(seed, msg)` signs `msg` as given; `sign_manifest(seed, manifest)` signs what the fleet
key signs for a build: the manifest's SHA-256 (gateway/updates.py, firmware/ota_stage.py).
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def _key(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key(seed: bytes) -> bytes:
    return _key(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign(seed: bytes, msg: bytes) -> bytes:
    return _key(seed).sign(msg)


def sign_manifest(seed: bytes, manifest: bytes) -> bytes:
    return sign(seed, hashlib.sha256(manifest).digest())
