"""One decoder under atheris (libFuzzer, in-process, coverage-guided), in its own process:

    python -m bench.faults.fuzz_atheris TARGET STATS.json -runs=N [libFuzzer flags]

Writes {"inputs", "reasons", "crashes"} to STATS.json every 2000 inputs and at the end."""

from __future__ import annotations

import json
import logging
import sys
import time

import atheris

logging.disable(logging.CRITICAL)
with atheris.instrument_imports(include=["protocol", "firmware", "gateway.decode"]):
    import protocol.cobs
    import protocol.frames
    import protocol.msgpack_lite
    import protocol.serial_framing  # noqa: F401
from bench.faults import targets  # noqa: E402


def main() -> None:
    name, stats_path = sys.argv[1], sys.argv[2]
    target = targets.TARGETS[name]()
    reasons: dict[str, int] = {}
    crashes: dict[str, dict[str, object]] = {}
    state = {"n": 0}
    t0 = time.monotonic()

    def dump() -> None:
        with open(stats_path, "w") as f:
            json.dump(
                {"inputs": state["n"], "reasons": reasons, "crashes": crashes,
                 "seconds": time.monotonic() - t0}, f)  # fmt: skip

    def one(data: bytes) -> None:
        state["n"] += 1
        try:
            r = target(data)
        except Exception as e:  # counted by signature; the run goes on to -runs
            sig = targets.classify_crash(e)
            c = crashes.setdefault(sig, {"count": 0, "first_input_hex": data.hex()[:400]})
            c["count"] = int(str(c["count"])) + 1
            r = "CRASH"
        reasons[r] = reasons.get(r, 0) + 1
        if state["n"] % 2000 == 0:
            dump()

    import atexit

    atexit.register(dump)
    argv = [sys.argv[0], *sys.argv[3:]]
    atheris.Setup(argv, one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
