"""Fuzz targets: every decoder that takes outside bytes. Each returns a rejection reason
(or "accepted"), raises only on a real bug (a crash), and checks its invariants."""

from __future__ import annotations

import json
import math
from typing import Any

NODE_ID = "fz01"


class InvariantError(AssertionError):
    pass


def _cfg_ok(cfg: dict[str, Any]) -> str | None:
    from firmware.config import SCHEMA

    for k, (t, lo, hi) in SCHEMA.items():
        v = cfg[k]
        if t is str:  # (str, allowed values, None)
            if v not in lo:
                return f"{k}={v!r}"
            continue
        if isinstance(v, float) and math.isnan(v):
            return f"{k}=NaN"
        if not lo <= v <= hi:
            return f"{k}={v!r}"
    return None


class GatewayDecode:
    name = "gateway.decode"

    def __init__(self) -> None:
        from gateway.decode import Decoder
        from gateway.metrics import Metrics

        self.d = Decoder(Metrics())

    def __call__(self, data: bytes) -> str:
        before = dict(self.d.rejected)
        f = self.d.decode(data, "fuzz")
        if f is not None:
            if not isinstance(f, dict) or "kind" not in f:
                raise InvariantError("accepted frame without kind")
            return "accepted"
        for k, v in self.d.rejected.items():
            if v != before.get(k, 0):
                return k
        raise InvariantError("rejected without a counted reason")


class SerialDeframer:
    name = "serial.Deframer"

    def __init__(self) -> None:
        from protocol.serial_framing import MAX_ENCODED, Deframer

        self.d = Deframer()
        self.max = MAX_ENCODED

    def __call__(self, data: bytes) -> str:
        before = dict(self.d.rejected)
        out = self.d.feed(data)
        if len(self.d._buf) > self.max:
            raise InvariantError("deframer buffer beyond MAX_ENCODED")
        for k, v in self.d.rejected.items():
            if v != before.get(k, 0):
                return k
        return "accepted" if out else "incomplete"


class NodeCommand:
    """The firmware Node's inbound path (Node.handle): acks and commands as the node decodes."""

    name = "node.handle"

    def __init__(self) -> None:
        from firmware.host import FakeClock, MemFS, QueueTransport, make_node

        self.clock = FakeClock()
        self.tr = QueueTransport()
        self.node = make_node(
            NODE_ID, "idle", self.tr, self.clock, MemFS(), config={"ring_segs": 0}
        )
        self.node.poll(0)
        self.tr.outbox.clear()

    def __call__(self, data: bytes) -> str:
        from protocol import frames

        n = self.node
        seq0 = n.seq
        cfg0 = dict(n.cfg)
        n.handle(data, self.clock.ticks_ms())
        why = "silent"
        if n.seq != seq0:
            i = (n.ring._head + n.ring._n - 1) % n.ring.cap
            f = frames.decode(n.ring._frames[i])
            if f["code"] == "cmd_ok":
                why = "cmd_ok:" + str(f["detail"].get("name"))
            else:
                why = "refused:" + str(f["detail"].get("why")).split(":")[0]
        if n.cfg != cfg0:
            bad = _cfg_ok(n.cfg)
            if bad:
                raise InvariantError("config command accepted an out-of-range value: " + bad)
        if n._reboot_at is not None:
            n._reboot_at = None
        return why


class ConfigFile:
    """firmware/config.py: config.json (load) and node.json (load_identity) as read at boot."""

    name = "firmware.config"

    def __init__(self) -> None:
        from firmware.host import MemFS  # noqa: F401  (installs the host stubs)

    def __call__(self, data: bytes) -> str:
        from firmware import config
        from firmware.host import MemFS
        from firmware.sensors.sim import SimSensor

        fs = MemFS({"config.json": data, "node.json": data})
        cfg, from_file = config.load(fs, SimSensor.RATES)
        if from_file:
            bad = _cfg_ok(cfg)
            if bad:
                raise InvariantError("config.json accepted an out-of-range value: " + bad)
        try:
            config.load_identity(fs)
            ident = "identity_ok"
        except ValueError:
            ident = "identity_rejected"
        return ("config_ok" if from_file else "config_default") + "/" + ident


TARGETS = {t.name: t for t in (GatewayDecode, SerialDeframer, NodeCommand, ConfigFile)}


def seeds(name: str) -> list[bytes]:
    """Valid inputs to start mutation from."""
    from protocol import frames
    from protocol.serial_framing import encode_frame

    rep = frames.encode_report_raw("n1", 3, 7, 1_700_000_000, 1, 0, 10, 2, [1] * 6, 5, 6, 7)
    birth = frames.encode_birth(
        "n1", 3, 0,
        {"fw": "1", "board": "esp32", "sensor": "adxl345", "rate_hz": 3200,
         "band_hz": [10, 1000], "cfg_hash": 1, "reset": "power_on", "runtime_s": 0,
         "starts": 0, "report_s": 60},
    )  # fmt: skip
    ev = frames.encode_event("n1", 3, 8, 1_700_000_000, "alarm", {"vel_mm_s": 7.5})
    if name == "gateway.decode":
        return [rep, birth, ev, frames.encode_death("n1", 3)]
    if name == "serial.Deframer":
        return [encode_frame(rep), encode_frame(birth) + encode_frame(ev)]
    if name == "node.handle":
        n = NODE_ID
        return [
            frames.encode_ack(n, 1, 0, 1),
            frames.encode_command(n, 0, 5, 1, "config", {"report_s": 30, "vel_alarm_mm_s": 8.0}),
            frames.encode_command(n, 0, 6, 1, "time", {"t": 1_700_000_000}),
            frames.encode_command(n, 0, 7, 1, "resend", {"boot": 1, "from": 0, "to": 3}),
            frames.encode_command(n, 0, 8, 1, "bench", {"seconds": 5}),
            frames.encode_command(n, 0, 9, 1, "reboot", {}),
        ]
    return [
        json.dumps({"report_s": 30, "vel_alarm_mm_s": 8.0}).encode(),
        json.dumps({"node_id": "n1", "mqtt": {"host": "h", "port": 1883}}).encode(),
        json.dumps({"node_id": "n1", "mqtt_host": "h", "mqtt_port": 1, "mqtt_user": "u"}).encode(),
    ]


def classify_crash(e: BaseException) -> str:
    return type(e).__name__ + ": " + str(e)[:120]
