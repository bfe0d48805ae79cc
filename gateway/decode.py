"""Untrusted bytes -> a validated frame dict, with the msgpack C extension and hard limits.

Nothing here raises on bad input: every rejection is counted by reason (in the decoder and in
the metrics registry) and logged at most once per reason per 10 s.
"""

from __future__ import annotations

import logging
import struct
from typing import Any

import msgpack

import protocol
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


_VERSION: int = protocol.VERSION
_REPORT_HEADER: int = _VERSION * 16 + frames.REPORT
_REPORT_BLOCK = struct.Struct(frames.REPORT_BLOCK)
_REPORT_BLOCK_SIZE: int = frames.REPORT_BLOCK_SIZE
_MAX_U32: int = frames.MAX_U32
_TEMP_NONE: int = frames.TEMP_NONE
_KIND_REPORT: str = frames.KIND_NAMES[frames.REPORT]
_NODE_IDS_CACHED = 10_000


class _FastReports:
    """The common case, a well-formed report, parsed without the general validator.

    Returns exactly what `protocol.frames.parse` returns (same keys, order and values) when
    every field has its exact expected type and range, and None otherwise, so that the general
    validator decides (and names the rejection reason). Node ids that passed the validator are
    remembered (bounded), which saves the per-character check.
    """

    def __init__(self) -> None:
        self.node_ids: set[str] = set()

    def __call__(self, obj: object) -> Frame | None:
        if type(obj) is not list or len(obj) != 8 or obj[0] != _REPORT_HEADER:
            return None
        h, node, boot, seq, t, flags, dropped, block = obj
        if (
            type(h) is not int
            or type(node) is not str
            or node not in self.node_ids
            or type(boot) is not int
            or type(seq) is not int
            or type(t) is not int
            or type(flags) is not int
            or type(dropped) is not int
            or type(block) is not bytes
            or len(block) != _REPORT_BLOCK_SIZE
            or not (0 <= boot <= _MAX_U32 and 0 <= seq <= _MAX_U32 and 0 <= t <= _MAX_U32)
            or not (0 <= flags <= 0xFF and 0 <= dropped <= _MAX_U32)
        ):
            return None
        v = _REPORT_BLOCK.unpack(block)
        return {
            "v": _VERSION,
            "kind": _KIND_REPORT,
            "node": node,
            "boot": boot,
            "seq": seq,
            "time": t,
            "flags": flags,
            "dropped": dropped,
            "runtime_s": v[0],
            "starts": v[1],
            "acc_rms_mg": [v[2], v[3], v[4]],
            "vel_rms_mm_s_x100": [v[5], v[6], v[7]],
            "peak_mg": v[8],
            "kurtosis_x100": v[9],
            "temp_c_x10": None if v[10] == _TEMP_NONE else v[10],
        }

    def learn(self, frame: Frame) -> None:
        """Remember the node id of a frame the validator accepted."""
        if len(self.node_ids) >= _NODE_IDS_CACHED:
            self.node_ids.clear()
        self.node_ids.add(frame["node"])


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
        self._fast = _FastReports()

    def reject(self, reason: str, source: str, detail: str = "", count: int = 1) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + count
        self.metrics.inc("kizashi_frames_rejected_total", count, reason=reason)
        self._log.warning(
            "reject:" + reason, "frame rejected", reason=reason, source=source, detail=detail
        )

    def decode(self, data: bytes, source: str = "") -> Frame | None:
        try:
            obj = self._unpack(data)
            out = self._fast(obj)
            if out is None:
                out = parse(obj)
                self._fast.learn(out)
            return out
        except ProtocolError as e:
            self.reject(e.reason, source, e.detail)
            return None
