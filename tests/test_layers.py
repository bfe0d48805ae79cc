"""The arrows between the packages point down only (README, folder table):

    kizashi (the composition root) -> fleet_web -> gateway -> protocol

The gateway never imports the page, the firmware or the root; the page never imports the
firmware or the root (the firmware's host runner installs stub `machine`/`network` modules:
it must never load into a gateway or page process except through the root's demo). Checked on
the source with ast: `import x`, `from x import y` and `importlib.import_module("x")` anywhere
in a module, lazy imports inside functions included.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "protocol": {"gateway", "fleet_web", "firmware", "kizashi"},
    "gateway": {"fleet_web", "firmware", "kizashi"},
    "fleet_web": {"firmware", "kizashi"},
}


def imported_packages(source: str) -> set[str]:
    """Top-level package of every module the source imports, however it imports it."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            out.add(node.args[0].value.split(".")[0])
    return out


def violations(package: str) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_packages(path.read_text()) & FORBIDDEN[package]
        found += [f"{path.relative_to(ROOT)} imports {name}" for name in sorted(bad)]
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_down_only(package: str) -> None:
    assert violations(package) == []


def test_the_scan_sees_every_form_of_import() -> None:
    source = (
        "import fleet_web.auth\n"
        "from firmware import host\n"
        "def f():\n"
        "    import importlib\n"
        "    importlib.import_module('kizashi.app')\n"
        "from . import sibling\n"
    )
    assert imported_packages(source) == {"fleet_web", "firmware", "importlib", "kizashi"}


def test_nothing_imports_the_root_but_tests_and_benchmarks() -> None:
    users = [
        str(p.relative_to(ROOT))
        for pkg in ("protocol", "gateway", "fleet_web", "firmware", "hil_tests")
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if "kizashi" in imported_packages(p.read_text())
    ]
    assert users == []


def test_a_gateway_process_loads_no_firmware_and_no_board_stand_ins() -> None:
    """`kizashi gateway run` loads the root, the page and the gateway: firmware.host's stand-in
    `machine`/`network`/`micropython` modules must not appear in its sys.modules."""
    import subprocess
    import sys

    code = (
        "import sys, kizashi.app, kizashi.cli, gateway.service, gateway.node_config, fleet_web; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('firmware', 'machine', 'network', 'micropython')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_demo_runs_its_firmware_nodes_outside_the_gateway_process(tmp_path: Path) -> None:
    """`kizashi demo` serves the gateway and page in its own process and runs the simulated
    nodes (firmware.host and its stand-ins) in a child process (kizashi/sim_fleet.py): after a
    run that stored frames, the demo's process has loaded no board stand-in and no firmware but
    what the first start's history seeding runs to calibrate its features (kizashi/
    demo_history.py): the machine profiles and their simulated signal (firmware/sensors/sim.py)
    and the feature code (firmware/features.py, kernels.py; `math` and `array` only, the viper
    kernels fail to import without `micropython`)."""
    import subprocess
    import sys

    from bench.mosquitto import free_port

    code = (
        "import sys; from kizashi.demo import main; "
        f"rc = main(['--port', '{free_port()}', '--data-dir', {str(tmp_path)!r}, "
        "'--seconds', '12']); "
        "print('MODULES', sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('firmware', 'machine', 'network', 'micropython'))); "
        "sys.exit(rc)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    stored = re.search(r"stopped; (\d+) frames stored", out.stdout)
    assert stored and int(stored.group(1)) > 0, out.stdout  # the nodes did run, elsewhere
    calibration = ["firmware", "firmware.features", "firmware.kernels", "firmware.sensors",
                   "firmware.sensors.sim"]  # fmt: skip
    assert f"MODULES {calibration}" in out.stdout, out.stdout
