"""bench.fleet_commands runs end to end on a tiny fleet: every command answered, applied once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


def test_bench_fleet_commands_small() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.fleet_commands", "--sites", "2", "--commands", "3",
         "--timeout", "60"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    row = json.loads(out.stdout.strip().splitlines()[-1])
    assert row["complete"] is True and row["applied_once"] is True
    assert row["done"] == row["commands"] == 6 and row["commands_per_s"] > 0
