"""The lean MQTT client's packet parser: fragmentation, batching of PUBACKs, oversize payloads."""

from __future__ import annotations

import asyncio

from gateway.mqtt_native import MAX_PACKET, _Connection, publish_packet


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out: list[bytes] = []
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.out.append(bytes(data))

    def abort(self) -> None:
        self.aborted = True

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


def make() -> tuple[_Connection, FakeTransport, list[tuple[bytes, bytes]]]:
    got: list[tuple[bytes, bytes]] = []
    conn = _Connection(lambda t, p, _retain: got.append((t, p)))
    tr = FakeTransport()
    conn.connection_made(tr)
    return conn, tr, got


def test_fragmented_and_batched_publishes() -> None:
    async def body() -> None:
        conn, tr, got = make()
        pkts = [
            publish_packet(b"kizashi/v1/node/n1/data", bytes([i]) * i, 1, i + 1) for i in range(200)
        ]
        pkts.append(publish_packet(b"kizashi/v1/node/n1/data", b"q0", 0, 0))
        stream = b"".join(pkts)
        for i in range(len(stream)):  # one byte at a time
            conn.data_received(stream[i : i + 1])
        assert [p for _, p in got] == [bytes([i]) * i for i in range(200)] + [b"q0"]
        acks = b"".join(tr.out)
        assert acks == b"".join(b"\x40\x02" + (i + 1).to_bytes(2, "big") for i in range(200))
        # Many packets in one read: all PUBACKs in one write.
        tr.out.clear()
        got.clear()
        conn.data_received(b"".join(pkts[:50]))
        assert len(got) == 50 and len(tr.out) == 1
        assert not tr.aborted

    asyncio.run(body())


def test_oversize_publish_is_acked_reported_and_skipped() -> None:
    async def body() -> None:
        conn, tr, got = make()
        big = publish_packet(b"kizashi/v1/node/n1/data", b"x" * (MAX_PACKET + 10), 1, 7)
        small = publish_packet(b"kizashi/v1/node/n1/data", b"ok", 1, 8)
        stream = big + small
        for i in range(0, len(stream), 1000):
            conn.data_received(stream[i : i + 1000])
        assert len(got) == 2
        assert len(got[0][1]) > 512  # the decoder rejects it as "oversize"
        assert got[1] == (b"kizashi/v1/node/n1/data", b"ok")
        assert b"".join(tr.out) == b"\x40\x02\x00\x07\x40\x02\x00\x08"

    asyncio.run(body())


def test_garbage_aborts_the_connection() -> None:
    async def body() -> None:
        conn, tr, _ = make()
        conn.data_received(b"\xf0\x00")  # reserved packet type
        assert tr.aborted
        conn2, tr2, _ = make()
        conn2.data_received(b"\x30\xff\xff\xff\xff\x7f")  # remaining length over 4 bytes
        assert tr2.aborted

    asyncio.run(body())
