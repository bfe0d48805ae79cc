"""Uplink topics and messages (msgpack maps).

Site -> centre on `kizashi/fleet/<origin>/up`:
  {"v": 1, "stream": "frames" | "events", "after": A, "upto": B, "rows": [...]}: the rows with
  ids in (A, B], in commit order; {"v": 1, "stream": "state", "ref": digest, "state": {...}}.
Centre -> site on `kizashi/fleet/<origin>/ack`:
  {"stream": S, "ref": what it answers (B or the digest), "upto": the centre's mark for S}.
The origin is the site gateway's id; a broker ACL lets each site user publish only under its
own id (pattern kizashi/fleet/%u/#), and the centre applies only configured origins.
"""

from __future__ import annotations

import re
from typing import Any

import msgpack

PREFIX = "kizashi/fleet"
VERSION = 1
ORIGIN_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def up_topic(origin: str) -> str:
    return f"{PREFIX}/{origin}/up"


def ack_topic(origin: str) -> str:
    return f"{PREFIX}/{origin}/ack"


UP_WILDCARD = f"{PREFIX}/+/up"


def origin_of(topic: str) -> str | None:
    parts = topic.split("/")
    if len(parts) != 4 or "/".join(parts[:2]) != PREFIX or parts[3] != "up":
        return None
    return parts[2] if ORIGIN_RE.match(parts[2]) else None


def encode(message: dict[str, Any]) -> bytes:
    out: bytes = msgpack.packb(message, use_bin_type=True)
    return out


def decode(payload: bytes) -> dict[str, Any]:
    """A message map; ValueError for anything else."""
    try:
        msg = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except Exception as e:
        raise ValueError(f"undecodable uplink message: {e}") from None
    if not isinstance(msg, dict):
        raise ValueError("uplink message is not a map")
    return msg
