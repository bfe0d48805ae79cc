"""Serial framing and the pure decoders under noise and arbitrary bytes."""

from __future__ import annotations

import contextlib
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import cobs, frames, msgpack_lite, serial_framing
from protocol.crc32 import crc32, crc32_pure
from protocol.errors import ProtocolError


@given(st.binary(max_size=600))
def test_cobs_roundtrip_and_no_zeros(data: bytes) -> None:
    enc = cobs.encode(data)
    assert 0 not in enc
    assert cobs.decode(enc) == data
    assert len(enc) <= len(data) + len(data) // 254 + 1


@given(st.binary(max_size=300))
def test_crc_pure_matches_native(data: bytes) -> None:
    assert crc32_pure(data) == crc32(data)


@given(st.binary(max_size=2000))
@settings(max_examples=300)
def test_deframer_never_raises_and_stays_bounded(data: bytes) -> None:
    d = serial_framing.Deframer()
    for payload in d.feed(data):
        assert len(payload) <= serial_framing.MAX_PAYLOAD + 4
    assert len(d._buf) <= serial_framing.MAX_ENCODED


@given(st.binary(max_size=600))
@settings(max_examples=500)
def test_pure_frame_decoder_only_raises_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        frames.decode(data)


def _report(seq: int) -> bytes:
    return frames.encode_report(
        "n1", 1, seq, 1_700_000_000, 1, 0, 100, 1, [0.1, 0.1, 0.1], [1.0, 1.0, 1.0], 0.5, 0.1, 20.0
    )


def test_resynchronises_after_noise_and_rejects_corruption() -> None:
    rng = random.Random(7)
    good = [_report(i) for i in range(200)]
    stream = bytearray()
    for payload in good:
        stream += rng.randbytes(rng.randrange(0, 8))  # garbage between frames
        stream += serial_framing.encode_frame(payload)
    # Flip bits at a 1% bit error rate.
    noisy = bytearray(stream)
    for i in range(len(noisy)):
        for bit in range(8):
            if rng.random() < 0.01:
                noisy[i] ^= 1 << bit
    d = serial_framing.Deframer()
    accepted = d.feed(bytes(noisy))
    good_set = set(good)
    assert all(p in good_set for p in accepted)  # nothing corrupt got through
    assert sum(d.rejected.values()) > 0
    clean = serial_framing.Deframer().feed(bytes(stream))
    assert [p for p in clean if p in good_set] == good


def test_unplug_mid_frame_then_resync() -> None:
    d = serial_framing.Deframer()
    wire = serial_framing.encode_frame(_report(1))
    assert d.feed(wire[:10]) == []
    d.reset()
    assert d.rejected == {"truncated": 1}
    assert d.feed(wire[10:]) == []  # tail of the old frame is rejected, not merged
    assert d.feed(serial_framing.encode_frame(_report(2))) == [_report(2)]


def test_oversize_garbage_is_discarded() -> None:
    d = serial_framing.Deframer()
    assert d.feed(b"\x01" * 5000) == []
    assert d.rejected.get("oversize") == 1
    assert len(d._buf) == 0
    assert d.feed(b"\x00" + serial_framing.encode_frame(_report(3))) == [_report(3)]


def test_decoder_limits() -> None:
    deep = b"\x91" * 10 + b"\x00"
    try:
        msgpack_lite.unpack(deep, max_depth=4)
        raise AssertionError("deep nesting accepted")
    except ProtocolError as e:
        assert e.reason == "oversize"


def test_saturation_sets_flag_and_clips() -> None:
    data = frames.encode_report(
        "n1",
        1,
        1,
        0,
        frames.FLAG_RUNNING,
        0,
        0,
        0,
        [80.0, 0.0, 0.0],
        [1.0, 1.0, 1.0],
        99.0,
        500.0,
        None,
    )
    f = frames.decode(data)
    assert f["flags"] & frames.FLAG_SATURATED
    assert f["acc_rms_mg"][0] == 65535
    assert f["peak_mg"] == 65535
    assert f["kurtosis_x100"] == 32767
    assert f["temp_c_x10"] is None
