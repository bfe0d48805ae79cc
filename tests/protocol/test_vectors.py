"""The shared vectors under CPython, under the msgpack C extension, and under MicroPython."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgpack
import pytest

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


@pytest.mark.parametrize("vector", VECTORS["frames"], ids=names("frames"))
def test_c_extension_agrees(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    obj = msgpack.unpackb(data, raw=False)
    assert frames.parse(obj) == vector["decoded"]
    # Our encoder picks the same smallest forms as the reference packer.
    assert msgpack.packb(obj, use_bin_type=True) == data


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
for vec in v['frames']:
    data = bytes.fromhex(vec['hex'])
    enc = frames.encode(vec['decoded'])
    dec = frames.decode(data)
    print(json.dumps({'name': vec['name'], 'enc_ok': enc == data, 'decoded': dec}))
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
        assert got["decoded"] == vec["decoded"], vec["name"]
    for vec in VECTORS["invalid"]:
        assert results[vec["name"]]["reason"] == vec["reason"], vec["name"]
    for vec in VECTORS["serial"]:
        assert results[vec["name"]]["wire_ok"] is True
        assert results[vec["name"]]["back_ok"] is True
