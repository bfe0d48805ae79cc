"""The CLI refuses typos instead of storing them (issue 15 item 26), config errors are one line
with exit code 2 (item 25), and every command finds the gateway's database from --config."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.provision import add_node
from gateway.registry_cli import main as asset_main
from gateway.service_log_cli import window_main
from gateway.store import open_store


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A gateway config whose database and secrets the commands must find by --config."""
    (tmp_path / "gateway.toml").write_text('[gateway]\ndata_dir = "data"\n')
    add_node(tmp_path / "data" / "secrets", "n1")
    return tmp_path / "gateway.toml"


def test_asset_site_and_node_typos_are_refused(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ["--config", str(site)]
    assert (
        asset_main([*c, "add", "p1", "--site", "Osaka Works", "--machine", "M1", "--node", "n1"])
        == 0
    )
    # A second site spelt nearly like the first is a typo unless declared new.
    assert asset_main([*c, "add", "p2", "--site", "Osaka Work", "--machine", "M2"]) == 2
    assert "did you mean Osaka Works" in capsys.readouterr().err
    assert asset_main([*c, "add", "p2", "--site", "Kobe", "--machine", "M2", "--new-site"]) == 0
    assert asset_main([*c, "set", "p2", "--site", "kobe"]) == 2
    # Nodes: provisioned ones bind, an unknown id is refused.
    assert asset_main([*c, "bind", "p2", "n9"]) == 2
    assert "not provisioned" in capsys.readouterr().err
    assert asset_main([*c, "add", "p3", "--site", "Kobe", "--machine", "M3", "--node", "nX"]) == 2
    st = open_store(str(site.parent / "data" / "kizashi.db"))  # the config's own database
    try:
        assert sorted(a.asset_id for a in st.assets()) == ["p1", "p2"]
        assert st.asset("p1").node_id == "n1"  # type: ignore[union-attr]
    finally:
        st.close()


def test_asset_temp_source_is_set_and_checked(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ["--config", str(site)]
    assert asset_main([*c, "add", "p1", "--site", "Kobe", "--machine", "M1", "--node", "n1"]) == 0
    with pytest.raises(SystemExit):  # argparse: not one of the sources
        asset_main([*c, "set", "p1", "--temp-source", "thermocouple"])
    assert "invalid choice" in capsys.readouterr().err
    assert asset_main([*c, "set", "p1", "--temp-source", "ds18b20"]) == 0
    assert asset_main([*c, "list"]) == 0
    assert "temp=ds18b20" in capsys.readouterr().out
    st = open_store(str(site.parent / "data" / "kizashi.db"))
    try:
        assert st.asset("p1").temp_source == "ds18b20"  # type: ignore[union-attr]
    finally:
        st.close()


def test_windows_past_overlapping_unknown_site_and_rm(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ["--config", str(site)]
    assert asset_main([*c, "add", "p1", "--site", "Osaka", "--machine", "M1"]) == 0
    now = time.time()
    day = 86400.0
    ok = [*c, "add", "Osaka", "--start", _iso(now + day), "--end", _iso(now + 2 * day)]
    assert window_main(ok) == 0
    assert window_main([*c, "add", "Osaak", "--start", _iso(now + 5 * day),
                        "--end", _iso(now + 6 * day)]) == 2  # fmt: skip
    assert window_main([*c, "add", "Osaka", "--start", _iso(now - 3 * day),
                        "--end", _iso(now - 2 * day)]) == 2  # fmt: skip
    assert "already ended" in capsys.readouterr().err
    assert window_main([*c, "add", "Osaka", "--start", _iso(now + 1.5 * day),
                        "--end", _iso(now + 3 * day)]) == 2  # fmt: skip
    assert "overlaps window" in capsys.readouterr().err
    assert window_main([*c, "add", "Osaka", "--start", _iso(now - 3 * day),
                        "--end", _iso(now - 2 * day), "--past"]) == 0  # fmt: skip
    capsys.readouterr()
    assert window_main([*c, "list"]) == 0
    ids = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert len(ids) == 2
    assert window_main([*c, "rm", ids[0]]) == 0
    assert window_main([*c, "rm", ids[0]]) == 1
    assert window_main([*c, "list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


@pytest.mark.parametrize(
    "text, says",
    [
        ("[gateway\nid = 1\n", "not valid TOML"),
        ("[gatway]\n", "unknown section"),
        ('[mqtt]\nport = "many"\n', "many"),
        ("[mqtt]\nclient = 'paho'\n", "mqtt.client"),
    ],
)
def test_config_errors_are_one_line_and_exit_2(tmp_path: Path, text: str, says: str) -> None:
    cfg = tmp_path / "gw.toml"
    cfg.write_text(text)
    for config in (cfg, tmp_path / "missing.toml"):
        r = subprocess.run(
            [sys.executable, "-m", "kizashi.cli", "gateway", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
        assert (says if config == cfg else "file not found") in lines[0]


def test_missing_serial_port_is_a_warning_and_a_metric(caplog: pytest.LogCaptureFixture) -> None:
    """Item 25: a configured serial port that does not exist was logged at DEBUG only."""
    import asyncio
    import logging

    from gateway.metrics import Metrics
    from gateway.serial_link import SerialLink

    metrics = Metrics()
    link = SerialLink("/dev/ttyKIZASHI-missing", 115200, metrics, reopen_s=0.05)

    async def body() -> None:
        task = asyncio.create_task(link.run(None))  # type: ignore[arg-type]
        await asyncio.sleep(0.5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    with caplog.at_level(logging.WARNING, logger="gateway.serial_link"):
        asyncio.run(body())
    name = link.name
    assert metrics.get("kizashi_serial_open_failures_total", link=name) >= 2
    assert metrics.get("kizashi_link_up", link=name) == 0
    warned = [r for r in caplog.records if "cannot be opened" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING  # once a minute, not a flood
