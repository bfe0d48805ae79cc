"""bench.pronostia --loo-only must never read or score the challenge test bearings."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from bench import pronostia as bench
from gateway.forecast.pronostia import shared_data_dir

DATA = shared_data_dir("pronostia")
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="PRONOSTIA data not present")


@needs_data
def test_loo_only_never_touches_the_test_bearings(tmp_path: Path) -> None:
    # A data dir with the learning runs only: the test section would fail to find test/.
    (tmp_path / "learning").symlink_to(DATA / "learning", target_is_directory=True)
    out = io.StringIO()
    with redirect_stdout(out):
        assert bench.main(["--data-dir", str(tmp_path), "--loo-only", "--quiet"]) == 0
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert summary["loo_cases"] == 24
    assert not any(k.startswith("test") for k in summary)


@needs_data
def test_dense_loo_has_18_truncations_per_run(tmp_path: Path) -> None:
    (tmp_path / "learning").symlink_to(DATA / "learning", target_is_directory=True)
    out = io.StringIO()
    with redirect_stdout(out):
        assert bench.main(["--data-dir", str(tmp_path), "--loo-only", "--dense", "--quiet"]) == 0
    assert json.loads(out.getvalue().strip().splitlines()[-1])["loo_cases"] == 6 * 18
