"""The board code type-checks against each board's MicroPython stubs (in a subprocess, one
stub directory per board, because the two stub packages install the same module names)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.firmware.typecheck_support import REPO, board_files, mypy_cmd, stub_dir


def run_mypy(board: str, tmp: Path, files: list[str]) -> subprocess.CompletedProcess[str]:
    stubs = stub_dir(board, tmp)
    env = dict(os.environ, MYPYPATH=str(stubs) + os.pathsep + str(REPO))
    return subprocess.run(
        [*mypy_cmd(stubs), *files], cwd=REPO, env=env, capture_output=True, text=True, timeout=240
    )


@pytest.mark.parametrize("board", ["esp32", "rp2"])
def test_firmware_typechecks_against_board_stubs(board: str, tmp_path: Path) -> None:
    r = run_mypy(board, tmp_path, board_files())
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("board", ["esp32", "rp2"])
def test_the_check_catches_a_wrong_board_api_call(board: str, tmp_path: Path) -> None:
    bad = REPO / "firmware" / "_typecheck_probe.py"
    bad.write_text("import machine\n\nmachine.Pin(2).no_such_method()\nmachine.WDT(timeout='x')\n")
    try:
        r = run_mypy(board, tmp_path, ["firmware/_typecheck_probe.py"])
    finally:
        bad.unlink()
    assert r.returncode != 0
    assert "no_such_method" in r.stdout
