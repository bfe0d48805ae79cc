"""The viper kernels (board) and the plain kernels (everywhere) are the same arithmetic.

What is tested where (see docs/FIRMWARE.md): viper code cannot run here (CPython has no
viper, the WASI MicroPython VM has no native emitter). So (1) the two syntax trees must be
identical once viper casts and annotations are removed, (2) kernels_viper.py compiles to
native code for armv6m and xtensawin (test_compile.py), (3) the plain kernels run on full-scale
input under a tracer that checks that every integer local stays within MicroPython's
small-int range (|v| < 2**30), which is also inside viper's 32-bit int: no overflow either way.
"""

from __future__ import annotations

import ast
import sys
from array import array
from pathlib import Path

import pytest

from firmware import kernels

ROOT = Path(__file__).resolve().parents[2] / "firmware"
CASTS = {"ptr8", "ptr16", "ptr32", "int", "uint"}


class Strip(ast.NodeTransformer):
    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.decorator_list = []
        node.returns = None
        for a in node.args.args:
            a.annotation = None
        self.generic_visit(node)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in CASTS and len(node.args) == 1:
            return node.args[0]
        return node


def functions(path: Path) -> dict[str, str]:
    tree = Strip().visit(ast.parse(path.read_text()))
    return {n.name: ast.dump(n) for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_viper_and_plain_kernels_have_identical_arithmetic() -> None:
    plain = functions(ROOT / "kernels.py")
    viper = functions(ROOT / "kernels_viper.py")
    assert set(plain) == set(viper) == {"sum_min_max", "central_moments"}
    for name in plain:
        assert plain[name] == viper[name], name


def test_viper_file_really_uses_viper() -> None:
    src = (ROOT / "kernels_viper.py").read_text()
    assert src.count("\n@micropython.viper\ndef ") == 2


def traced(fn, *args):
    """Run fn with a tracer asserting every int local fits a MicroPython small int."""
    worst = [0]

    def tracer(frame, event, arg):
        if frame.f_code is fn.__code__:
            for v in frame.f_locals.values():
                if isinstance(v, int) and not isinstance(v, bool):
                    worst[0] = max(worst[0], abs(v))
                    assert -(2**30) <= v < 2**30, v
            return tracer
        return None

    sys.settrace(tracer)
    try:
        fn(*args)
    finally:
        sys.settrace(None)
    return worst[0]


def prepare(buf, n, out):
    """The Python-side setup of Features.moments (mean and shifts) for the traced kernel."""
    kernels.sum_min_max(buf, n, out)
    total, lo, hi = out[0], out[1], out[2]
    mean = (2 * total + n) // (2 * n)
    dmax = max(hi - mean, mean - lo)
    k = 0
    while (dmax >> k) >= 32767:
        k += 1
    dk = (dmax >> k) + 1
    s = 0
    while ((dk * dk) >> s) >= 32767:
        s += 1
    out[0], out[1], out[2] = mean, k, s


@pytest.mark.parametrize(
    "samples",
    [
        [32767, -32767] * 2048,  # full-scale square wave
        [-32768] * 4095 + [32767],  # one spike on a rail: |x - mean| ~ 65535
        [32767] * 4096,
        [-32768] * 4096,
        [(i * 7919) % 65536 - 32768 for i in range(4096)],
    ],
)
def test_no_intermediate_leaves_small_int_range_at_full_scale(samples: list[int]) -> None:
    n = len(samples)
    buf = array("h", samples)
    out = array("i", [0] * 8)
    traced(kernels.sum_min_max, buf, n, out)
    prepare(buf, n, out)
    traced(kernels.central_moments, buf, n, out)
    assert all(-(2**31) <= v < 2**31 for v in out)
