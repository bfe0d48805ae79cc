"""The decoder never raises on any bytes, and rejects with stable reasons."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.decode import Decoder, decode_frame, unpack
from gateway.metrics import Metrics
from protocol.errors import ProtocolError
from tests.gateway.simnode import birth, report

GOOD = report("n1", 1, 5, 1_700_000_000)
FUZZ = Decoder(Metrics())  # one decoder for all examples: it must survive every input


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=700))
def test_any_bytes_never_crash(data: bytes) -> None:
    out = FUZZ.decode(data, "fuzz")
    assert out is None or isinstance(out, dict)
    # The decoder is reusable after any input.
    assert FUZZ.decode(GOOD, "fuzz") is not None


msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64 - 1)
    | st.floats()
    | st.text(max_size=40)
    | st.binary(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=10) | st.dictionaries(st.text(max_size=10), inner, max_size=6)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(msgpack_values, min_size=0, max_size=9))
def test_any_msgpack_array_never_crashes(items: list[object]) -> None:
    try:
        data = msgpack.packb(items)
    except (OverflowError, ValueError):
        return
    FUZZ.decode(data, "fuzz")


@settings(max_examples=500, deadline=None)
@given(st.integers(0, len(GOOD) - 1), st.integers(0, 255))
def test_mutated_report_never_crashes(pos: int, byte: int) -> None:
    data = bytearray(GOOD)
    data[pos] = byte
    FUZZ.decode(bytes(data), "fuzz")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"\x00" * 513, "oversize"),
        (GOOD[:-3], "truncated"),
        (GOOD + b"\x01", "trailing_bytes"),
        (b"\xc1", "malformed"),
        (msgpack.packb([0x31, "n1", 1, 1, 1]), "unknown_version"),
        (msgpack.packb([0x1F, "n1", 1, 1, 1]), "unknown_kind"),
        (msgpack.packb([0x11, "n 1", 1, 1, 1, 0, 0, b"x" * 26]), "bad_node_id"),
        (msgpack.packb(list(range(40))), "limit"),
        (msgpack.packb([0x11, "n1", 1, 1, 1, 0, 0, b"x" * 100]), "limit"),
        (msgpack.packb({"a": 1}), "malformed"),
    ],
)
def test_rejection_reasons(data: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as e:
        decode_frame(data)
    assert e.value.reason == reason
    m = Metrics()
    d = Decoder(m)
    assert d.decode(data, "t") is None
    assert d.rejected == {reason: 1}
    assert m.get("kizashi_frames_rejected_total", reason=reason) == 1


def test_valid_frames_decode() -> None:
    f = decode_frame(GOOD)
    assert f["kind"] == "report" and f["seq"] == 5 and f["vel_rms_mm_s_x100"] == [120, 120, 120]
    assert decode_frame(birth("n1", 3, 1))["info"]["fw"] == "1.0.0"
    assert isinstance(unpack(GOOD), list)
