"""The DS18B20 bearing-temperature probe, with the real firmware (sensors/temp.py and the
node) above a faithful fake of MicroPython's ds18x20 driver: a device model with the
DS18B20's 9-byte scratchpad and its CRC-8, the 750 ms conversion (reading earlier returns
the previous result, as the part does), the 85.0 degC power-on value, a missing presence
pulse (onewire.OneWireError) and a corrupted read ("CRC error")."""

from __future__ import annotations

import json

from firmware import config as cfgmod
from firmware.clock import ticks_diff
from firmware.host import FakeClock, MemFS, QueueTransport
from firmware.node import Node
from firmware.sensors.temp import DS18B20Temp
from protocol import frames
from tests.firmware.test_node import FAST, ScriptedSensor, command, decoded, events, run

ROM = bytes([0x28, 0xAA, 0x3C, 0x12, 0x09, 0x00, 0x00])


def crc8(data: bytes) -> int:
    """Dallas/Maxim CRC-8 (x^8 + x^5 + x^4 + 1, reflected), as the part computes it."""
    crc = 0
    for byte in data:
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc


class OneWireError(Exception):
    """onewire.OneWireError: no presence pulse after a reset."""


class FakeDS18X20:
    """ds18x20.DS18X20 on a bus with one DS18B20 (12-bit, 750 ms per conversion)."""

    def __init__(self, clock: FakeClock, temp_c: float = 41.5) -> None:
        self.clock = clock
        self.temp_c = temp_c
        self.present = True
        self.corrupt = False
        self.rom = ROM + bytes([crc8(ROM)])
        self.scratch = self._pad(0x0550)  # power-on value: 85.0 degC
        self._done_at: int | None = None
        self.conversions = 0

    @staticmethod
    def _pad(raw: int) -> bytearray:
        body = bytes([raw & 0xFF, (raw >> 8) & 0xFF, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10])
        return bytearray(body + bytes([crc8(body)]))

    def _reset(self) -> None:
        if not self.present:
            raise OneWireError()
        if self._done_at is not None and self.clock.ms >= self._done_at:
            self.scratch = self._pad(round(self.temp_c * 16) & 0xFFFF)
            self._done_at = None

    def scan(self) -> list[bytes]:
        return [self.rom] if self.present else []

    def convert_temp(self) -> None:
        self._reset()
        self._done_at = self.clock.ms + 750
        self.conversions += 1

    def read_temp(self, rom: bytes) -> float:
        self._reset()
        assert rom == self.rom
        buf = bytearray(self.scratch)
        if self.corrupt:
            buf[0] ^= 0x04
        if crc8(bytes(buf[:8])) != buf[8]:
            raise Exception("CRC error")
        t = buf[1] << 8 | buf[0]
        if t & 0x8000:
            t = -((t ^ 0xFFFF) + 1)
        return t / 16


def test_conversion_is_started_in_one_step_and_read_in_a_later_one() -> None:
    clock = FakeClock()
    ds = FakeDS18X20(clock)
    probe = DS18B20Temp(ds, ticks_diff)
    probe.step(clock.ticks_ms())
    assert probe.value() is None and probe.fault is None and ds.conversions == 1
    clock.advance(300)  # a window shorter than a conversion: no read, no second start
    probe.step(clock.ticks_ms())
    assert probe.value() is None and ds.conversions == 1
    clock.advance(500)
    probe.step(clock.ticks_ms())
    assert probe.value() == 41.5 and ds.conversions == 2
    ds.temp_c = -3.25  # negative temperatures decode with their sign
    clock.advance(1000)
    probe.step(clock.ticks_ms())
    assert probe.value() == -3.25


def probe_node(clock: FakeClock, ds: FakeDS18X20, tr: QueueTransport) -> Node:
    fs = MemFS()
    fs.write("config.json", json.dumps(FAST).encode())
    temp = DS18B20Temp(ds, ticks_diff)
    return Node("t1", ScriptedSensor(), tr, clock, fs, board="host", temp=temp)


def temps(tr: QueueTransport) -> list[int | None]:
    return [f["temp_c_x10"] for f in decoded(tr) if f["kind"] == "report"]


def test_node_reports_the_probe_and_a_probe_fault_gives_no_reading_and_an_event() -> None:
    clock = FakeClock()
    ds = FakeDS18X20(clock)
    tr = QueueTransport()
    node = probe_node(clock, ds, tr)
    run(node, clock, 65)
    assert decoded(tr)[0]["info"]["temp_source"] == "ds18b20"
    assert temps(tr)[-1] == 415
    n = len(temps(tr))
    ds.present = False  # the probe's cable is cut
    run(node, clock, 65)
    assert all(t is None for t in temps(tr)[n:])  # TEMP_NONE on the wire, not a stale value
    ev = [e for e in events(tr) if e["code"].startswith("temp_")]
    assert [(e["code"], e["detail"]) for e in ev] == [
        ("temp_fault", {"source": "ds18b20", "why": "bus"})
    ]
    ds.present = True
    n = len(temps(tr))
    run(node, clock, 65)
    assert temps(tr)[-1] == 415
    assert [e["code"] for e in events(tr) if e["code"].startswith("temp_")][-1] == "temp_ok"
    assert not any(f["flags"] & frames.FLAG_SENSOR_FAULT for f in decoded(tr)[1:] if "flags" in f)


def test_crc_error_and_power_on_value_are_faults_not_readings() -> None:
    clock = FakeClock()
    ds = FakeDS18X20(clock)
    probe = DS18B20Temp(ds, ticks_diff)
    probe.step(clock.ticks_ms())
    clock.advance(1000)
    ds.corrupt = True
    probe.step(clock.ticks_ms())
    assert probe.value() is None and probe.fault == "crc"
    ds.corrupt = False
    ds.scratch = ds._pad(0x0550)  # the probe browned out: its scratchpad is back at 85.0
    ds._done_at = None
    probe.step(clock.ticks_ms())  # rescans, starts a conversion
    clock.advance(100)
    probe._started = clock.ticks_ms() - 800  # pretend the conversion ran, but it did not
    probe.step(clock.ticks_ms())
    assert probe.value() is None and probe.fault == "power_on_value"
    clock.advance(1000)
    probe.step(clock.ticks_ms())
    clock.advance(1000)
    probe.step(clock.ticks_ms())
    assert probe.value() == 41.5 and probe.fault is None


def test_temp_source_from_the_configuration_is_applied_whole_and_survives_a_reboot() -> None:
    clock = FakeClock()
    ds = FakeDS18X20(clock)
    tr = QueueTransport()
    node = probe_node(clock, ds, tr)
    run(node, clock, 35)
    assert temps(tr)[-1] == 415
    # A source this board lacks refuses the whole configuration: report_s stays.
    tr.inbound.append(command(node, "config", {"report_s": 40, "temp_source": "board"}, cid=1))
    run(node, clock, 1)
    assert events(tr)[-1]["detail"] == {
        "cmd": 1,
        "name": "config",
        "why": "temp_source_unavailable",
    }
    assert node.cfg["report_s"] == 30 and node.temp.name == "ds18b20"
    # The gateway says: no temperature from this node (e.g. the probe sits on the wrong part).
    tr.inbound.append(command(node, "config", {"temp_source": "none"}, cid=2))
    run(node, clock, 1)
    ok = events(tr)[-1]
    assert ok["code"] == "cmd_ok"
    assert ok["detail"]["cfg_hash"] == cfgmod.cfg_hash(node.cfg)
    n = len(temps(tr))
    run(node, clock, 65)
    assert temps(tr)[n:] and all(t is None for t in temps(tr)[n:])
    # After a reboot the flash's configuration holds and the birth says so.
    again = Node(
        "t1", ScriptedSensor(), tr, clock, node.fs, board="host", temp=DS18B20Temp(ds, ticks_diff)
    )
    tr.outbox.clear()
    run(again, clock, 35)
    assert decoded(tr)[0]["info"]["temp_source"] == "none"
    assert decoded(tr)[0]["info"]["cfg_hash"] == cfgmod.cfg_hash(again.cfg)
    # Back to the probe.
    tr.inbound.append(command(again, "config", {"temp_source": "ds18b20"}, cid=3))
    run(again, clock, 65)
    assert again.temp.name == "ds18b20" and temps(tr)[-1] == 415
