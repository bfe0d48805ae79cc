"""A minimal simulated node for tests: encodes real protocol frames, keeps unacked frames."""

from __future__ import annotations

from typing import Any

from gateway.decode import decode_frame
from gateway.links import LoopbackPort
from gateway.wire import encode_serial
from protocol import frames

BIRTH_INFO: dict[str, Any] = {
    "fw": "1.0.0",
    "board": "esp32",
    "sensor": "adxl345",
    "rate_hz": 3200,
    "band_hz": [10, 1000],
    "cfg_hash": 7,
    "reset": "power_on",
    "runtime_s": 0,
    "starts": 0,
    "report_s": 10,
}


def report(
    node: str, boot: int, seq: int, t: int, flags: int = 1, dropped: int = 0, vel: int = 120
) -> bytes:
    out: bytes = frames.encode_report_raw(
        node,
        boot,
        seq,
        t,
        flags,
        dropped,
        1000 + seq,
        2,
        [100, 110, 120, vel, vel, vel],
        900,
        250,
        400,
    )
    return out


def birth(node: str, boot: int, t: int, reset: str = "power_on") -> bytes:
    out: bytes = frames.encode_birth(node, boot, t, {**BIRTH_INFO, "reset": reset})
    return out


class SimNode:
    def __init__(self, port: LoopbackPort) -> None:
        self.port = port
        self.node = port.node_id
        self.acks: list[tuple[int, int]] = []
        self.cmds: list[dict[str, Any]] = []

    def send(self, payload: bytes) -> None:
        self.port.write(encode_serial(payload))

    def poll(self) -> list[tuple[int, int]]:
        """Read what the gateway sent; returns all acks so far."""
        for p in self.port.read_payloads():
            f = decode_frame(p)
            if f["kind"] == "ack":
                self.acks.append((f["boot"], f["seq"]))
            else:
                self.cmds.append(f)
        return self.acks
