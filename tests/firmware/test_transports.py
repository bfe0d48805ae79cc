"""MQTT (umqtt-compatible client against a scripted in-memory broker socket) and framed
serial transports, driven through the real node."""

from __future__ import annotations

import struct

from firmware.host import FakeClock, MemFS, make_node
from firmware.transports.mqtt import MqttTransport
from firmware.transports.serial import SerialTransport
from firmware.transports.umqtt import MQTTClient
from protocol import frames, topics
from protocol.serial_framing import Deframer, encode_frame


class FakeSock:
    """Answers CONNECT, SUBSCRIBE and QoS 1 PUBLISH like a broker; records what it got."""

    def __init__(self, broker: FakeBroker) -> None:
        self.b = broker
        self.out = bytearray()
        self.inq = bytearray()
        self.blocking = True

    def settimeout(self, t: float) -> None:
        self.blocking = True

    def setblocking(self, flag: bool) -> None:
        self.blocking = flag

    def connect(self, addr: object) -> None:
        if self.b.down:
            raise OSError(113, "EHOSTUNREACH")

    def close(self) -> None:
        self.b.closed += 1

    def write(self, data: bytes) -> int:
        if self.b.down:
            raise OSError(104, "ECONNRESET")
        self.out += data
        self._parse()
        return len(data)

    def read(self, n: int) -> bytes:
        if not self.inq:
            if self.blocking:
                return b""  # a timeout
            raise OSError(11, "EAGAIN")
        d = bytes(self.inq[:n])
        del self.inq[:n]
        return d

    def _parse(self) -> None:
        while len(self.out) >= 2:
            ln, sh, i = 0, 0, 1
            while True:
                if i >= len(self.out):
                    return
                b = self.out[i]
                ln |= (b & 0x7F) << sh
                sh += 7
                i += 1
                if not b & 0x80:
                    break
            if len(self.out) < i + ln:
                return
            pkt = bytes(self.out[: i + ln])
            del self.out[: i + ln]
            body = pkt[i:]
            kind = pkt[0] & 0xF0
            if kind == 0x10:
                self.b.connects.append(body)
                self.inq += b"\x20\x02\x00\x00"
            elif kind == 0x80:
                self.b.subs.append(body[4 : 4 + struct.unpack("!H", body[2:4])[0]].decode())
                self.inq += b"\x90\x03" + body[:2] + b"\x01"
            elif kind == 0x30:
                tl = struct.unpack("!H", body[:2])[0]
                topic = body[2 : 2 + tl].decode()
                pid = body[2 + tl : 4 + tl]
                self.b.published.append((topic, body[4 + tl :]))
                self.inq += b"\x40\x02" + pid


class FakeBroker:
    def __init__(self) -> None:
        self.down = False
        self.connects: list[bytes] = []
        self.subs: list[str] = []
        self.published: list[tuple[str, bytes]] = []
        self.closed = 0
        self.sock: FakeSock | None = None

    def getaddrinfo(self, host: str, port: int) -> list:
        return [(2, 1, 0, "", (host, port))]

    def socket(self) -> FakeSock:
        self.sock = FakeSock(self)
        return self.sock

    def deliver(self, topic: str, payload: bytes) -> None:
        t = topic.encode()
        body = struct.pack("!H", len(t)) + t + b"\x00\x09" + payload
        assert self.sock is not None
        self.sock.inq += bytes([0x32, len(body)]) + body


def mqtt_node(broker: FakeBroker, clock: FakeClock):
    def factory() -> MQTTClient:
        return MQTTClient("m1", "gw", 1883, "m1", "pw", socket_timeout=2, socket_mod=broker)

    tr = MqttTransport("m1", factory, seed=5)
    node = make_node("m1", "imbalance", tr, clock, MemFS(), config={"window": 256})
    return node, tr


def run(node, clock: FakeClock, seconds: float) -> None:
    end = clock.ms + int(seconds * 1000)
    while clock.ms < end:
        clock.advance(max(node.poll(clock.ticks_ms()), 100))


def test_mqtt_connects_with_will_subscribes_and_publishes() -> None:
    broker = FakeBroker()
    clock = FakeClock()
    node, tr = mqtt_node(broker, clock)
    run(node, clock, 70)
    assert tr.connected()
    death = frames.encode_death("m1", 1)
    assert broker.connects and death in broker.connects[0]
    assert topics.node_topic("m1", "death").encode() in broker.connects[0]
    assert broker.subs == [topics.node_topic("m1", "cmd"), topics.node_topic("m1", "ack")]
    first_topic, first = broker.published[0]
    assert first_topic == topics.node_topic("m1", "birth")
    assert frames.decode(first)["kind"] == "birth"
    assert all(t == topics.node_topic("m1", "data") for t, _ in broker.published[1:])
    assert any(frames.decode(p)["kind"] == "report" for _, p in broker.published)


def test_mqtt_inbound_ack_and_reconnect_with_backoff() -> None:
    broker = FakeBroker()
    clock = FakeClock()
    node, tr = mqtt_node(broker, clock)
    run(node, clock, 70)
    n = len(broker.published)
    broker.deliver(topics.node_topic("m1", "ack"), frames.encode_ack("m1", 1, n - 1, 0))
    run(node, clock, 1)
    assert node.ring.pending() == 0
    broker.down = True
    run(node, clock, 120)  # reports pile up; connect attempts back off
    assert not tr.connected()
    assert tr.failures >= 2
    assert tr.failures < 12  # exponential backoff, not a retry every poll
    broker.down = False
    run(node, clock, 130)
    assert tr.connected() and tr.connects == 2
    seqs = [frames.decode(p)["seq"] for _, p in broker.published[n:]]
    assert seqs == sorted(seqs) and seqs[0] == n  # resent in order from the first unacked


class Pipe:
    def __init__(self) -> None:
        self.to_node = bytearray()
        self.from_node = bytearray()

    def any(self) -> int:
        return len(self.to_node)

    def read(self, n: int) -> bytes:
        d = bytes(self.to_node[:n])
        del self.to_node[:n]
        return d

    def write(self, b: bytes) -> int:
        self.from_node += b
        return len(b)


def test_serial_transport_frames_both_ways() -> None:
    pipe = Pipe()
    clock = FakeClock()
    tr = SerialTransport(pipe)
    node = make_node("s1", "healthy", tr, clock, MemFS(), config={"window": 256})
    run(node, clock, 65)
    d = Deframer()
    got = [frames.decode(p) for p in d.feed(bytes(pipe.from_node))]
    assert got[0]["kind"] == "birth" and got[1]["kind"] == "report"
    pipe.from_node.clear()
    pipe.to_node += b"\x01\x02garbage\x00"  # line noise is rejected by CRC, not fatal
    pipe.to_node += encode_frame(frames.encode_ack("s1", 1, got[-1]["seq"], 0))
    pipe.to_node += encode_frame(frames.encode_command("s1", 0, 4, 0, "time", {"t": 1_760_000_000}))
    run(node, clock, 2)
    assert node.ring.pending() == 1  # everything acked but the cmd_ok event
    ev = [frames.decode(p) for p in Deframer().feed(bytes(pipe.from_node))]
    assert ev[-1]["code"] == "cmd_ok"
    assert tr.deframer.rejected


def test_mqtt_transport_rssi_only_on_wifi_when_associated() -> None:
    from firmware.host.stubs import WLAN
    from firmware.transports.mqtt import MqttTransport

    assert MqttTransport("n1", lambda: None, None).rssi() is None  # no Wi-Fi (e.g. Ethernet)
    w = WLAN()
    t = MqttTransport("n1", lambda: None, w)
    assert t.rssi() is None  # not associated
    w.connect("plant", "x")
    assert t.rssi() == -61
    w.rssi = 31  # a port's "no reading" value, not a dBm figure
    assert t.rssi() is None

    def no_rssi(param: object = None) -> int:
        raise ValueError("unknown config param")  # a port without status("rssi")

    w.status = no_rssi  # type: ignore[method-assign]
    assert t.rssi() is None
