"""A site set up as the README says, as far as this machine allows: broker config generated
into a Debian layout and Mosquitto started as Debian starts it, the gateway run from its TOML
with `kizashi gateway run`, the first admin user, a node provisioned and "flashed" with
--dry-run, then that node connecting over TLS (and over the plain node listener) with its own
node.json, its frames stored and acked, and the admin signing in to the page. No hand edits."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from bench.mosquitto import free_port
from gateway.decode import decode_frame
from kizashi.cli import main as kizashi
from tests.gateway.simnode import birth, report

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(240)]


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"gateway exited {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("gateway did not answer")


async def _node_session(ident: dict[str, Any], ca: Path, tls: bool, seqs: range) -> list[int]:
    """What the board does with its node.json: connect, birth, reports; returns acked seqs."""
    ctx = ssl.create_default_context(cafile=str(ca)) if tls else None
    node = str(ident["node_id"])
    acked: list[int] = []
    async with aiomqtt.Client(
        str(ident["mqtt_host"]),
        int(ident["mqtt_tls_port"] if tls else ident["mqtt_port"]),
        username=str(ident["mqtt_user"]),
        password=str(ident["mqtt_password"]),
        identifier=str(ident["mqtt_client_id"]),
        tls_context=ctx,
        timeout=10,
    ) as c:
        await c.subscribe(f"kizashi/v1/node/{node}/ack", qos=1)

        async def read() -> None:
            async for m in c.messages:
                assert isinstance(m.payload, bytes)
                f = decode_frame(m.payload)
                if f["kind"] == "ack":
                    acked.append(int(f["seq"]))

        reader = asyncio.create_task(read())
        now = int(time.time())
        if seqs.start == 1:
            await c.publish(f"kizashi/v1/node/{node}/birth", birth(node, 1, now), qos=1)
        for s in seqs:
            await c.publish(f"kizashi/v1/node/{node}/data", report(node, 1, s, now + s), qos=1)
        end = time.monotonic() + 20
        while (not acked or max(acked) < seqs[-1]) and time.monotonic() < end:
            await asyncio.sleep(0.1)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    return acked


def test_site_from_the_readme(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.gateway.site import debian_site

    with debian_site() as site:
        data = site.secrets.parent
        http_port = free_port()
        cfg = site.root / "etc" / "kizashi" / "gateway.toml"
        cfg.parent.mkdir(parents=True)
        # deploy/gateway.example.toml with the site's paths and ports (the README's edits are
        # the broker address and, here, free ports; nothing else).
        example = (
            Path(__file__).resolve().parents[2] / "deploy" / "gateway.example.toml"
        ).read_text()
        text = example.replace('data_dir = "/var/lib/kizashi"', f'data_dir = "{data}"')
        text = re.sub(r"(?m)^port = 1883", f"port = {site.gateway_port}", text)
        text = re.sub(r"(?m)^port = 8080", f"port = {http_port}", text)
        cfg.write_text(text)
        c = ["--config", str(cfg)]
        os.environ["KIZASHI_WIFI_PASSWORD"] = "wifi-secret"
        try:
            assert kizashi(["node", *c, "add", "pump-1", "--wifi-ssid", "plant-a"]) == 0
        finally:
            del os.environ["KIZASHI_WIFI_PASSWORD"]
        ident = json.loads((site.secrets / "nodes" / "pump-1" / "node.json").read_text())
        assert ident["mqtt_host"] == "127.0.0.1" and ident["mqtt_tls_port"] == site.tls_port
        assert (ident["wifi_ssid"], ident["wifi_password"]) == ("plant-a", "wifi-secret")
        out = capsys.readouterr().out
        assert kizashi(["node", *c, "flash", "--port", "/dev/ttyACM0", "--node", "pump-1",
                        "--dry-run"]) == 0  # fmt: skip
        assert str(site.secrets / "nodes" / "pump-1" / "node.json") in capsys.readouterr().out
        ca = site.root / "ca.pem"
        ca.write_text(ident["mqtt_ca"])
        site.start_broker()
        log = site.root / "gateway.log"
        with log.open("wb") as logf:
            gw = subprocess.Popen(
                [sys.executable, "-m", "kizashi.cli", "gateway", "run", *c],
                stdout=logf,
                stderr=subprocess.STDOUT,
                env={**os.environ, "KIZASHI_WEB_SECRET": "site-test"},
            )
        base = f"http://127.0.0.1:{http_port}"
        try:
            _wait_http(base + "/login", gw)
            assert "kizashi user add" in log.read_text()  # the fresh site says how to begin
            assert kizashi(["user", *c, "add", "admin", "--role", "admin",
                            "--password", "site-admin-pass-1"]) == 0  # fmt: skip
            assert kizashi(["asset", *c, "add", "press-1", "--site", "Plant A",
                            "--machine", "Press 1", "--node", "pump-1"]) == 0  # fmt: skip
            acked = asyncio.run(_node_session(ident, ca, True, range(1, 6)))
            assert max(acked) == 5, acked
            acked = asyncio.run(_node_session(ident, ca, False, range(6, 9)))
            assert max(acked) == 8, acked
            # The admin signs in to the page the gateway serves.
            jar = CookieJar()
            op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            html = op.open(base + "/login", timeout=10).read().decode()
            tok = re.search(r'name="csrf_token" value="([^"]+)"', html)
            assert tok is not None
            form = f"username=admin&password=site-admin-pass-1&csrf_token={tok.group(1)}"
            page = op.open(base + "/login", data=form.encode(), timeout=10)
            assert page.status == 200 and page.url.rstrip("/") == base
            nodes = json.loads(op.open(base + "/api/nodes", timeout=10).read())
            assert any(n["id"] == "pump-1" for n in nodes), nodes
        finally:
            gw.send_signal(signal.SIGTERM)
            rc = gw.wait(30)
        assert rc == 0, log.read_text()[-3000:]
        assert "Traceback" not in log.read_text()
        del out
