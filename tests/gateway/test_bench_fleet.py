"""bench.fleet runs end to end on a tiny fleet: every phase reports, every frame reached the
centre exactly once (fleet server process, Mosquitto, PostgreSQL), the page answered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


def test_bench_fleet_small() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.fleet", "--sites", "3", "--nodes", "2", "--lanes", "2",
         "--poll-s", "0.5", "--steady-s", "3", "--load-x", "10", "--load-s", "3",
         "--outage-sites", "1", "--runs", "2", "--timeout", "60"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=True,
    )  # fmt: skip
    row = json.loads(out.stdout.strip().splitlines()[-1])
    assert row["complete"] is True and row["exactly_once_below_marks"] is True
    assert row["frames_at_centre"] > 240
    assert row["outage"]["backlog_frames"] >= 240 and row["outage"]["catch_up_s"] is not None
    assert row["load"]["offered_frames_per_s"] == 2 and row["page"]["assets"] == 6
    assert row["page"]["overview_page"]["p95_ms"] > 0


def test_bench_fleet_apply_small() -> None:
    """bench.fleet_apply stores every frame once, one message per transaction or several."""
    from bench.fleet_apply import measure

    for together in (1, 4):
        row = measure(together, frames=3, origins=8, rounds=2)
        assert row["stored"] == row["marks"] == 3 * 8 * 3  # the first sightings' round too
        assert row["messages"] == 16 and row["cpu_ms_per_message"] > 0
