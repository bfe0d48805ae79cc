"""bench.fleet --pin's helper: every thread of a process it did not start itself lands on the
CPUs asked for, and what it reads back is what the kernel holds."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.fleet import affinity, pin, proc_cpu_s

# a child with three threads besides its main one, all alive until it is killed
CHILD = (
    "import threading, time\n"
    "for _ in range(3): threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
    "print('ready', flush=True); time.sleep(60)\n"
)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to move a process")
def test_pin_moves_every_thread_of_a_child() -> None:
    mine = sorted(os.sched_getaffinity(0))
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        tids = [int(t.name) for t in Path(f"/proc/{child.pid}/task").iterdir()]
        assert len(tids) == 4
        assert affinity(child.pid) == mine  # inherited from this process before pinning
        got = pin(child.pid, {mine[-1]})
        assert got == [mine[-1]]
        # each thread, not only the main one (sched_setaffinity(pid) moves one thread)
        assert all(os.sched_getaffinity(t) == {mine[-1]} for t in tids)
        assert pin(child.pid, {mine[0]}) == [mine[0]]
        assert os.sched_getaffinity(0) == set(mine)  # this process untouched
    finally:
        child.kill()
        child.wait()


def test_proc_cpu_s_counts_a_busy_child() -> None:
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        assert proc_cpu_s(child.pid) > 0.1
    finally:
        child.kill()
        child.wait()
    assert proc_cpu_s(child.pid) == 0.0  # gone: nothing to count


def _saw(
    rate_gap: float, offered: float = 3500, poll_s: float = 5.0
) -> tuple[list[float], list[int]]:
    """Backlog samples every 2.5 s over 45 s: the forwarders' saw tooth (a poll's traffic)
    on top of a trend of `rate_gap` frames/s (what the centre applies less than offered)."""
    ts = [2.5 * k for k in range(19)]
    return ts, [
        round(8000 + rate_gap * t + (k % 2) * offered * poll_s / 4) for k, t in enumerate(ts)
    ]


def test_kept_up_needs_a_backlog_that_does_not_grow() -> None:
    from bench.fleet import backlog_trend, kept_up

    for gap, want in ((0.0, True), (30.0, True), (-200.0, True), (350.0, False), (700.0, False)):
        ts, backlog = _saw(gap)
        growth, stderr = backlog_trend(ts, backlog)
        assert abs(growth - gap) < 150, (gap, growth)
        # the end alone is bounded (under 35,000) in every case: the trend decides
        assert kept_up(backlog, growth, stderr, 3500, 5.0) is want, (gap, growth, stderr)
    ts, backlog = _saw(0.0)
    backlog[-1] = 40_000  # flat but far behind at the end
    assert not kept_up(backlog, *backlog_trend(ts, backlog), 3500, 5.0)
