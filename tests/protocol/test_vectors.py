"""The shared vectors under CPython, under the msgpack C extension, and under MicroPython.

A frame's bytes must not depend on the float precision of the VM that encodes it: the
vectors are also encoded with every float first rounded to float32, which is all a
single-precision board (RP2040, ESP32) can hold.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import msgpack
import pytest

from gateway.decode import decode_frame
from protocol import frames, serial_framing
from protocol.errors import ProtocolError
from tests.support.micropython_vm import json_lines, run_in_micropython

VECTORS: dict[str, list[dict[str, Any]]] = json.loads(
    (Path(frames.__file__).parent / "vectors.json").read_text()
)


def names(section: str) -> list[str]:
    return [v["name"] for v in VECTORS[section]]


@pytest.mark.parametrize("vector", VECTORS["frames"], ids=names("frames"))
def test_encoder_produces_vector_bytes(vector: dict[str, Any]) -> None:
    assert frames.encode(vector["decoded"]).hex() == vector["hex"]


@pytest.mark.parametrize("vector", VECTORS["frames"], ids=names("frames"))
def test_pure_decoder_gives_vector_value(vector: dict[str, Any]) -> None:
    assert frames.decode(bytes.fromhex(vector["hex"])) == vector["decoded"]


def as_float32(obj: Any) -> Any:
    """`obj` with every float replaced by its float32 value (a single-precision VM's float)."""
    if isinstance(obj, float):
        return struct.unpack("<f", struct.pack("<f", obj))[0]
    if isinstance(obj, dict):
        return {k: as_float32(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [as_float32(v) for v in obj]
    return obj


@pytest.mark.parametrize("vector", VECTORS["frames"], ids=names("frames"))
def test_encoder_with_single_precision_floats_gives_same_bytes(vector: dict[str, Any]) -> None:
    assert frames.encode(as_float32(vector["decoded"])).hex() == vector["hex"]


def test_vectors_carry_floats() -> None:
    """The float32 test above must have floats to work on (it cannot pass vacuously)."""
    with_floats = [v["name"] for v in VECTORS["frames"] if "ca" in v["hex"] and "." in str(v)]
    assert {"event-alarm", "command-config-float"} <= set(with_floats)


@pytest.mark.parametrize("vector", VECTORS["frames"], ids=names("frames"))
def test_c_extension_agrees(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    obj = msgpack.unpackb(data, raw=False)
    assert frames.parse(obj) == vector["decoded"]
    # Our encoder picks the same smallest forms as the reference packer (floats as float32).
    assert msgpack.packb(obj, use_bin_type=True, use_single_float=True) == data


@pytest.mark.parametrize("vector", VECTORS["legacy"], ids=names("legacy"))
def test_legacy_float64_frames_still_decode(vector: dict[str, Any]) -> None:
    """Frames of nodes from before the float32 rule (floats as float64) stay readable."""
    data = bytes.fromhex(vector["hex"])
    assert frames.decode(data) == vector["decoded"]
    assert decode_frame(data) == vector["decoded"]  # the gateway's decoder


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=names("invalid"))
def test_invalid_vectors_rejected_with_reason(vector: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as err:
        frames.decode(bytes.fromhex(vector["hex"]))
    assert err.value.reason == vector["reason"]


def test_typical_report_within_48_bytes() -> None:
    typical = next(v for v in VECTORS["frames"] if v["name"] == "report-typical")
    assert len(bytes.fromhex(typical["hex"])) <= 48


@pytest.mark.parametrize("vector", VECTORS["serial"], ids=names("serial"))
def test_serial_vectors(vector: dict[str, Any]) -> None:
    payload = bytes.fromhex(vector["payload_hex"])
    wire = bytes.fromhex(vector["wire_hex"])
    assert serial_framing.encode_frame(payload) == wire
    assert wire[0] == 0 and wire[-1] == 0 and 0 not in wire[1:-1]
    assert serial_framing.Deframer().feed(wire) == [payload]


MPY_CHECK = r"""
import json
from protocol import frames, serial_framing
from protocol.errors import ProtocolError
with open('/input/protocol/vectors.json') as f:
    v = json.load(f)
import struct
def f32(o):
    if isinstance(o, float):
        return struct.unpack('<f', struct.pack('<f', o))[0]
    if isinstance(o, dict):
        return {k: f32(o[k]) for k in o}
    if isinstance(o, list):
        return [f32(x) for x in o]
    return o
for vec in v['frames'] + v['legacy']:
    data = bytes.fromhex(vec['hex'])
    enc = frames.encode(vec['decoded'])
    enc32 = frames.encode(f32(vec['decoded']))
    dec = frames.decode(data)
    print(json.dumps({'name': vec['name'], 'enc_ok': enc == data, 'enc32_ok': enc32 == data,
                      'decoded': dec}))
for vec in v['invalid']:
    try:
        frames.decode(bytes.fromhex(vec['hex']))
        reason = None
    except ProtocolError as e:
        reason = e.reason
    print(json.dumps({'name': vec['name'], 'reason': reason}))
for vec in v['serial']:
    p = bytes.fromhex(vec['payload_hex'])
    w = serial_framing.encode_frame(p)
    back = serial_framing.Deframer().feed(w)
    print(json.dumps({'name': vec['name'], 'wire_ok': w.hex() == vec['wire_hex'],
                      'back_ok': back == [p]}))
"""


def test_vectors_under_real_micropython_vm() -> None:
    """The project's own encoder and decoder, run by a real MicroPython VM, pass every vector."""
    results = {r["name"]: r for r in json_lines(run_in_micropython(MPY_CHECK))}  # type: ignore[index]
    for vec in VECTORS["frames"]:
        got = results[vec["name"]]
        assert got["enc_ok"] is True, vec["name"]
        assert got["enc32_ok"] is True, vec["name"]
        assert got["decoded"] == vec["decoded"], vec["name"]
    for vec in VECTORS["legacy"]:
        assert results[vec["name"]]["decoded"] == vec["decoded"], vec["name"]
    for vec in VECTORS["invalid"]:
        assert results[vec["name"]]["reason"] == vec["reason"], vec["name"]
    for vec in VECTORS["serial"]:
        assert results[vec["name"]]["wire_ok"] is True
        assert results[vec["name"]]["back_ok"] is True
