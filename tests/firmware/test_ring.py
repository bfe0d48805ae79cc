"""Store-and-forward ring: order, release by ack only, spill to flash, exact drop counts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.host.fakefs import MemFS
from firmware.ring import Ring, pack_segment, parse_segment


def drain(r: Ring) -> list[tuple[int, int]]:
    out = []
    while True:
        it = r.peek()
        if it is None:
            return out
        out.append((it[0], it[1]))
        r.mark_sent(it[0], it[1])


def test_ram_only_drops_oldest_and_counts() -> None:
    r = Ring(1, ram_cap=4)
    for s in range(10):
        r.push(s, b"f%d" % s)
    assert r.dropped == 6
    assert drain(r) == [(1, 6), (1, 7), (1, 8), (1, 9)]


def test_drop_after_send_is_counted_apart() -> None:
    r = Ring(1, ram_cap=2)
    r.push(0, b"a")
    drain(r)  # seq 0 reached the transport, never acked
    r.push(1, b"b")
    r.push(2, b"c")
    assert (r.dropped, r.dropped_sent) == (0, 1)


def test_frames_stay_until_acked_and_resend_in_order() -> None:
    r = Ring(1, ram_cap=8)
    for s in range(5):
        r.push(s, b"x")
    assert [s for _, s in drain(r)] == [0, 1, 2, 3, 4]
    assert drain(r) == []
    r.rewind()
    assert [s for _, s in drain(r)] == [0, 1, 2, 3, 4]  # unacked: sent again
    r.ack(1, 2)
    r.rewind()
    assert [s for _, s in drain(r)] == [3, 4]
    r.ack(0, 99)  # another boot's ack releases nothing here
    assert r.pending() == 2


def test_spill_to_flash_and_back() -> None:
    fs = MemFS()
    r = Ring(2, ram_cap=4, fs=fs, seg_frames=2, max_segs=3)
    for s in range(10):
        r.reserve()
        r.push(s, b"p%d" % s)
    assert r.dropped == 0 and r.spilled == 6
    assert len([n for n in fs.files if n.startswith("q2_")]) == 3
    assert [s for _, s in drain(r)] == list(range(10))
    r.ack(2, 5)
    assert len(fs.files) == 0  # fully acked segments are deleted
    r.rewind()
    assert [s for _, s in drain(r)] == [6, 7, 8, 9]


def test_flash_full_drops_oldest_segment_and_counts() -> None:
    fs = MemFS()
    r = Ring(2, ram_cap=4, fs=fs, seg_frames=2, max_segs=2)
    for s in range(12):
        r.reserve()
        r.push(s, b"p")
    sent = [s for _, s in drain(r)]
    assert r.dropped == 12 - len(sent) and r.dropped_sent == 0
    assert sent == list(range(12 - len(sent), 12))


def test_backlog_of_previous_boot_survives_reboot_and_goes_first() -> None:
    fs = MemFS()
    r = Ring(3, ram_cap=2, fs=fs, seg_frames=2, max_segs=4)
    for s in range(6):
        r.reserve()
        r.push(s, b"old%d" % s)
    # reboot: RAM is lost, flash segments remain
    r2 = Ring(4, ram_cap=2, fs=fs.survivor(), seg_frames=2, max_segs=4)
    r2.push(0, b"birth")
    got = drain(r2)
    assert got[-1] == (4, 0)
    assert got[:-1] == [(3, s) for s in range(4)]
    r2.ack(3, 3)
    assert [k for k in drain(r2)] == []
    r2.rewind()
    assert drain(r2) == [(4, 0)]


def test_torn_segment_keeps_its_whole_records() -> None:
    data = pack_segment([(1, b"aaa"), (2, b"bbbb"), (3, b"c")])
    assert [s for s, _ in parse_segment(data)] == [1, 2, 3]
    for cut in range(len(data)):
        items = parse_segment(data[:cut])
        assert [s for s, _ in items] == [1, 2, 3][: len(items)]
    bad = bytearray(data)
    bad[8] ^= 1
    assert parse_segment(bytes(bad)) == []


@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(st.sampled_from(["push", "push", "push", "ack", "send"]), max_size=200),
    ram=st.integers(2, 8),
    segs=st.integers(0, 3),
)
def test_dropped_equals_the_seq_gap_exactly(ops: list[str], ram: int, segs: int) -> None:
    """What the gateway checks: frames it can ever receive + dropped == frames created."""
    fs = MemFS() if segs else None
    r = Ring(1, ram_cap=ram, fs=fs, seg_frames=2, max_segs=segs)
    seq = -1
    received: set[int] = set()
    acked = -1
    for op in ops:
        if op == "push":
            r.reserve()
            seq += 1
            r.push(seq, b"x")
        elif op == "send":
            for _, s in drain(r):
                received.add(s)
        elif op == "ack" and received:
            acked = max(received)
            r.ack(1, acked)
            r.rewind()
    r.rewind()
    for _, s in drain(r):
        received.add(s)
    assert len(received) + r.dropped == seq + 1
