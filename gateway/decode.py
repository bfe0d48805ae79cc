"""Untrusted bytes -> a validated frame dict, with the msgpack C extension and hard limits.

Nothing here raises on bad input: every rejection is counted by reason (in the decoder and in
the metrics registry) and logged at most once per reason per 10 s.
"""

from __future__ import annotations

import logging
from typing import Any

import msgpack

from gateway.logs import RateLimitedLog
from gateway.metrics import REGISTRY, Metrics
from protocol import frames
from protocol.errors import ProtocolError

MAX_FRAME_BYTES = 512  # protocol.frames.MAX_FRAME_BYTES
# A frame is one array of at most 8 items; maps (birth info, event detail, command args) hold
# at most 32 keys; strings at most 64 characters; the report block is a 26-byte bin.
LIMITS: dict[str, int] = {
    "max_buffer_size": 4 * MAX_FRAME_BYTES,
    "max_array_len": 32,
    "max_map_len": 32,
    "max_str_len": 128,
    "max_bin_len": 64,
    "max_ext_len": 0,
}

log = logging.getLogger(__name__)

Frame = dict[str, Any]


class Unpack:
    """A reusable msgpack Unpacker with LIMITS: one object per call, nothing after it.

    Not thread-safe (one per Decoder). After any error the Unpacker is replaced, so a bad
    payload cannot leave bytes behind for the next one.
    """

    def __init__(self) -> None:
        self._u = self._new()

    @staticmethod
    def _new() -> Any:
        return msgpack.Unpacker(raw=False, strict_map_key=True, use_list=True, **LIMITS)

    def __call__(self, data: bytes) -> object:
        if len(data) > MAX_FRAME_BYTES:
            raise ProtocolError("oversize", f"{len(data)} bytes")
        if not data:
            raise ProtocolError("empty")
        u = self._u
        start = u.tell()
        try:
            u.feed(data)
            obj = u.unpack()
            used = u.tell() - start
        except msgpack.OutOfData:
            self._u = self._new()
            raise ProtocolError("truncated") from None
        except ValueError as e:  # limit violations, FormatError, StackError, bad UTF-8
            self._u = self._new()
            text = str(e)
            reason = "limit" if "exceeds max" in text else "malformed"
            raise ProtocolError(reason, text[:80]) from None
        except Exception as e:  # unhashable map keys (TypeError), anything else
            self._u = self._new()
            raise ProtocolError("malformed", type(e).__name__) from None
        if used != len(data):
            self._u = self._new()
            raise ProtocolError("trailing_bytes", f"{len(data) - used} bytes")
        return obj


def unpack(data: bytes) -> object:
    """msgpack bytes -> object under LIMITS; ProtocolError on anything else."""
    return Unpack()(data)


def parse(obj: object) -> Frame:
    try:
        out = frames.parse(obj)
    except ProtocolError:
        raise
    except Exception as e:  # a validator bug must not stop the gateway
        raise ProtocolError("invalid", type(e).__name__) from None
    assert isinstance(out, dict)
    return out


def decode_frame(data: bytes) -> Frame:
    """Bytes -> validated frame dict, or ProtocolError with a reason."""
    return parse(unpack(data))  # a fresh Unpacker: safe from any thread


class Decoder:
    """Counts rejections by reason; `decode` returns None for a rejected payload."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics or REGISTRY
        self.rejected: dict[str, int] = {}
        self._log = RateLimitedLog(log)
        self._unpack = Unpack()

    def reject(self, reason: str, source: str, detail: str = "") -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        self.metrics.inc("kizashi_frames_rejected_total", reason=reason)
        self._log.warning(
            "reject:" + reason, "frame rejected", reason=reason, source=source, detail=detail
        )

    def decode(self, data: bytes, source: str = "") -> Frame | None:
        try:
            return parse(self._unpack(data))
        except ProtocolError as e:
            self.reject(e.reason, source, e.detail)
            return None
