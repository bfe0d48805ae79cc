"""bench.fleet runs end to end on a tiny fleet and says every frame reached the centre."""

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
        [sys.executable, "-m", "bench.fleet", "--sites", "3", "--nodes", "2", "--reports", "20",
         "--batch", "7", "--timeout", "60"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    row = json.loads(out.stdout.strip().splitlines()[-1])
    assert row["complete"] is True and row["frames_at_centre"] == 120
    assert row["frames_per_s"] > 0 and row["lag_s_per_outage_hour_100_sites"] > 0
