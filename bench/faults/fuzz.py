"""Fuzzing every decoder that takes outside bytes, and a long serial stream with 1% bit errors."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgpack

from bench.faults import targets
from bench.faults.common import ROOT, Result, workdir


def have_atheris() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def _mutate(rnd: random.Random, seed: bytes) -> bytes:
    b = bytearray(seed)
    for _ in range(rnd.randint(1, 6)):
        op = rnd.randrange(6)
        if op == 0 and b:
            b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
        elif op == 1 and b:
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        elif op == 2:
            b[rnd.randrange(len(b) + 1) : 0] = os.urandom(rnd.randint(1, 8))
        elif op == 3 and b:
            i = rnd.randrange(len(b))
            del b[i : i + rnd.randint(1, 8)]
        elif op == 4:
            b = bytearray(os.urandom(rnd.randint(0, 64)))
        elif op == 5 and b:
            i = rnd.randrange(len(b))
            b[i:i] = b[i : i + rnd.randint(1, 16)] * rnd.randint(1, 4)
    return bytes(b)


def random_loop(name: str, n: int, seed: int = 1) -> dict[str, Any]:
    """In-process random + mutation fuzzing (the --quick form, and the fallback to atheris)."""
    rnd = random.Random(seed)
    t = targets.TARGETS[name]()
    pool = targets.seeds(name)
    reasons: dict[str, int] = {}
    crashes: dict[str, Any] = {}
    t0 = time.monotonic()
    slowest = 0.0
    for i in range(n):
        data = _mutate(rnd, pool[i % len(pool)]) if i % 4 else os.urandom(rnd.randint(0, 96))
        s = time.perf_counter()
        try:
            r = t(data)
        except Exception as e:
            sig = targets.classify_crash(e)
            c = crashes.setdefault(sig, {"count": 0, "first_input_hex": data.hex()[:400]})
            c["count"] += 1
            r = "CRASH"
        slowest = max(slowest, time.perf_counter() - s)
        reasons[r] = reasons.get(r, 0) + 1
    return {
        "engine": "random+mutation loop",
        "inputs": n,
        "reasons": reasons,
        "crashes": crashes,
        "hangs": 0,
        "slowest_input_ms": round(slowest * 1000, 2),
        "seconds": round(time.monotonic() - t0, 1),
    }


def atheris_run(names: list[str], runs: int, wd: Path, parallel: int = 2) -> dict[str, Any]:
    """Each decoder under atheris in its own process, `parallel` at a time."""
    out: dict[str, Any] = {}
    pending = list(names)
    live: list[tuple[str, subprocess.Popen[bytes], Path, float, Any]] = []
    while pending or live:
        while pending and len(live) < parallel:
            name = pending.pop(0)
            corp = wd / ("corpus-" + name)
            corp.mkdir(parents=True, exist_ok=True)
            for i, s in enumerate(targets.seeds(name)):
                (corp / f"seed{i}").write_bytes(s)
            stats = wd / (name + ".json")
            log = (wd / (name + ".log")).open("wb")
            cmd = [
                sys.executable, "-m", "bench.faults.fuzz_atheris", name, str(stats),
                f"-runs={runs}", "-timeout=10", "-max_len=1024", "-rss_limit_mb=2048",
                f"-artifact_prefix={wd}/", "-print_final_stats=1", str(corp),
            ]  # fmt: skip
            p = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            live.append((name, p, stats, time.monotonic(), log))
        time.sleep(0.5)
        for item in list(live):
            name, p, stats, t0, log = item
            if p.poll() is None:
                continue
            live.remove(item)
            log.close()
            text = (wd / (name + ".log")).read_text(errors="replace")
            st = json.loads(stats.read_text()) if stats.exists() else {}
            hang = "timeout" in text.lower() and "ERROR: libFuzzer: timeout" in text
            out[name] = {
                "engine": "atheris (libFuzzer, coverage-guided, in-process)",
                "inputs": st.get("inputs", 0),
                "reasons": st.get("reasons", {}),
                "crashes": st.get("crashes", {}),
                "hangs": 1 if hang else 0,
                "exit_code": p.returncode,
                "seconds": round(time.monotonic() - t0, 1),
            }
    return out


def hypothesis_run(examples: int) -> dict[str, Any]:
    """Structured inputs (valid frames with field-level changes) through every decoder."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from protocol import frames

    counts: dict[str, int] = {}
    crashes: dict[str, Any] = {}
    objs = st.recursive(
        st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats()
        | st.text(max_size=40) | st.binary(max_size=70),
        lambda c: st.lists(c, max_size=10) | st.dictionaries(st.text(max_size=10), c, max_size=6),
        max_leaves=20,
    )  # fmt: skip
    import msgpack

    t_all = {name: cls() for name, cls in targets.TARGETS.items()}

    def run(name: str, data: bytes) -> None:
        try:
            t_all[name](data)
            counts[name] = counts.get(name, 0) + 1
        except Exception as e:
            sig = targets.classify_crash(e)
            crashes.setdefault(name + ": " + sig, data.hex()[:400])

    sset = settings(
        max_examples=examples, deadline=None, database=None,
        suppress_health_check=list(HealthCheck), derandomize=True,
    )  # fmt: skip

    @sset
    @given(st.lists(objs, min_size=0, max_size=9))
    def frame_like(items: list[Any]) -> None:
        try:
            raw = msgpack.packb(items)
        except Exception:
            return
        for name in ("gateway.decode", "node.handle"):
            run(name, raw)
        run("firmware.config", json.dumps(items, default=str).encode())

    @sset
    @given(
        st.sampled_from(["config", "time", "resend", "bench", "reboot"]),
        st.dictionaries(
            st.sampled_from(
                [*sorted(__import__("firmware.config").config.SCHEMA), "t", "boot", "from", "to",
                 "seconds"]
            ),
            st.integers(-5, 2**33) | st.floats() | st.booleans(), max_size=5),
    )  # fmt: skip
    def commands(name: str, args: dict[str, Any]) -> None:
        try:
            raw = frames.encode_command(targets.NODE_ID, 0, 77, 1, name, args)
        except Exception:
            raw = msgpack.packb([0x15, targets.NODE_ID, 0, 77, 1, name, args])
        run("node.handle", raw)
        run("firmware.config", json.dumps(args).encode())

    @sset
    @given(st.binary(max_size=600))
    def raw_bytes(data: bytes) -> None:
        for name in targets.TARGETS:
            run(name, data)

    t0 = time.monotonic()
    for fn in (frame_like, commands, raw_bytes):
        fn()
    return {"examples_per_property": examples, "inputs": counts, "crashes": crashes,
            "seconds": round(time.monotonic() - t0, 1)}  # fmt: skip


def directed_cases() -> dict[str, str]:
    """Specific inputs the fuzz oracle cares about, run every time (cheap, deterministic)."""
    from protocol import frames

    out: dict[str, str] = {}
    cases = {
        "config.json vel_alarm_mm_s NaN": ("firmware.config", b'{"vel_alarm_mm_s": NaN}'),
        "config.json run_on_g NaN": ("firmware.config", b'{"run_on_g": NaN}'),
        'node.json "" (a JSON string)': ("firmware.config", b'""'),
        "node.json [] (a JSON list)": ("firmware.config", b"[]"),
        # Built with the reference packer: the protocol's own encoder refuses NaN since issue
        # 15, but the node must still refuse such bytes from anyone else.
        "config command vel_alarm_mm_s NaN": (
            "node.handle",
            msgpack.packb(
                [
                    frames.VERSION * 16 + frames.COMMAND,
                    targets.NODE_ID,
                    0,
                    99,
                    1,
                    "config",
                    {"vel_alarm_mm_s": float("nan")},
                ]
            ),
        ),
    }
    for label, (name, data) in cases.items():
        try:
            r = targets.TARGETS[name]()(data)
            out[label] = "ok: " + r
        except Exception as e:
            out[label] = "FAIL: " + targets.classify_crash(e)
    return out


def fuzz(quick: bool, atheris_runs: int = 1_000_000) -> Result:
    use_atheris = have_atheris() and not quick
    n_quick = 4000
    res = Result(
        "fuzz",
        "Fuzzing every decoder of outside bytes",
        False,
        "gateway/decode.py (msgpack frames), the serial Deframer, commands as the node decodes "
        "them (Node.handle), config.json/node.json as firmware/config.py reads them: "
        + (f"{atheris_runs:,} atheris inputs per decoder" if use_atheris
           else f"{(n_quick if quick else atheris_runs):,} random+mutation inputs per decoder")
        + " plus hypothesis properties and directed cases: 0 crashes, 0 hangs, 0 invariant "
        "violations (an accepted config must be within its schema), every rejection counted "
        "by reason",
    )  # fmt: skip
    per: dict[str, Any] = {}
    with workdir("fuzz") as wd:
        if use_atheris:
            # the slowest (node.handle) first, the other three beside it
            order = ["node.handle", "gateway.decode", "serial.Deframer", "firmware.config"]
            per = atheris_run(order, atheris_runs, wd)
        else:
            for name in targets.TARGETS:  # quick form, or the fallback without atheris
                per[name] = random_loop(name, n_quick if quick else atheris_runs)
    hyp = hypothesis_run(60 if quick else 1500)
    directed = directed_cases()
    crashes = {k: v["crashes"] for k, v in per.items() if v.get("crashes")}
    res.figures = {
        "engine": "atheris" if use_atheris else "random+mutation loop (quick form)",
        "per_decoder": {
            k: {
                "inputs": v["inputs"],
                "crash_inputs": sum(c["count"] for c in v.get("crashes", {}).values()),
                "hangs": v.get("hangs", 0),
                "seconds": v.get("seconds"),
                "reasons": dict(sorted(v["reasons"].items(), key=lambda kv: -kv[1])),
            }
            for k, v in per.items()
        },
        "crash_signatures": crashes,
        "hypothesis": hyp,
        "directed": directed,
    }
    enough = all(v["inputs"] >= (n_quick if quick else atheris_runs) for v in per.values())
    res.passed = (
        enough
        and not crashes
        and not hyp["crashes"]
        and all(v.get("hangs", 0) == 0 for v in per.values())
        and all(not d.startswith("FAIL") for d in directed.values())
    )
    return res


def serial_ber(quick: bool) -> Result:
    import numpy as np

    from gateway.decode import decode_frame
    from protocol import frames
    from protocol.serial_framing import Deframer, encode_frame

    n = 20_000 if quick else 400_000
    ber = 0.01
    res = Result(
        "serial_ber",
        "Serial line with 1% bit errors",
        False,
        f"{n:,} report frames (COBS + CRC-32) through a line flipping each bit with p = 1%, "
        "deframed by the gateway's Deframer: 0 corrupt frames accepted (every accepted payload "
        "is byte-identical to the frame sent)",
    )
    rnd = np.random.default_rng(2024)
    payloads = [
        frames.encode_report_raw(
            "ser01", 1, i, 1_700_000_000 + i, 1, 0, i, 1,
            [i % 65536, 2, 3, 4, 5, 6], 7, 8, 9,
        )
        for i in range(n)
    ]  # fmt: skip
    stream = b"".join(encode_frame(p) for p in payloads)
    bits = np.unpackbits(np.frombuffer(stream, dtype=np.uint8))
    flips = rnd.random(bits.size) < ber
    noisy = np.packbits(bits ^ flips.astype(np.uint8)).tobytes()
    d = Deframer()
    accepted: list[bytes] = []
    t0 = time.monotonic()
    step = 1 << 16
    for i in range(0, len(noisy), step):
        accepted.extend(d.feed(noisy[i : i + step]))
    secs = time.monotonic() - t0
    index = {p: i for i, p in enumerate(payloads)}
    corrupt = [a for a in accepted if a not in index]
    decodable = 0
    for a in accepted:
        try:
            decode_frame(a)
            decodable += 1
        except Exception:
            pass
    clean = Deframer()
    clean_ok = len(clean.feed(b"".join(encode_frame(p) for p in payloads[:200])))
    res.figures = {
        "frames_sent": n,
        "bytes": len(stream),
        "bit_errors": int(flips.sum()),
        "frames_accepted_intact": len(accepted) - len(corrupt),
        "corrupt_frames_accepted": len(corrupt),
        "expected_intact_share": round((1 - ber) ** (8 * len(encode_frame(payloads[0]))), 4),
        "rejected_by_reason": dict(d.rejected),
        "deframer_mb_per_s": round(len(noisy) / secs / 1e6, 2),
        "sanity_clean_frames_ok": clean_ok,
    }
    res.passed = not corrupt and clean_ok == 200 and decodable == len(accepted)
    return res
