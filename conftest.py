"""Repository-wide pytest hooks.

`make test` (and so CI) sets KIZASHI_NO_SKIP=1: there a skipped test is a failure, so a missing
browser, data set or service can never pass as a green run. Run pytest without it to allow skips
on a machine that lacks them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    outcome = yield
    report = outcome.get_result()
    if (
        os.environ.get("KIZASHI_NO_SKIP") == "1"
        and report.skipped
        and not hasattr(report, "wasxfail")
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in a run that allows no skips (KIZASHI_NO_SKIP=1): {reason}"
