"""Writes protocol/vectors.json: the shared test vectors every encoder and decoder must pass.

Run once when the protocol changes on purpose (`python scripts/make_vectors.py`); the tests
then hold both VMs to these exact bytes. Invalid vectors name the reason they must be
rejected with. Legacy vectors are frames older encoders wrote (floats as float64): decoders
must still read them; encoders no longer produce them.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgpack

from protocol import frames, msgpack_lite, serial_framing

T = 1764151200  # 2025-11-26T10:00:00Z

BIRTH_INFO = {
    "fw": "0.1.0",
    "board": "rp2040-pico-w",
    "sensor": "adxl345",
    "rate_hz": 3200,
    "band_hz": [10, 1000],
    "cfg_hash": 0x1A2B3C4D,
    "reset": "watchdog",
    "runtime_s": 123456,
    "starts": 42,
    "report_s": 10,
    "transport": "mqtt",
    "ring_cap": 256,
}


def report(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "v": 1,
        "kind": "report",
        "node": "n0007",
        "boot": 3,
        "seq": 1234,
        "time": T,
        "flags": frames.FLAG_RUNNING,
        "dropped": 0,
        "runtime_s": 123456,
        "starts": 42,
        "acc_rms_mg": [123, 98, 210],
        "vel_rms_mm_s_x100": [231, 187, 305],
        "peak_mg": 812,
        "kurtosis_x100": 35,
        "temp_c_x10": 415,
    }
    base.update(over)
    return base


def common(kind: str, **over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "v": 1,
        "kind": kind,
        "node": "n0007",
        "boot": 3,
        "seq": 0,
        "time": T,
    }
    base.update(over)
    return base


VALID = [
    ("report-typical", report()),
    ("report-stopped-no-temperature", report(flags=0, temp_c_x10=None, seq=7)),
    (
        "report-full-scale",
        report(
            flags=frames.FLAG_RUNNING | frames.FLAG_SATURATED | frames.FLAG_ALARM,
            acc_rms_mg=[65535, 65535, 65535],
            vel_rms_mm_s_x100=[65535, 65535, 65535],
            peak_mg=65535,
            kurtosis_x100=32767,
            temp_c_x10=-400,
            runtime_s=0xFFFFFFFF,
            starts=0xFFFFFFFF,
            seq=0xFFFFFFFF,
            boot=0xFFFFFFFF,
            dropped=0xFFFFFFFF,
        ),
    ),
    ("report-after-outage", report(dropped=1500, seq=70000, kurtosis_x100=-120)),
    ("birth", common("birth", info=BIRTH_INFO)),
    ("event-alarm", common("event", seq=1235, code="alarm_on", detail={"zone": "C", "vel": 5.2})),
    (
        "event-alarm-integer-units",
        common("event", seq=1236, code="alarm", detail={"vel_mm_s_x100": 712}),
    ),
    (
        "event-command-refused",
        common("event", seq=9, code="cmd_refused", detail={"cmd": 4, "why": "report_s"}),
    ),
    ("ack", common("ack", seq=1234)),
    ("command-config", common("command", boot=0, seq=5, name="config", args={"report_s": 30})),
    ("command-time", common("command", boot=3, seq=6, name="time", args={"t": T})),
    (
        "command-resend",
        common("command", boot=3, seq=7, name="resend", args={"boot": 3, "from": 100, "to": 120}),
    ),
    ("death", common("death", time=0)),
    (
        "command-config-float",
        common("command", boot=0, seq=8, name="config", args={"vel_alarm_mm_s": 7.1}),
    ),
]

# Floats as float64 (`cb`): what encoders wrote before every float became float32. The
# decoded value is the float64 read back.
LEGACY = [
    (
        "legacy-event-alarm-float64",
        [0x13, "n0007", 3, 1235, T, "alarm_on", {"vel": 5.2, "zone": "C"}],
    ),
]


def raw(obj: object) -> bytes:
    return msgpack_lite.pack(obj)


def raw_foreign(obj: object) -> bytes:
    """What another encoder may send: NaN and infinities (float64), which ours refuses."""
    return msgpack.packb(obj, use_bin_type=True)


H = 0x11  # version 1, report
INVALID = [
    ("not-an-array", raw({"v": 1}), "malformed"),
    ("too-short", raw([H, "n1", 0, 0]), "malformed"),
    ("unknown-version", raw([0x21, "n1", 0, 0, T, 0, 0, b"\x00" * 26]), "unknown_version"),
    ("unknown-kind", raw([0x1F, "n1", 0, 0, T]), "unknown_kind"),
    ("node-id-not-string", raw([H, 7, 0, 0, T, 0, 0, b"\x00" * 26]), "bad_type"),
    ("node-id-bad-chars", raw([H, "n1/#", 0, 0, T, 0, 0, b"\x00" * 26]), "bad_node_id"),
    ("negative-seq", raw([H, "n1", 0, -1, T, 0, 0, b"\x00" * 26]), "out_of_range"),
    ("flags-out-of-range", raw([H, "n1", 0, 0, T, 256, 0, b"\x00" * 26]), "out_of_range"),
    ("block-wrong-size", raw([H, "n1", 0, 0, T, 0, 0, b"\x00" * 25]), "malformed"),
    ("block-not-bin", raw([H, "n1", 0, 0, T, 0, 0, "x" * 26]), "bad_type"),
    ("truncated", raw([H, "n1", 0, 0, T, 0, 0, b"\x00" * 26])[:-3], "malformed"),
    ("trailing-bytes", raw([H, "n1", 0, 0, T, 0, 0, b"\x00" * 26]) + b"\x00", "malformed"),
    ("birth-missing-field", raw([0x12, "n1", 1, 0, T, {"fw": "1"}]), "missing_field"),
    ("birth-nonzero-seq", raw([0x12, "n1", 1, 5, T, BIRTH_INFO]), "out_of_range"),
    ("command-unknown", raw([0x15, "n1", 0, 1, T, "format_flash", {}]), "unknown_command"),
    ("command-time-bad-args", raw([0x15, "n1", 0, 1, T, "time", {"epoch": T}]), "bad_args"),
    (
        "command-resend-backwards",
        raw([0x15, "n1", 0, 1, T, "resend", {"boot": 1, "from": 9, "to": 3}]),
        "bad_args",
    ),
    ("long-string", raw([0x13, "n1", 1, 1, T, "x" * 100, {}]), "oversize"),
    ("bool-as-seq", raw([H, "n1", 0, True, T, 0, 0, b"\x00" * 26]), "bad_type"),
    ("event-code-nul", raw([0x13, "n1", 1, 1, T, "fault\x00x", {}]), "bad_text"),
    ("event-code-upper", raw([0x13, "n1", 1, 1, T, "Alarm_danger", {}]), "bad_text"),
    ("event-detail-nul", raw([0x13, "n1", 1, 1, T, "fault", {"why": "a\x00b"}]), "bad_text"),
    ("event-detail-nan", raw_foreign([0x13, "n1", 1, 1, T, "fault", {"v": float("nan")}]), "out_of_range"),
    ("birth-inf", raw_foreign([0x12, "n1", 1, 0, T, {**BIRTH_INFO, "x": float("inf")}]), "out_of_range"),
]

SERIAL = [
    ("serial-report-typical", frames.encode(report())),
    ("serial-zero-bytes", b"\x00\x01\x00\x00\xff\x00"),
    ("serial-long-run", bytes(range(1, 256)) * 2),
]


def main() -> None:
    out: dict[str, list[dict[str, object]]] = {
        "frames": [],
        "legacy": [],
        "invalid": [],
        "serial": [],
    }
    for name, frame in VALID:
        data = frames.encode(frame)
        ref = msgpack.packb(msgpack.unpackb(data), use_bin_type=True, use_single_float=True)
        assert data == ref, name
        # What a receiver reads: floats come back as their float32 value (5.2 -> 5.19999981).
        dec = frames.decode(data)
        assert frames.encode(dec) == data, name
        out["frames"].append({"name": name, "hex": data.hex(), "decoded": dec, "size": len(data)})
    for name, obj in LEGACY:
        data = msgpack.packb(obj, use_bin_type=True)  # msgpack's default: float64
        out["legacy"].append({"name": name, "hex": data.hex(), "decoded": frames.decode(data)})
    for name, data, reason in INVALID:
        out["invalid"].append({"name": name, "hex": data.hex(), "reason": reason})
    for name, payload in SERIAL:
        wire = serial_framing.encode_frame(payload)
        out["serial"].append({"name": name, "payload_hex": payload.hex(), "wire_hex": wire.hex()})
    path = Path(__file__).resolve().parents[1] / "protocol" / "vectors.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
