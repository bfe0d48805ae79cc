"""Power cut at every byte of every write: counters never go backwards, never jump forward,
and lose at most one save interval."""

from __future__ import annotations

import contextlib

from firmware import config as cfgmod
from firmware.clock import ticks_diff
from firmware.host.fakefs import MemFS, PowerCut
from firmware.persist import SIZE, Record, Store
from firmware.runtime import Runtime

CFG = dict(cfgmod.DEFAULTS, run_on_windows=1, run_off_windows=1, save_s=60)


def scenario(fs: MemFS, truth: list[tuple[int, int, int]]) -> Runtime:
    """Boot, then 20 minutes running in 10 s windows with a stop/start; `truth` collects
    (runtime_s, starts, boot_id) after every successful save."""
    rt = Runtime(Store(fs), CFG)
    now = 0
    rt.new_boot(now)
    truth.append((rt.runtime_s, rt.starts, rt.boot_id))
    for i in range(120):
        now += 10_000
        level = 0.0 if 50 <= i < 55 else 0.1
        rt.update(level, 3.0, 10_000)
        if rt.due(now, ticks_diff):
            rt.save(now)
            truth.append((rt.runtime_s, rt.starts, rt.boot_id))
    return rt


def total_bytes() -> int:
    fs = MemFS()
    scenario(fs, [])
    return fs.written


def test_every_cut_point() -> None:
    base = MemFS()
    truth: list[tuple[int, int, int]] = []
    scenario(base, truth)
    assert base.written == SIZE * len(truth)
    assert len(truth) > 15  # about one save a minute over 20 minutes, plus the boot
    checked = 0
    for k in range(base.written + 1):
        fs = MemFS(cut_at=k)
        saved: list[tuple[int, int, int]] = []
        with contextlib.suppress(PowerCut):
            scenario(fs, saved)
        after = Runtime(Store(fs.survivor()), CFG)
        got = (after.runtime_s, after.starts, after.boot_id)
        # the last fully written record, or (torn write) the one before it
        if saved:
            assert got == saved[-1], (k, got, saved[-1])
        else:
            assert got == (0, 0, 0)
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
    truth: list[tuple[int, int, int]] = []
    scenario(fs, truth)
    # 20 minutes with save_s = 60: at most one save a minute (+1 at boot, +1 for rounding)
    assert fs.writes <= 20 + 2
