"""Runtime hours and start count: a run/stop schedule, and persistence across reset and
power cut (at most one save interval lost, never a jump forward)."""

from __future__ import annotations

import itertools
import time

import pytest

from hil_tests.stimulus import RUNNING, expected_schedule, schedule

# Short windows (256 samples) keep the virtual board cheap at high speed; runtime does not
# need spectral resolution.
WINDOW_S = 5
BASE = {"window": 256, "window_s": WINDOW_S, "report_s": 10, "alarm_report_s": 10}


def test_run_stop_schedule(board_factory, record, require):
    """Run/stop schedule: runtime accrues only while running; starts counted."""
    on_s, off_s, cycles = 120, 120, 3
    speed = 60.0
    board = board_factory(config=BASE, speed=speed)
    require(lambda: board.set_stimulus(schedule(on_s, off_s)))
    if not hasattr(board, "machine_time"):
        pytest.skip("real board: machine time of the bench-mode schedule is not observable")
    # Sample in the middle of the off periods, when the state is stable.
    period = on_s + off_s
    samples = []
    t_boot = board.machine_time()
    for k in range(cycles + 1):
        target = k * period + off_s / 2
        if target < t_boot + 2 * WINDOW_S:
            continue
        wait = board.sim(target - board.machine_time())
        if wait > 0:
            time.sleep(wait)
        m = board.bench.mark()
        rep = board.bench.wait_reports(m, 1, board.timeout(20))[0]
        samples.append((board.machine_time(), rep))
    assert len(samples) >= cycles, "schedule too short for the board's boot time"
    t_last, last = samples[-1]
    exp_run, exp_starts = expected_schedule(on_s, off_s, t_boot, t_last)
    n_on = exp_starts
    record.equal("starts", last["starts"], exp_starts)
    # Each on-period is measured to within one window at each edge (detection hysteresis
    # shifts both edges the same way) plus 2 s of scheduling jitter.
    tol = n_on * (WINDOW_S + 2)
    record.within("runtime_s after schedule", last["runtime_s"], exp_run, 0.0, tol)
    # Accrues only while running: consecutive reports with 'running' clear keep runtime.
    reps = board.bench.since(0, "report")
    stopped_pairs = [
        (a, b)
        for a, b in itertools.pairwise(reps)
        if not a["flags"] & 1 and not b["flags"] & 1 and b["seq"] == a["seq"] + 1
    ]
    grew = [
        b["runtime_s"] - a["runtime_s"]
        for a, b in stopped_pairs
        if b["runtime_s"] != a["runtime_s"]
    ]
    record.at_least("report pairs while stopped", len(stopped_pairs), 4)
    record.equal("runtime growth while stopped (s)", sum(grew), 0)
    running_pairs = [
        (a, b)
        for a, b in itertools.pairwise(reps)
        if a["flags"] & 1 and b["flags"] & 1 and b["seq"] == a["seq"] + 1
    ]
    rates = [
        (b["runtime_s"] - a["runtime_s"]) / max(1, b["time"] - a["time"])
        for a, b in running_pairs
        if b["time"] > a["time"]
    ]
    if rates:
        mean = sum(rates) / len(rates)
        record.within("runtime rate while running (s/s)", mean, 1.0, 0.1)
    record.note(
        f"Schedule {on_s} s on / {off_s} s off (machine time), {cycles} cycles, "
        f"window {WINDOW_S} s, speed x{speed:g}; runtime tolerance = cycles x (window + 2 s)."
    )
    record.assert_all()


def _runtime_now(board, n: int = 1) -> dict:
    m = board.bench.mark()
    return board.bench.wait_reports(m, n, board.timeout(30))[-1]


def test_runtime_survives_reset(board_factory, record):
    """Runtime and starts survive a commanded reset."""
    speed = 60.0
    board = board_factory(config=BASE, stimulus=RUNNING, speed=speed)
    # Run past two save intervals (save_s = 60 s).
    m = board.bench.mark()
    board.bench.wait(
        lambda rx: any(r.frame["kind"] == "report" and r.frame["runtime_s"] >= 150 for r in rx[m:]),
        board.timeout(240),
        "runtime >= 150 s",
    )
    before = _runtime_now(board)
    birth = board.reset()
    info = birth["info"]
    save_s = 60
    # The firmware saves before a commanded reboot: nothing but the reboot delay is lost.
    loss = before["runtime_s"] - info["runtime_s"]
    record.check(
        "runtime lost over reset (s)",
        loss,
        -(10 + 2 * WINDOW_S) <= loss <= 0,
        f"in [-{10 + 2 * WINDOW_S}, 0] (saved before reboot; never backwards)",
    )
    record.equal("starts in birth after reset", info["starts"], before["starts"])
    record.equal("boot id after reset", birth["boot"], before["boot"] + 1)
    record.note(f"reset cause reported: {info['reset']!r}; save_s = {save_s}")
    # After the reset the machine is still running: no new start should be counted.
    after = board.bench.wait_reports(board.bench.mark(), 3, board.timeout(60))[-1]
    record.equal("starts after reset (machine never stopped)", after["starts"], before["starts"])
    record.at_least(
        "runtime keeps accruing after reset (s)", after["runtime_s"], info["runtime_s"] + 1
    )
    record.assert_all()


@pytest.mark.needs_power_cut
def test_runtime_survives_power_cut(board_factory, record):
    """Runtime survives a power cut within one save interval."""
    speed = 60.0
    save_s = 60
    board = board_factory(config=BASE, stimulus=RUNNING, speed=speed)
    results = []
    for cut in range(3):
        # Cut at a different point of the save cycle each time.
        m = board.bench.mark()
        board.bench.wait(
            lambda rx, m=m: any(r.frame["kind"] == "report" for r in rx[m:]),
            board.timeout(60),
            "a report",
        )
        last = _runtime_now(board, 3 + 2 * cut)
        t_report = time.monotonic()
        time.sleep(board.sim(3 + 7 * cut))
        since = (time.monotonic() - t_report) * board.speed
        birth = board.power_cut()
        info = birth["info"]
        lost = last["runtime_s"] - info["runtime_s"]
        ahead = info["runtime_s"] - last["runtime_s"]
        results.append((last["runtime_s"], info["runtime_s"]))
        record.check(
            f"cut {cut + 1}: runtime lost vs last report (s)",
            lost,
            lost <= save_s + WINDOW_S,
            f"<= save_s + window = {save_s + WINDOW_S}",
        )
        record.check(
            f"cut {cut + 1}: runtime ahead of last report (s)",
            ahead,
            ahead <= since + WINDOW_S,
            f"<= time since report + window = {since + WINDOW_S:.0f} (no jump forward)",
        )
        record.equal(f"cut {cut + 1}: reset cause", info["reset"], "power_on")
        record.check(
            f"cut {cut + 1}: starts kept",
            info["starts"],
            last["starts"] - 1 <= info["starts"] <= last["starts"],
            f"in [{last['starts'] - 1}, {last['starts']}] (one unsaved start at most)",
        )
    record.note(f"(last report runtime, birth runtime) per cut: {results}")
    record.assert_all()
