"""`python -m bench.faults [--quick | --full] [--soak-hours N] [--only KEY,...] [--out FILE]`

--full (default) runs every check at campaign size and writes docs/RELIABILITY.md;
--quick is the short form (tests/faults, make test) and writes nothing unless --out is given;
--soak-hours N loops the mixed faults for N hours and writes a summary (artifacts/soak.json).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench.faults.common import ROOT, Result

CHECKS: list[tuple[str, str, str]] = [
    ("broker_kill", "bench.faults.mqtt_faults", "broker_kill"),
    ("gateway_kill", "bench.faults.mqtt_faults", "gateway_kill"),
    ("power_cut", "bench.faults.node_faults", "power_cut"),
    ("overflow", "bench.faults.node_faults", "overflow"),
    ("wrap_reorder", "bench.faults.node_faults", "wrap_reorder"),
    ("ota_power_cut", "bench.faults.ota_faults", "ota_power_cut"),
    ("fuzz", "bench.faults.fuzz", "fuzz"),
    ("serial_ber", "bench.faults.fuzz", "serial_ber"),
    ("flood", "bench.faults.mqtt_faults", "flood"),
    ("mqtt_security", "bench.faults.security", "mqtt_security"),
    ("web_security", "bench.faults.security", "web_security"),
    ("ingest_attacks", "bench.faults.ingest_attacks", "ingest_attacks"),
]


def check_fn(key: str) -> Callable[[bool], Result]:
    import importlib

    for k, mod, fn in CHECKS:
        if k == key:
            f: Callable[[bool], Result] = getattr(importlib.import_module(mod), fn)
            return f
    raise KeyError(key)


def run_check(key: str, quick: bool) -> Result:
    t0 = time.monotonic()
    try:
        r = check_fn(key)(quick)
    except Exception as e:
        r = Result(key, key, False, "the check ran to completion", {}, [traceback.format_exc()])
        print(f"[faults] {key}: error {e!r}", file=sys.stderr)
    r.seconds = time.monotonic() - t0
    print(
        f"[faults] {key}: {'PASS' if r.passed else 'FAIL'} in {r.seconds:.1f} s "
        + json.dumps(r.figures, default=str)[:400],
        file=sys.stderr,
        flush=True,
    )
    return r


def soak(hours: float, out: Path) -> int:
    import random

    mix = ["gateway_kill", "broker_kill", "power_cut", "overflow", "wrap_reorder", "fuzz",
           "serial_ber", "flood", "mqtt_security", "web_security"]  # fmt: skip
    end = time.monotonic() + hours * 3600
    rnd = random.Random(int(time.time()))
    rounds: list[dict[str, object]] = []
    summary: dict[str, dict[str, float]] = {}
    t0 = time.monotonic()
    while True:
        keys = mix[:]
        rnd.shuffle(keys)
        for key in keys:
            if time.monotonic() >= end and rounds:
                break
            r = run_check(key, True)
            s = summary.setdefault(key, {"runs": 0, "passed": 0, "seconds": 0.0})
            s["runs"] += 1
            s["passed"] += int(r.passed)
            s["seconds"] += r.seconds
            rounds.append({"key": key, "passed": r.passed, "figures": r.figures,
                           "notes": r.notes[:3],
                           "at_s": round(time.monotonic() - t0, 1)})  # fmt: skip
        if time.monotonic() >= end:
            break
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"hours": hours, "elapsed_s": round(time.monotonic() - t0, 1), "summary": summary,
           "failures": [r for r in rounds if not r["passed"]]}  # fmt: skip
    out.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    print(json.dumps({"soak": summary, "elapsed_s": doc["elapsed_s"]}, indent=1))
    print(f"[faults] soak summary: {out}", file=sys.stderr)
    return 0 if all(s["runs"] == s["passed"] for s in summary.values()) else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.faults")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--full", action="store_true", help="campaign size, writes the report")
    g.add_argument("--quick", action="store_true", help="the short form (< 2 min)")
    ap.add_argument("--soak-hours", type=float, default=None, help="loop the mixed faults")
    ap.add_argument("--only", default="", help="comma-separated check keys")
    ap.add_argument("--out", default=None, help="report path (default docs/RELIABILITY.md)")
    ap.add_argument("--json", default=None, help="also write the results as JSON")
    args = ap.parse_args(argv)
    logging.disable(logging.CRITICAL)
    if args.soak_hours is not None:
        return soak(args.soak_hours, Path(args.out or ROOT / "artifacts" / "soak.json"))
    quick = bool(args.quick)
    keys = [k for k, _, _ in CHECKS]
    if args.only:
        keys = [k for k in args.only.split(",") if k]
    t0 = time.monotonic()
    results = [run_check(k, quick) for k in keys]
    total = time.monotonic() - t0
    out = args.out or (None if quick else str(ROOT / "docs" / "RELIABILITY.md"))
    if out:
        from bench.faults.report import write_report

        write_report(Path(out), results, total, "quick" if quick else "full")
        print(f"[faults] report: {out}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(
            json.dumps([r.as_dict() for r in results], indent=1, default=str) + "\n"
        )
    passed = sum(r.passed for r in results)
    print(f"[faults] {passed}/{len(results)} checks passed in {total:.0f} s", file=sys.stderr)
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
