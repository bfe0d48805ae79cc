"""The fault campaign's short form (`python -m bench.faults --quick`), one test per check.

The full campaign is `make faults` (docs/RELIABILITY.md). Each check states its pass line in
bench/faults; a failure prints the figures. Checks that fail because of a known bug in the
code under test are xfail(strict=True) with the bug reference (docs/RELIABILITY.md,
"Findings"), so they turn into a failure the day the bug is fixed and the mark is stale.
"""

from __future__ import annotations

import json
import logging

import pytest

from bench.faults.__main__ import CHECKS, run_check

# Checks that fail because of a known, not yet fixed bug in the code under test:
# key -> reference. Empty now: findings 1-2 of docs/RELIABILITY.md are fixed.
KNOWN_BUGS: dict[str, str] = {}
NETWORK = {"broker_kill", "gateway_kill", "flood", "mqtt_security"}


def _params() -> list[object]:
    out: list[object] = []
    for key, _mod, _fn in CHECKS:
        marks = [pytest.mark.slow]
        if key in NETWORK:
            marks.append(pytest.mark.mosquitto)
        if key in KNOWN_BUGS:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[key]))
        out.append(pytest.param(key, marks=marks, id=key))
    return out


@pytest.mark.timeout(240)
@pytest.mark.parametrize("key", _params())
def test_fault_check(key: str) -> None:
    logging.disable(logging.CRITICAL)
    try:
        r = run_check(key, quick=True)
    finally:
        logging.disable(logging.NOTSET)
    assert r.passed, (
        f"{r.title}\npass line: {r.pass_line}\n"
        + json.dumps(r.figures, indent=1, default=str)[:4000]
        + "\n"
        + "\n".join(r.notes)[:2000]
    )
