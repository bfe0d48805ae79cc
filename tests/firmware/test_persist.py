"""Power cut at every byte of every write: counters never go backwards, never jump forward,
and lose at most one save interval. The running state is persisted with the counters, so a
reboot of the node while the machine keeps running is not a new start."""

from __future__ import annotations

import contextlib
import struct

from firmware import config as cfgmod
from firmware.clock import ticks_diff
from firmware.host.fakefs import MemFS, PowerCut
from firmware.persist import FMT, MAGIC, SIZE, SLOTS, Record, Store
from firmware.runtime import Runtime
from protocol.crc32 import crc32

CFG = dict(cfgmod.DEFAULTS, run_on_windows=1, run_off_windows=1, save_s=60)


Truth = tuple[int, int, int, bool]


def state(rt: Runtime) -> Truth:
    return (rt.runtime_s, rt.starts, rt.boot_id, rt.running)


def scenario(fs: MemFS, truth: list[Truth]) -> Runtime:
    """Boot, then 20 minutes running in 10 s windows with a stop/start; `truth` collects
    (runtime_s, starts, boot_id, running) after every successful save."""
    rt = Runtime(Store(fs), CFG)
    now = 0
    rt.new_boot(now)
    truth.append(state(rt))
    for i in range(120):
        now += 10_000
        level = 0.0 if 50 <= i < 55 else 0.1
        rt.update(level, 3.0, 10_000)
        if rt.due(now, ticks_diff):
            rt.save(now)
            truth.append(state(rt))
    return rt


def total_bytes() -> int:
    fs = MemFS()
    scenario(fs, [])
    return fs.written


def test_every_cut_point() -> None:
    base = MemFS()
    truth: list[Truth] = []
    scenario(base, truth)
    assert base.written == SIZE * len(truth)
    assert len(truth) > 15  # about one save a minute over 20 minutes, plus the boot
    assert {t[3] for t in truth} == {False, True}  # the stop was saved too
    checked = 0
    for k in range(base.written + 1):
        fs = MemFS(cut_at=k)
        saved: list[Truth] = []
        with contextlib.suppress(PowerCut):
            scenario(fs, saved)
        after = Runtime(Store(fs.survivor()), CFG)
        got = state(after)
        # the last fully written record, or (torn write) the one before it
        if saved:
            assert got == saved[-1], (k, got, saved[-1])
        else:
            assert got == (0, 0, 0, False)
        # never beyond what was reached, never more than one save interval behind it
        reached = truth[len(saved)] if len(saved) < len(truth) else truth[-1]
        assert got[0] <= reached[0]
        assert reached[0] - got[0] <= CFG["save_s"] + 10
        checked += 1
    assert checked == base.written + 1


def test_next_boot_after_a_cut_counts_up_and_recovers() -> None:
    for k in (0, 5, SIZE, SIZE + 3, 7 * SIZE + 11):
        fs = MemFS(cut_at=k)
        with contextlib.suppress(PowerCut):
            scenario(fs, [])
        fs2 = fs.survivor()
        rt = Runtime(Store(fs2), CFG)
        before = rt.boot_id
        rt.new_boot(0)
        rt2 = Runtime(Store(fs2), CFG)
        assert rt2.boot_id == before + 1


def test_corrupt_record_is_ignored() -> None:
    fs = MemFS()
    st = Store(fs)
    st.save(Record(0, 1, 100, 2, 50))
    st.save(Record(0, 1, 160, 2, 80))
    newest = max(fs.files, key=lambda n: Record.unpack(fs.files[n]).gen)  # type: ignore[union-attr]
    data = bytearray(fs.files[newest])
    data[10] ^= 0xFF
    fs.files[newest] = bytes(data)
    r = Store(fs).load()
    assert (r.runtime_s, r.life_s) == (100, 50)


def test_saves_are_rate_limited() -> None:
    fs = MemFS()
    truth: list[Truth] = []
    scenario(fs, truth)
    # 20 minutes with save_s = 60: at most one save a minute (+1 at boot, +1 for rounding)
    assert fs.writes <= 20 + 2


def windows(rt: Runtime, level: float, n: int, now: int) -> tuple[list[str | None], int]:
    changes = []
    for _ in range(n):
        now += 10_000
        changes.append(rt.update(level, 3.0, 10_000))
        if rt.due(now, ticks_diff):
            rt.save(now)
    return changes, now


def test_running_state_survives_a_reboot() -> None:
    """The machine keeps running through a node reboot: no new start, runtime keeps accruing
    from the first interval; a machine that stopped meanwhile is a stop, not a start."""
    cfg = dict(CFG, run_on_windows=2, run_off_windows=2)
    fs = MemFS()
    rt = Runtime(Store(fs), cfg)
    rt.new_boot(0)
    changes, now = windows(rt, 0.1, 12, 0)
    assert changes.count("start") == 1 and rt.running
    rt.save(now)  # e.g. before a commanded reboot
    # reboot, machine still running
    rt2 = Runtime(Store(fs), cfg)
    assert rt2.running and rt2.starts == 1
    rt2.new_boot(0)
    assert rt2.update(0.1, 3.0, 0) is None  # first window after boot: not a start
    before = rt2.runtime_s
    changes, now = windows(rt2, 0.1, 6, 0)
    assert "start" not in changes and rt2.starts == 1
    assert rt2.runtime_s == before + 60  # running from the first interval on
    # the machine stops; the stop is persisted (dirty) and survives the next reboot
    changes, now = windows(rt2, 0.0, 3, now)
    assert changes.count("stop") == 1 and not rt2.running
    now += 60_000
    assert rt2.due(now, ticks_diff)
    rt2.save(now)
    rt3 = Runtime(Store(fs), cfg)
    assert not rt3.running
    changes, _ = windows(rt3, 0.1, 3, 0)
    assert changes.count("start") == 1 and rt3.starts == 2


def test_reboot_while_stopped_after_an_unsaved_stop() -> None:
    """Record says running (the stop was not saved yet), machine stopped at boot: the node
    detects a stop after run_off_windows windows and counts no start."""
    cfg = dict(CFG, run_on_windows=1, run_off_windows=2)
    fs = MemFS()
    Store(fs).save(Record(0, 3, 500, 4, 100, True))
    rt = Runtime(Store(fs), cfg)
    rt.new_boot(0)
    changes, _ = windows(rt, 0.0, 4, 0)
    assert changes == [None, "stop", None, None]
    assert rt.starts == 4 and rt.runtime_s == 520  # two intervals until the stop is detected


def old_record(gen: int, boot: int, runtime_s: int, starts: int, life_s: int) -> bytes:
    """A record as the first firmware wrote it: version 1, pad byte 0."""
    body = struct.pack(FMT, MAGIC, 1, 0, gen, boot, runtime_s, starts, life_s)
    return body + struct.pack("<I", crc32(body))


def test_record_format_is_backward_compatible() -> None:
    # old records (pad byte 0) load as "not running", exactly what the old firmware assumed
    fs = MemFS()
    fs.files[SLOTS[0]] = old_record(7, 5, 1000, 3, 400)
    r = Store(fs).load()
    got = (r.gen, r.boot_id, r.runtime_s, r.starts, r.life_s, r.running)
    assert got == (7, 5, 1000, 3, 400, False)
    # a new record differs from the old layout only in the flags byte, which the old firmware
    # ignores (same magic, version, size, CRC over the same bytes)
    new = Record(7, 5, 1000, 3, 400, True).pack()
    assert len(new) == SIZE == 28
    assert new[:3] == old_record(7, 5, 1000, 3, 400)[:3] and new[3] == 1
    assert new[4:24] == old_record(7, 5, 1000, 3, 400)[4:24]
    v = struct.unpack(FMT, new[:-4])
    assert v[0] == MAGIC and v[1] == 1
    rec = Record.unpack(new)
    assert rec is not None and rec.running is True
    # reserved flag bits are ignored; a flipped flags byte fails the CRC
    body = bytearray(new[:-4])
    body[3] = 0xFE
    reserved = Record.unpack(bytes(body) + struct.pack("<I", crc32(bytes(body))))
    assert reserved is not None and reserved.running is False
    torn = bytearray(new)
    torn[3] ^= 0x01
    assert Record.unpack(bytes(torn)) is None
