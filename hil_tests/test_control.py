"""Watchdog recovery, config by command, and malformed commands."""

from __future__ import annotations

import itertools
import time

import pytest

from hil_tests.stimulus import RUNNING
from protocol import frames, msgpack_lite

BASE = {"window": 256, "window_s": 2, "report_s": 10, "alarm_report_s": 2}


def intervals(reps: list[dict]) -> list[int]:
    return [b["time"] - a["time"] for a, b in itertools.pairwise(reps)]


@pytest.mark.needs_hang
def test_watchdog_recovery(board_factory, record):
    """Watchdog recovery from an injected hang; reset cause 'watchdog' in the next birth."""
    wdt_ms = 8000  # the virtual board's --wdt-ms; a real board's own wdt_ms (firmware/boards.py)
    board = board_factory(config=BASE, stimulus=RUNNING, speed=10.0, wdt_ms=wdt_ms)
    boot0 = board.birth["boot"]
    # Healthy firmware feeds the watchdog: no reset over 60 s of board time.
    m = board.bench.mark()
    time.sleep(board.sim(60))
    spurious = board.bench.since(m, "birth")
    record.equal("spurious resets in 60 s (healthy loop)", len(spurious), 0)
    last = board.bench.since(m, "report")[-1]
    m = board.bench.mark()
    t0 = time.monotonic()
    board.inject_hang()
    birth = board.wait_birth(m, board.timeout(wdt_ms / 1000 * 3))
    took = (time.monotonic() - t0) * board.speed
    info = birth["info"]
    record.equal("reset cause in next birth", info["reset"], "watchdog")
    record.equal("boot id", birth["boot"], boot0 + 1)
    record.within("hang -> birth (board s)", took, wdt_ms / 1000 + 1, 0.0, 2.0)
    record.check(
        "runtime lost over the watchdog reset (s)",
        last["runtime_s"] - info["runtime_s"],
        last["runtime_s"] - info["runtime_s"] <= 60 + BASE["window_s"],
        "<= save_s + window = 62",
    )
    after = board.bench.wait_reports(board.bench.mark(), 2, board.timeout(30))
    record.check("reports resume after recovery", len(after), len(after) == 2, "2 reports")
    record.assert_all()


def test_config_change_survives_reset(board_factory, record):
    """Config change by command (report_s) takes effect and survives reset."""
    board = board_factory(config=BASE, stimulus=RUNNING, speed=15.0)
    hash0 = board.birth["info"]["cfg_hash"]
    before = board.bench.wait_reports(board.bench.mark(), 3, board.timeout(40))
    record.check(
        "report interval before (s)",
        intervals(before),
        all(9 <= i <= 11 for i in intervals(before)),
        "10 ± 1",
    )
    ans = board.command("config", {"report_s": 4})
    record.equal("config answer", ans["code"], "cmd_ok")
    after = board.bench.wait_reports(board.bench.mark(), 5, board.timeout(40))[1:]
    record.check(
        "report interval after (s)",
        intervals(after),
        all(3 <= i <= 5 for i in intervals(after)),
        "4 ± 1",
    )
    birth = board.reset()
    info = birth["info"]
    record.equal("report_s in birth after reset", info["report_s"], 4)
    record.check("cfg_hash changed", info["cfg_hash"], info["cfg_hash"] != hash0, f"!= {hash0}")
    reps = board.bench.wait_reports(board.bench.mark(), 4, board.timeout(30))
    record.check(
        "report interval after reset (s)",
        intervals(reps),
        all(3 <= i <= 5 for i in intervals(reps)),
        "4 ± 1",
    )
    record.equal("default_config flag after reset", sum(r["flags"] & 32 for r in reps), 0)
    record.assert_all()


def _raw_command(node: str, cid: int, name: str, args: dict, boot: int = 0) -> bytes:
    """A command frame that bypasses encode_command's validation (the bench must be able to
    send what a buggy or hostile gateway would)."""
    return msgpack_lite.pack([0x10 | frames.COMMAND, node, boot, cid, 0, name, args])


def _answer(bench, m: int, cid: int, timeout: float, what: str) -> dict:
    """The cmd_ok/cmd_refused answering `cid` (or, for a command the node could not even
    parse, the next such event without a command id)."""
    return bench.wait_frame(
        m,
        lambda f: (
            f["kind"] == "event"
            and f["code"] in ("cmd_ok", "cmd_refused")
            and f["detail"].get("cmd", cid) == cid
        ),
        timeout,
        f"answer to {what}",
    )


def test_malformed_command_refused(board_factory, record):
    """A malformed command is refused (event 'cmd_refused') and changes nothing."""
    board = board_factory(config=BASE, stimulus=RUNNING, speed=15.0)
    bench = board.bench
    info0 = board.birth["info"]
    boot0 = board.birth["boot"]
    cases: list[tuple[str, str, dict, dict]] = [
        ("unknown key", "config", {"report_sec": 5}, {}),
        ("out of range", "config", {"report_s": 0}, {}),
        ("wrong type", "config", {"report_s": "5"}, {}),
        ("bool for int", "config", {"report_s": True}, {}),
        ("good + bad key (all or nothing)", "config", {"report_s": 5, "bogus": 1}, {}),
        ("hysteresis broken", "config", {"vel_clear_mm_s": 9.0}, {}),
        ("window not a power of two", "config", {"window": 300}, {}),
        ("empty config", "config", {}, {}),
        ("bench bad args", "bench", {"seconds": -1}, {}),
        ("reboot with args", "reboot", {"now": 1}, {}),
        ("time: bad epoch", "time", {"t": 5}, {}),
        ("wrong boot", "config", {"report_s": 5}, {"boot": boot0 + 7}),
    ]
    refused = 0
    for label, name, args, kw in cases:
        m = bench.mark()
        bench.cmd_id += 1
        cid = bench.cmd_id
        bench.send_payload(_raw_command(board.node_id, cid, name, args, kw.get("boot", 0)))
        ans = _answer(bench, m, cid, board.timeout(10), label)
        ok = ans["code"] == "cmd_refused"
        refused += ok
        record.check(
            f"{label}: answer", f"{ans['code']} ({ans['detail'].get('why')})", ok, "cmd_refused"
        )
    # Protocol-level garbage: no command id to echo; the node still answers cmd_refused.
    raw = [
        ("wrong node id", _raw_command("other", 1, "config", {"report_s": 5})),
        ("unknown command", _raw_command(board.node_id, 2, "selfdestruct", {})),
        ("not msgpack", b"\xc1\xc1\xc1\xc1"),
        ("an event, not a command", frames.encode_event(board.node_id, 1, 1, 0, "x", {})),
    ]
    for label, payload in raw:
        m = bench.mark()
        bench.send_payload(payload)
        ev = _answer(bench, m, -1, board.timeout(10), label)
        ok = ev["code"] == "cmd_refused"
        refused += ok
        record.check(
            f"{label}: answer", f"{ev['code']} ({ev['detail'].get('why')})", ok, "cmd_refused"
        )
    # Nothing changed: same config (hash, interval), no reboot happened.
    m = bench.mark()
    reps = bench.wait_reports(m, 3, board.timeout(40))
    record.check(
        "report interval after (s)",
        intervals(reps),
        all(9 <= i <= 11 for i in intervals(reps)),
        "10 ± 1 (unchanged)",
    )
    record.equal("births since the first (no reboot)", len(bench.since(0, "birth")), 1)
    birth = board.reset()
    record.equal("cfg_hash after reset", birth["info"]["cfg_hash"], info0["cfg_hash"])
    record.equal("report_s after reset", birth["info"]["report_s"], info0["report_s"])
    record.equal("refused", refused, len(cases) + len(raw))
    record.assert_all()
