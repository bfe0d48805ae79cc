"""Per-board stub directories for mypy.

The esp32 and rp2 stub packages share module names, so installed side by side in the venv one
overwrites the other. Each board's package is therefore also installed on its own, from PyPI,
into .venv/board-stubs/<board> (by `make setup`, or here on first use)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SITE = Path(sysconfig.get_paths()["purelib"])
PACKAGES = {
    "esp32": "micropython-esp32-stubs==1.29.0.post1",
    "rp2": "micropython-rp2-stubs==1.29.0.post1",
}
BOARD_STUBS = REPO / ".venv" / "board-stubs"
# Board modules: everything under firmware/ that runs on the board.
HOST_ONLY = ("firmware/host", "firmware/deploy.py")


def board_files() -> list[str]:
    out = []
    for p in sorted((REPO / "firmware").rglob("*.py")):
        rel = p.relative_to(REPO).as_posix()
        if not rel.startswith(HOST_ONLY):
            out.append(rel)
    return out


def installed_stubs(board: str) -> Path:
    """The board's stub package on its own (pip --target), installed on first use."""
    target = BOARD_STUBS / board
    if not any(target.glob("*.pyi")):
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
        subprocess.run([*cmd, "--target", str(target), PACKAGES[board]], check=True)
    return target


def stub_dir(board: str, dest: Path) -> Path:
    """dest/<board>: that board's .pyi files, plus the shared _mpy_shed."""
    out = dest / board
    src = installed_stubs(board)
    for pyi in src.rglob("*.pyi"):
        target = out / pyi.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pyi, target)
    shutil.copytree(SITE / "_mpy_shed", out / "_mpy_shed", dirs_exist_ok=True)
    return out


def write_config(board_stubs: Path) -> Path:
    """mypy_board.ini plus `ignore_errors` for every third-party stub module: mypy reports
    errors inside stubs found through MYPYPATH, and those are not ours to fix."""
    mods = sorted(
        p.relative_to(board_stubs)
        .with_suffix("")
        .as_posix()
        .replace("/", ".")
        .removesuffix(".__init__")
        for p in board_stubs.rglob("*.pyi")
    )
    text = (HERE / "mypy_board.ini").read_text()
    text += "\n[mypy-" + ",".join(mods) + "]\nignore_errors = True\n"
    cfg = board_stubs.parent / (board_stubs.name + ".ini")
    cfg.write_text(text)
    return cfg


def mypy_cmd(board_stubs: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mypy",
        "--custom-typeshed-dir",
        str(SITE),  # micropython-stdlib-stubs installs a typeshed-shaped stdlib/ there
        "--config-file",
        str(write_config(board_stubs)),
        "--no-error-summary",
        "--cache-dir",
        str(board_stubs.parent / (board_stubs.name + ".mypy_cache")),
    ]
