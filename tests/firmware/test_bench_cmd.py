"""The `bench` command: flat stimulus args validated as a whole and applied to the simulated
sensor (which replaces an accelerometer while bench mode lasts), fast reports, and hang_s."""

from __future__ import annotations

import math
from array import array

import pytest

from firmware.host import FakeClock, MemFS, QueueTransport, make_node
from firmware.node import Node
from firmware.sensors.sim import PROFILES, SimSensor
from hil_tests import stimulus as hil
from protocol import frames

FAST = {"window": 256, "window_s": 2, "report_s": 2, "alarm_report_s": 2}
SINE = {"seconds": 0, "tone_hz": 100.0, "tone_g": [0.5, 0.25, 0.125], "noise_g": 0.0, "run": True}


def run(node, clock: FakeClock, seconds: float) -> None:
    end = clock.ms + int(seconds * 1000)
    while clock.ms < end:
        d = node.poll(clock.ticks_ms())
        clock.advance(max(d, 100))


def decoded(tr: QueueTransport) -> list[dict]:
    return [frames.decode(p) for _, p in tr.outbox]


def command(node, args: dict, cid: int) -> bytes:
    return frames.encode_command(node.node_id, 0, cid, 0, "bench", args)


def answer(tr: QueueTransport, cid: int) -> dict:
    ev = [
        f
        for f in decoded(tr)
        if f["kind"] == "event" and f["code"] in ("cmd_ok", "cmd_refused")
        if f["detail"].get("cmd") == cid
    ]
    assert len(ev) == 1, ev
    return ev[0]


def last_report(tr: QueueTransport) -> dict:
    return [f for f in decoded(tr) if f["kind"] == "report"][-1]


class Accel:
    """An accelerometer stand-in: gravity on z, nothing else (a flat signal: the node
    reports it as a sensor fault, with no vibration values)."""

    name = "adxl345"
    lsb_g = 0.0039
    full_scale = 4095
    RATES = (3200, 1600, 800)

    def configure(self, rate_hz: int) -> None:
        self.rate = rate_hz

    def read_window(self, bx: array, by: array, bz: array, n: int) -> bool:
        for i in range(n):
            bx[i] = 0
            by[i] = 0
            bz[i] = 256
        return True

    def temperature(self) -> float:
        return 25.0


def accel_node(tr: QueueTransport, clock: FakeClock) -> Node:
    fs = MemFS()
    fs.write("config.json", b'{"window": 256, "window_s": 2, "report_s": 2, "alarm_report_s": 2}')
    return Node("acc", Accel(), tr, clock, fs, board="host", bench=True)


def test_stimulus_applies_to_the_sim_and_ends() -> None:
    clock = FakeClock()
    tr = QueueTransport()
    node = make_node("b1", "healthy", tr, clock, MemFS(), config=FAST)
    original = node.sensor.profile
    run(node, clock, 5)
    tr.inbound.append(command(node, SINE, 1))
    run(node, clock, 6)
    assert answer(tr, 1)["code"] == "cmd_ok"
    rep = last_report(tr)
    exp = [1000 * a / math.sqrt(2) for a in SINE["tone_g"]]
    for got, want in zip(rep["acc_rms_mg"], exp, strict=True):
        assert abs(got - want) <= max(0.02 * want, 4)
    vel = rep["vel_rms_mm_s_x100"][0] / 100
    assert vel == pytest.approx(0.5 * 9806.65 / (2 * math.pi * 100) / math.sqrt(2), rel=0.03)
    assert node.sensor.profile["temp_c"] == original["temp_c"]  # the board's temperature
    tr.inbound.append(command(node, {"seconds": 0}, 2))  # ends bench mode
    run(node, clock, 1)
    assert answer(tr, 2)["code"] == "cmd_ok"
    assert node.sensor.profile is original


def test_stimulus_replaces_an_accelerometer_while_bench_mode_lasts() -> None:
    clock = FakeClock()
    tr = QueueTransport()
    node = accel_node(tr, clock)
    accel = node.sensor
    run(node, clock, 5)
    assert max(last_report(tr)["acc_rms_mg"]) == 0
    assert last_report(tr)["flags"] & frames.FLAG_SENSOR_FAULT
    # hang_s is bench mode only: never on a node watching a real machine
    tr.inbound.append(command(node, {"hang_s": 5}, 1))
    run(node, clock, 1)
    assert answer(tr, 1)["detail"]["why"] == "not_bench_mode"
    tr.inbound.append(command(node, dict(SINE, seconds=10), 2))
    run(node, clock, 6)
    assert answer(tr, 2)["code"] == "cmd_ok"
    assert isinstance(node.sensor, SimSensor) and node.hw_sensor is accel
    assert last_report(tr)["acc_rms_mg"][0] == pytest.approx(353.6, abs=8)
    tr.inbound.append(command(node, {"seconds": 0}, 3))
    run(node, clock, 5)
    assert answer(tr, 3)["code"] == "cmd_ok"
    assert node.sensor is accel
    assert max(last_report(tr)["acc_rms_mg"]) == 0
    assert last_report(tr)["flags"] & frames.FLAG_SENSOR_FAULT


@pytest.mark.parametrize(
    ("args", "why"),
    [
        ({}, "bad_args"),
        ({"bogus": 1}, "unknown_key:bogus"),
        (dict(SINE, bogus=1), "unknown_key:bogus"),  # all or nothing
        ({"tone_hz": 80.0}, "tone_needs_hz_and_g"),
        ({"tone_g": [0.1, 0.1, 0.1]}, "tone_needs_hz_and_g"),
        (dict(SINE, tone_hz=0), "out_of_range:tone_hz"),
        (dict(SINE, tone_hz="80"), "bad_type:tone_hz"),
        (dict(SINE, tone_g=[0.5, 0.2]), "bad_type:tone_g"),
        (dict(SINE, tone_g=[0.5, -0.2, 0.1]), "out_of_range:tone_g"),
        (dict(SINE, noise_g=True), "bad_type:noise_g"),
        # (NaN never gets here: the protocol refuses non-finite floats, tests/protocol)
        (dict(SINE, imp=[87.3, 0.3, 1210.0]), "bad_type:imp"),
        (dict(SINE, imp=[87.3, 0.3, 1210.0, 0]), "out_of_range:imp"),
        (dict(SINE, run=1), "bad_type:run"),
        (dict(SINE, schedule=[120, -1]), "out_of_range:schedule"),
        (dict(SINE, schedule=[0, 0]), "out_of_range:schedule"),
        (dict(SINE, schedule=[1.5, 2]), "bad_type:schedule"),
        (dict(SINE, phase_s=-5), "out_of_range:phase_s"),
        (dict(SINE, seconds=3601), "out_of_range:seconds"),
        ({"seconds": 1.0}, "bad_type:seconds"),
        ({"hang_s": 0}, "out_of_range:hang_s"),
        ({"hang_s": 601}, "out_of_range:hang_s"),
    ],
)
def test_bad_bench_args_are_refused_and_change_nothing(args: dict, why: str) -> None:
    clock = FakeClock()
    tr = QueueTransport()
    node = make_node("b2", "healthy", tr, clock, MemFS(), config=FAST)
    run(node, clock, 3)
    tr.inbound.append(command(node, args, 9))
    run(node, clock, 1)
    ans = answer(tr, 9)
    assert ans["code"] == "cmd_refused" and ans["detail"]["why"] == why
    assert node.sensor.profile is PROFILES["healthy"]
    assert node._bench_until is None and node._hang_ms == 0


@pytest.mark.parametrize(
    "stim",
    [
        hil.HEALTHY,
        hil.BEARING,
        hil.RUNNING,
        hil.STOPPED,
        hil.sine(31.5, 1.0),
        hil.schedule(120, 120),
    ],
)
def test_every_bench_stimulus_is_accepted(stim: hil.Stimulus) -> None:
    """The HIL bench's flat args (hil_tests.stimulus.Stimulus.bench_args) within protocol
    limits, accepted, and mapped to the matching sim profile (first tone)."""
    clock = FakeClock()
    tr = QueueTransport()
    node = make_node("b3", "healthy", tr, clock, MemFS(), config=FAST)
    run(node, clock, 3)
    tr.inbound.append(command(node, stim.bench_args(), 4))  # encode_command checks the limits
    run(node, clock, 1)
    assert answer(tr, 4)["code"] == "cmd_ok"
    p = node.sensor.profile
    f32 = pytest.approx  # floats travel as float32 (protocol/README.md): 7 digits
    if stim.tones:
        assert p["tones"] == [f32(list(stim.tones[0]), rel=1e-7)]
    else:
        assert p["tones"] == []
    assert p["noise_g"] == f32(stim.noise_g, rel=1e-7)
    if stim.impulses:
        assert p["impulses"] == f32(list(stim.impulses), rel=1e-7)
    else:
        assert p["impulses"] is None
    if not stim.running:
        assert not node.sensor.running(0) and not node.sensor.running(1234.5)
    elif stim.schedule:
        assert p["schedule"] == list(stim.schedule) and node.sensor.phase_s == stim.phase_s
    else:
        assert p["schedule"] is None


def test_seconds_gives_one_report_per_second_for_that_long() -> None:
    clock = FakeClock()
    tr = QueueTransport()
    node = make_node("b4", "healthy", tr, clock, MemFS(), config=dict(FAST, report_s=30))
    run(node, clock, 3)
    n0 = len([f for f in decoded(tr) if f["kind"] == "report"])
    tr.inbound.append(command(node, {"seconds": 10}, 5))
    run(node, clock, 10)
    n1 = len([f for f in decoded(tr) if f["kind"] == "report"])
    assert 9 <= n1 - n0 <= 11
    run(node, clock, 20)
    assert len([f for f in decoded(tr) if f["kind"] == "report"]) - n1 <= 1


class TickingClock(FakeClock):
    """Every ticks_ms() read takes 1 ms: a busy loop on the clock terminates."""

    def ticks_ms(self) -> int:
        self.ms += 1
        return super().ticks_ms()


class StampWDT:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.stamps: list[int] = []

    def feed(self) -> None:
        self.stamps.append(self.clock.ms)


def test_hang_spins_without_feeding_after_the_answer_went_out() -> None:
    clock = TickingClock()
    tr = QueueTransport()
    wdt = StampWDT(clock)
    node = make_node("b5", "healthy", tr, clock, MemFS(), config=FAST, wdt=wdt)
    run(node, clock, 5)
    tr.inbound.append(command(node, {"hang_s": 3}, 6))
    sent: list[int] = []
    t_cmd = clock.ms
    orig = tr.send

    def send(leaf: str, payload: bytes) -> bool:
        f = frames.decode(payload)
        if f["kind"] == "event" and f["code"] == "cmd_ok":
            sent.append(clock.ms)
        return orig(leaf, payload)

    tr.send = send  # type: ignore[method-assign]
    run(node, clock, 5)
    assert answer(tr, 6)["code"] == "cmd_ok" and sent
    pairs = list(zip(wdt.stamps, wdt.stamps[1:], strict=False))
    spins = [(a, b) for a, b in pairs if b - a >= 3000]
    assert len(spins) == 1  # fed every poll except for the whole spin
    a, b = spins[0]
    assert a <= t_cmd and a <= sent[0] <= b - 3000  # the answer went out, then the loop stopped
