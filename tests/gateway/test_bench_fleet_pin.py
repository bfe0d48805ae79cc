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
