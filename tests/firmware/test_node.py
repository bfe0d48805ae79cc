"""The whole application on the host: valid frames, seq/dropped semantics, store-and-forward
across an outage, commands (validated, all-or-nothing, answered), watchdog, reboot."""

from __future__ import annotations

import json

import pytest

from firmware.host import FakeClock, MemFS, QueueTransport, make_node
from firmware.host.stubs import WDT
from protocol import frames

FAST = {"window": 256, "window_s": 10, "report_s": 30, "alarm_report_s": 10}


def run(node, clock: FakeClock, seconds: float, gateway=None) -> None:
    end = clock.ms + int(seconds * 1000)
    while clock.ms < end:
        d = node.poll(clock.ticks_ms())
        if gateway is not None:
            gateway()
        clock.advance(max(d, 200))


def decoded(tr: QueueTransport) -> list[dict]:
    return [frames.decode(p) for _, p in tr.outbox]


def acker(node, tr: QueueTransport):
    def gw() -> None:
        if tr.outbox:
            last = frames.decode(tr.outbox[-1][1])
            tr.inbound.append(frames.encode_ack(node.node_id, last["boot"], last["seq"], 0))

    return gw


@pytest.mark.parametrize("profile", ["healthy", "bearing_degrading", "imbalance", "shifts", "idle"])
def test_each_profile_produces_valid_frames(profile: str) -> None:
    clock = FakeClock()
    tr = QueueTransport()
    node = make_node("n-" + profile[:8], profile, tr, clock, MemFS(), config=FAST)
    run(node, clock, 300)
    fs = decoded(tr)
    assert fs[0]["kind"] == "birth" and fs[0]["seq"] == 0 and fs[0]["boot"] == 1
    assert fs[0]["info"]["reset"] == "power_on"
    info = fs[0]["info"]
    assert set(info) <= set(frames.BIRTH_FIELDS)  # only names the protocol knows
    assert "life_s" not in info  # the gateway computes consumed life per part (FIRMWARE.md)
    for key in ("window", "kernels"):  # the optional extras, with their types
        want, required = frames.BIRTH_FIELDS[key]
        assert not required and type(info[key]) is want, key
    assert info["window"] == FAST["window"]
    assert info["kernels"] in ("viper", "plain:no-viper", "plain:viper-selftest-failed")
    reports = [f for f in fs if f["kind"] == "report"]
    assert len(reports) >= 9
    assert [f["seq"] for f in fs] == list(range(len(fs)))  # no gaps, nothing dropped
    assert all(f["dropped"] == 0 for f in reports)
    assert tr.will == frames.encode_death(node.node_id, 1)
    if profile in ("bearing_degrading", "imbalance"):
        assert reports[-1]["flags"] & frames.FLAG_RUNNING
        assert reports[-1]["runtime_s"] > 200


def test_degrading_bearing_rises_and_alarms() -> None:
    clock = FakeClock()
    tr = QueueTransport()
    young = make_node("b1", "bearing_degrading", tr, clock, MemFS(), config=FAST, age_days=1)
    run(young, clock, 60)
    old_tr = QueueTransport()
    old = make_node("b1", "bearing_degrading", old_tr, clock, MemFS(), config=FAST, age_days=60)
    run(old, clock, 60)
    v_young = max(f["vel_rms_mm_s_x100"][0] for f in decoded(tr) if f["kind"] == "report")
    fs_old = decoded(old_tr)
    v_old = max(f["vel_rms_mm_s_x100"][0] for f in fs_old if f["kind"] == "report")
    assert v_old > 2 * v_young
    assert any(f["kind"] == "event" and f["code"] == "alarm" for f in fs_old)
    assert any(f["kind"] == "report" and f["flags"] & frames.FLAG_ALARM for f in fs_old)


def test_outage_store_and_forward_with_exact_drop_count() -> None:
    clock = FakeClock()
    tr = QueueTransport()
    cfg = dict(FAST, ring_ram=8, ring_seg_frames=4, ring_segs=2)
    node = make_node("s1", "imbalance", tr, clock, MemFS(), config=cfg)
    gw = acker(node, tr)
    run(node, clock, 60, gw)
    tr.online = False
    run(node, clock, 30 * 40)  # 40 reports, room for 16 frames
    tr.online = True
    before = len(tr.outbox)
    run(node, clock, 60, gw)
    fs = decoded(tr)
    seen = {f["seq"] for f in fs}
    top = max(seen)
    gap = top + 1 - len(seen)
    last_report = max((f for f in fs if f["kind"] == "report"), key=lambda f: f["seq"])
    assert gap > 0
    assert last_report["dropped"] == gap  # the gateway's check
    resent = [f["seq"] for f in fs[before:]]
    assert resent == sorted(resent)  # in order
    assert node.ring.pending() <= 1


def test_unacked_frames_are_resent_after_reconnect() -> None:
    clock = FakeClock()
    tr = QueueTransport()
    node = make_node("r1", "healthy", tr, clock, MemFS(), config=FAST)
    run(node, clock, 65)
    n = len(tr.outbox)
    tr.online = False
    node.poll(clock.ticks_ms())
    tr.online = True
    node.poll(clock.ticks_ms())
    again = [frames.decode(p)["seq"] for _, p in tr.outbox[n:]]
    assert again[:n] == list(range(n))  # nothing was acked: everything again, in order


def command(node, name: str, args: dict, cid: int = 7, boot: int = 0) -> bytes:
    return frames.encode_command(node.node_id, boot, cid, 1_700_000_000, name, args)


def events(tr: QueueTransport) -> list[dict]:
    return [f for f in decoded(tr) if f["kind"] == "event"]


@pytest.mark.parametrize(
    ("name", "args", "why"),
    [
        ("config", {"report_s": 0}, "out_of_range:report_s"),
        ("config", {"report_s": "60"}, "bad_type:report_s"),
        ("config", {"bogus": 1}, "unknown_key:bogus"),
        ("config", {"report_s": 120, "window": 300}, "window_not_power_of_two"),
        ("config", {"vel_alarm_mm_s": 1.0}, "alarm_hysteresis"),
        ("config", {"rate_hz": 1000}, "rate_not_supported"),
        ("config", {"ring_ram": 64}, "needs_reboot:ring_ram"),
        ("config", {}, "bad_args"),
        ("config", {"temp_source": "thermocouple"}, "bad_value:temp_source"),
        ("config", {"temp_source": 1}, "bad_type:temp_source"),
        # the host board has no DS18B20: the whole configuration is refused, report_s too
        ("config", {"report_s": 120, "temp_source": "ds18b20"}, "temp_source_unavailable"),
        ("time", {"t": 5}, "bad_epoch"),
        ("resend", {"boot": 7, "from": 0, "to": 3}, "bad_args"),
        ("bench", {"seconds": -1}, "out_of_range:seconds"),
        ("bench", {}, "bad_args"),
    ],
)
def test_bad_commands_are_refused_and_change_nothing(name: str, args: dict, why: str) -> None:
    clock = FakeClock()
    tr = QueueTransport()
    fs = MemFS()
    node = make_node("c1", "healthy", tr, clock, fs, config=FAST)
    run(node, clock, 5)
    cfg_before = dict(node.cfg)
    files_before = dict(fs.files)
    epoch_before = node._epoch
    tr.inbound.append(command(node, name, args))
    run(node, clock, 1)
    ev = events(tr)[-1]
    assert ev["code"] == "cmd_refused"
    assert ev["detail"] == {"cmd": 7, "name": name, "why": why}
    assert node.cfg == cfg_before
    assert fs.files.get("config.json") == files_before.get("config.json")
    assert node._epoch == epoch_before and node._reboot_at is None


def test_good_commands_apply_and_answer() -> None:
    clock = FakeClock()
    tr = QueueTransport()
    fs = MemFS()
    node = make_node("c2", "healthy", tr, clock, fs, config=FAST)
    run(node, clock, 5)
    tr.inbound.append(command(node, "config", {"report_s": 120, "window": 512}, cid=1))
    tr.inbound.append(command(node, "time", {"t": 1_750_000_000}, cid=2))
    tr.inbound.append(command(node, "resend", {"boot": 1, "from": 0, "to": 2}, cid=3))
    run(node, clock, 1)
    ok = [e for e in events(tr) if e["code"] == "cmd_ok"]
    assert [e["detail"]["cmd"] for e in ok] == [1, 2, 3]
    assert node.cfg["report_s"] == 120 and node.features.n == 512
    assert json.loads(fs.files["config.json"])["report_s"] == 120
    run(node, clock, 130)
    rep = [f for f in decoded(tr) if f["kind"] == "report"][-1]
    assert not rep["flags"] & frames.FLAG_CLOCK_UNSYNCED
    assert not rep["flags"] & frames.FLAG_DEFAULT_CONFIG
    assert 1_750_000_000 + 100 <= rep["time"] <= 1_750_000_000 + 131


def test_malformed_and_foreign_frames_are_refused() -> None:
    clock = FakeClock()
    tr = QueueTransport()
    node = make_node("c3", "healthy", tr, clock, MemFS(), config=FAST)
    run(node, clock, 5)
    tr.inbound.append(b"\x93\x01\x02")
    tr.inbound.append(frames.encode_command("other", 0, 1, 0, "reboot", {}))
    tr.inbound.append(command(node, "reboot", {}, boot=99))
    bad_args = bytearray(command(node, "reboot", {}))
    tr.inbound.append(bytes(bad_args[:-1]) + b"\x81\xa1x\x01")  # reboot with args {"x": 1}
    run(node, clock, 1)
    whys = [e["detail"]["why"] for e in events(tr)]
    assert whys == ["malformed", "wrong_node", "wrong_boot", "bad_args"]
    assert node._reboot_at is None


def test_reboot_persists_and_next_boot_counts_up() -> None:
    clock = FakeClock()
    tr = QueueTransport()
    fs = MemFS()
    resets = []
    node = make_node(
        "rb", "imbalance", tr, clock, fs, config=FAST, reset=lambda: resets.append(clock.ms)
    )
    run(node, clock, 100)
    tr.inbound.append(command(node, "reboot", {}))
    run(node, clock, 5)
    assert resets
    rt = node.rt.runtime_s
    tr2 = QueueTransport()
    node2 = make_node("rb", "imbalance", tr2, clock, fs, reset_cause="soft")
    assert node2.rt.runtime_s == rt
    node2.poll(clock.ticks_ms())
    assert node2.boot_id == 2
    birth = frames.decode(tr2.outbox[0][1])
    assert birth["kind"] == "birth" and birth["boot"] == 2 and birth["info"]["reset"] == "soft"
    assert birth["info"]["runtime_s"] == rt


def test_reboot_while_the_machine_keeps_running_is_not_a_start() -> None:
    """The running state is persisted with the counters: after a reboot the first window of a
    machine that never stopped is not counted as a new start (soft reset and power cut)."""
    clock = FakeClock()
    fs = MemFS()
    tr = QueueTransport()
    node = make_node("ks", "healthy", tr, clock, fs, config=FAST, reset=lambda: None)
    run(node, clock, 200)
    assert node.rt.running and node.rt.starts == 1
    tr.inbound.append(command(node, "reboot", {}))
    run(node, clock, 5)
    for cause in ("soft", "power_on"):  # power_on: no save before the cut (last periodic one)
        tr = QueueTransport()
        node = make_node("ks", "healthy", tr, clock, fs, reset_cause=cause)
        assert node.rt.running
        run(node, clock, 200)
        reps = [f for f in decoded(tr) if f["kind"] == "report"]
        assert reps and all(r["starts"] == 1 for r in reps)
        assert all(r["flags"] & frames.FLAG_RUNNING for r in reps)
        assert reps[-1]["runtime_s"] > reps[0]["runtime_s"]


def test_watchdog_is_fed_only_while_healthy() -> None:
    clock = FakeClock()
    tr = QueueTransport()
    wdt = WDT(timeout=8000)
    node = make_node("w1", "healthy", tr, clock, MemFS(), config=FAST, wdt=wdt)
    run(node, clock, 30)
    fed = wdt.feeds
    assert fed > 0

    def broken(*a):
        raise RuntimeError("sensor bus wedged")

    node.features.compute = broken
    run(node, clock, 3 * FAST["window_s"] + 5)  # three missed windows, then no more feeds
    last = wdt.feeds
    run(node, clock, 30)
    assert wdt.feeds == last  # starved: the hardware watchdog resets the board


def test_sensor_fault_is_flagged_and_reported() -> None:
    clock = FakeClock()
    tr = QueueTransport()
    node = make_node("f1", "healthy", tr, clock, MemFS(), config=FAST)
    node.sensor.fault = True
    run(node, clock, 40)
    fs = decoded(tr)
    assert any(f["kind"] == "event" and f["code"] == "sensor_fault" for f in fs)
    assert any(f["kind"] == "report" and f["flags"] & frames.FLAG_SENSOR_FAULT for f in fs)


def test_twelve_nodes_accelerated_in_one_process() -> None:
    import time

    clock = FakeClock()
    nodes = []
    for i, p in enumerate(["healthy", "bearing_degrading", "imbalance", "shifts", "idle"] * 3):
        tr = QueueTransport()
        nodes.append((make_node(f"m{i:02d}", p, tr, clock, MemFS(), config={"window_s": 60}), tr))
    t0 = time.perf_counter()
    for _ in range(600):  # 10 simulated minutes in 1 s steps
        for n, _ in nodes:
            n.poll(clock.ticks_ms())
        clock.advance(1000)
    cpu = time.perf_counter() - t0
    assert all(len(tr.outbox) >= 10 for _, tr in nodes)
    assert cpu < 30


def test_node_json_nested_and_provisioned_flat_forms() -> None:
    from firmware import config

    flat = {
        "node_id": "press-07",
        "mqtt_host": "10.0.0.2",
        "mqtt_port": 1884,
        "mqtt_user": "press-07",
        "mqtt_password": "pw",
        "mqtt_client_id": "press-07",
        "wifi_ssid": "plant",
        "wifi_password": "wpw",
    }
    nested = {
        "node_id": "press-07",
        "mqtt": {"host": "10.0.0.2", "port": 1884, "user": "press-07", "password": "pw"},
        "wifi": {"ssid": "plant", "password": "wpw"},
    }
    views = []
    for doc in (flat, nested):
        fs = MemFS({"node.json": json.dumps(doc).encode()})
        ident = config.load_identity(fs)
        assert ident["node_id"] == "press-07" and ident["transport"] == "mqtt"
        assert ident["mqtt"]["host"] == "10.0.0.2" and ident["mqtt"]["port"] == 1884
        assert ident["wifi"]["ssid"] == "plant"
        assert ident["mqtt_host"] == "10.0.0.2" and ident["wifi_password"] == "wpw"
        views.append(ident)
    # One format: the nested form reads as the flat one (only the client id was not in it).
    del views[0]["mqtt_client_id"]
    views[0]["mqtt"]["client_id"] = None
    assert views[0] == views[1]
    with pytest.raises(ValueError, match="mqtt_host"):
        config.load_identity(MemFS({"node.json": b'{"node_id": "n1", "mqtt": {"port": 1}}'}))
    serial = config.load_identity(MemFS({"node.json": b'{"node_id": "n1", "transport": "serial"}'}))
    assert serial["transport"] == "serial" and serial["mqtt"]["port"] == 1883
    with pytest.raises(ValueError):
        config.load_identity(MemFS({"node.json": b'{"node_id": ""}'}))


@pytest.mark.parametrize("doc", [b'""', b"[]", b"1", b"null", b'"node"'])
def test_node_json_that_is_not_an_object_is_a_clear_error(doc: bytes) -> None:
    """Found by the fault campaign's fuzzing: valid JSON of the wrong shape crashed the loader."""
    from firmware import config

    with pytest.raises(ValueError, match="not an object"):
        config.load_identity(MemFS({"node.json": doc}))


def test_nan_in_config_is_refused() -> None:
    """Found by the fault campaign's fuzzing: NaN passed every range check."""
    from firmware import config

    cfg = dict(config.DEFAULTS)
    cfg["vel_alarm_mm_s"] = float("nan")
    assert config.check(cfg) == "not_finite:vel_alarm_mm_s"
    cfg["vel_alarm_mm_s"] = float("inf")
    assert config.check(cfg) == "out_of_range:vel_alarm_mm_s"
    loaded = config.load(MemFS({"config.json": b'{"vel_alarm_mm_s": NaN}'}))
    assert loaded[0]["vel_alarm_mm_s"] == config.DEFAULTS["vel_alarm_mm_s"]


def test_exhausted_sequence_reboots_into_a_new_boot() -> None:
    clock = FakeClock()
    tr = QueueTransport()
    resets: list[int] = []
    node = make_node(
        "sq", "healthy", tr, clock, MemFS(), config=FAST, reset=lambda: resets.append(1)
    )
    node.poll(clock.ticks_ms())
    node.seq = 0xFFFFFFFF - 1
    run(node, clock, 90)  # reports at 30 s (the last seq) and 60 s (exhausted), then reboot
    sent = decoded(tr)
    assert max(f["seq"] for f in sent) == 0xFFFFFFFF  # the last seq is used, never wrapped
    assert resets  # then the board reboots into a new boot id with seq 0


# ---------------------------------------------------------------- sensor honesty


class ScriptedSensor:
    """An accelerometer stand-in whose windows a test scripts: 'ok' (noise around gravity),
    'flat', 'rail' (stuck at full scale on x), 'impact' (one clipped sample), 'timeout'
    (read_window False) or 'bus' (OSError from the bus)."""

    name = "adxl345"
    lsb_g = 0.0039
    full_scale = 4095
    RATES = (3200, 1600, 800)

    def __init__(self) -> None:
        self.mode = "ok"
        self.k = 0

    def configure(self, rate_hz: int) -> None:
        pass

    def read_window(self, bx, by, bz, n: int) -> bool:  # type: ignore[no-untyped-def]
        if self.mode == "timeout":
            return False
        if self.mode == "bus":
            raise OSError(5, "EIO")
        for i in range(n):
            self.k = (self.k * 1103515245 + 12345) & 0x7FFFFFFF
            e = (self.k >> 16) % 9 - 4
            bx[i] = 40 * ((i // 4) % 2) + e
            by[i] = e
            bz[i] = 256 + e
        if self.mode == "flat":
            for i in range(n):
                by[i] = 3
        elif self.mode == "rail":
            for i in range(n // 4):
                bx[i] = 4095 if i % 2 else -4096
        elif self.mode == "impact":
            bx[n // 2] = 4095
        return True

    def temperature(self) -> None:
        return None


def scripted_node(tr: QueueTransport, clock: FakeClock):  # type: ignore[no-untyped-def]
    from firmware.node import Node

    fs = MemFS()
    fs.write("config.json", json.dumps(FAST).encode())
    sensor = ScriptedSensor()
    return Node("f1", sensor, tr, clock, fs, board="host"), sensor


def reports(tr: QueueTransport) -> list[dict]:
    return [f for f in decoded(tr) if f["kind"] == "report"]


@pytest.mark.parametrize(
    ("mode", "why"),
    [("flat", "flat"), ("rail", "saturated"), ("timeout", "no_data"), ("bus", "bus_error")],
)
def test_sensor_faults_are_flagged_with_no_invented_features(mode: str, why: str) -> None:
    clock = FakeClock()
    tr = QueueTransport()
    node, sensor = scripted_node(tr, clock)
    run(node, clock, 65)
    good = reports(tr)[-1]
    assert not good["flags"] & frames.FLAG_SENSOR_FAULT and max(good["acc_rms_mg"]) > 0
    sensor.mode = mode
    n = len(tr.outbox)
    run(node, clock, 65)
    ev = [f for f in decoded(tr)[n:] if f["kind"] == "event"]
    assert [e["code"] for e in ev] == ["sensor_fault"]  # once, not per window
    assert ev[0]["detail"] == {"why": why, "sensor": "adxl345"}
    bad = [f for f in decoded(tr)[n:] if f["kind"] == "report"]
    assert len(bad) >= 2
    for f in bad:
        assert f["flags"] & frames.FLAG_SENSOR_FAULT
        assert f["acc_rms_mg"] == [0, 0, 0] and f["vel_rms_mm_s_x100"] == [0, 0, 0]
        assert f["peak_mg"] == 0 and f["kurtosis_x100"] == 0
    sensor.mode = "ok"
    n = len(tr.outbox)
    run(node, clock, 65)
    assert [e["code"] for e in events(tr) if e["seq"] >= n] == ["sensor_ok"]
    assert not reports(tr)[-1]["flags"] & frames.FLAG_SENSOR_FAULT


def test_one_clipped_impact_is_saturation_not_a_fault() -> None:
    clock = FakeClock()
    tr = QueueTransport()
    node, sensor = scripted_node(tr, clock)
    sensor.mode = "impact"
    run(node, clock, 65)
    assert not any(e["code"] == "sensor_fault" for e in events(tr))
    assert not reports(tr)[-1]["flags"] & frames.FLAG_SENSOR_FAULT


def test_no_accelerometer_at_boot_reports_a_fault_never_a_simulation() -> None:
    """main.make_sensor on a board whose bus answers nobody: NoSensor, not SimSensor."""
    from firmware import main
    from firmware.host import stubs

    board = {"spi": None, "i2c": {"id": 0, "scl": 5, "sda": 4, "freq": 400000}}
    orig = stubs.I2C.scan
    stubs.I2C.scan = lambda self: []  # type: ignore[method-assign]
    try:
        sensor = main.make_sensor(board, FakeClock(), bench=False)
        bench = main.make_sensor(board, FakeClock(), bench=True)
    finally:
        stubs.I2C.scan = orig  # type: ignore[method-assign]
    assert sensor.name == "none"
    assert bench.name == "sim"  # node.json asked for bench mode
    from firmware.node import Node

    clock = FakeClock()
    tr = QueueTransport()
    fs = MemFS()
    fs.write("config.json", json.dumps(FAST).encode())
    node = Node("z1", sensor, tr, clock, fs, board="host")
    run(node, clock, 65)
    fs_ = decoded(tr)
    assert fs_[0]["info"]["sensor"] == "none" and fs_[0]["info"]["bench"] is False
    assert [e["detail"]["why"] for e in events(tr) if e["code"] == "sensor_fault"] == ["absent"]
    rep = reports(tr)
    assert rep and all(f["flags"] & frames.FLAG_SENSOR_FAULT for f in rep)
    assert all(max(f["acc_rms_mg"]) == 0 for f in rep)


def test_simulation_refused_outside_bench_mode() -> None:
    clock = FakeClock()
    tr = QueueTransport()
    node, _ = scripted_node(tr, clock)
    run(node, clock, 5)
    args = {"seconds": 0, "tone_hz": 80.0, "tone_g": [0.5, 0.25, 0.125]}
    tr.inbound.append(command(node, "bench", args, cid=3))
    run(node, clock, 2)
    ans = [e for e in events(tr) if e["detail"].get("cmd") == 3]
    assert ans[-1]["code"] == "cmd_refused" and ans[-1]["detail"]["why"] == "not_bench_mode"
    assert node.sensor.name == "adxl345"


def test_wifi_rssi_in_the_birth_and_an_hourly_event_never_in_reports() -> None:
    class WifiTransport(QueueTransport):
        level = -70

        def rssi(self) -> int:
            return self.level

    clock = FakeClock()
    tr = WifiTransport()
    slow = {"window": 256, "window_s": 600, "report_s": 1200, "alarm_report_s": 600}
    node = make_node("w1", "healthy", tr, clock, MemFS(), config=slow)
    run(node, clock, 5)
    assert decoded(tr)[0]["info"]["rssi_dbm"] == -70
    tr.level = -75
    run(node, clock, 3600)
    ev = [e for e in events(tr) if e["code"] == "wifi_rssi"]
    assert [e["detail"] for e in ev] == [{"rssi_dbm": -75}]
    sizes = [len(p) for _, p in tr.outbox if frames.decode(p)["kind"] == "report"]
    assert sizes and max(sizes) <= 48  # the report itself carries no RSSI
    plain = QueueTransport()  # serial: no Wi-Fi, no field, no event
    n2 = make_node("s1", "healthy", plain, clock, MemFS(), config=slow)
    run(n2, clock, 3700)
    assert "rssi_dbm" not in decoded(plain)[0]["info"]
    assert not [e for e in events(plain) if e["code"] == "wifi_rssi"]
