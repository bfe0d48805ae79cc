"""Per-board stub directories for mypy (the two board stub packages share module names;
rp2_stubs.zip holds the rp2 files the esp32 package overwrites, unchanged from the wheel)."""

from __future__ import annotations

import csv
import shutil
import sys
import sysconfig
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SITE = Path(sysconfig.get_paths()["purelib"])
DIST = {
    "esp32": "micropython_esp32_stubs-1.29.0.post1",
    "rp2": "micropython_rp2_stubs-1.29.0.post1",
}
# Board modules: everything under firmware/ that runs on the board.
HOST_ONLY = ("firmware/host", "firmware/deploy.py")


def board_files() -> list[str]:
    out = []
    for p in sorted((REPO / "firmware").rglob("*.py")):
        rel = p.relative_to(REPO).as_posix()
        if not rel.startswith(HOST_ONLY):
            out.append(rel)
    return out


def stub_dir(board: str, dest: Path) -> Path:
    """dest/<board>: that board's .pyi files (rp2: with the vendored overwritten ones)."""
    out = dest / board
    out.mkdir(parents=True, exist_ok=True)
    record = SITE / (DIST[board] + ".dist-info") / "RECORD"
    with record.open() as f:
        for row in csv.reader(f):
            rel = row[0]
            if rel.endswith(".pyi"):
                target = out / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(SITE / rel, target)
    if board == "rp2":
        with zipfile.ZipFile(HERE / "rp2_stubs.zip") as z:
            for name in z.namelist():
                if name.endswith(".pyi"):
                    (out / name).write_bytes(z.read(name))
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
