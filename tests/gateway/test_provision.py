"""Provisioning against a real mosquitto using the generated password and ACL files."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import aiomqtt
import pytest

from gateway.provision import GATEWAY_USER, add_node, list_nodes, node_main, remove_node
from tests.gateway.broker import Broker, free_port

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(60)]


def node_cfg(sdir: Path, node: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((sdir / "nodes" / node / "node.json").read_text())
    return data


def test_node_add_writes_config_and_files(tmp_path: Path) -> None:
    sdir = tmp_path / "secrets"
    assert node_main(["--secrets", str(sdir), "add", "pump-7", "--mqtt-port", "1999"]) == 0
    cfg = node_cfg(sdir, "pump-7")
    assert cfg["node_id"] == "pump-7" and cfg["mqtt_user"] == "pump-7" and cfg["mqtt_port"] == 1999
    assert len(str(cfg["mqtt_password"])) >= 20 and cfg["wifi_ssid"] == "CHANGE-ME"
    assert oct(os.stat(sdir / "nodes" / "pump-7" / "node.json").st_mode & 0o777) == "0o600"
    passwd = (sdir / "mosquitto" / "passwd").read_text()
    assert "pump-7:$7$101$" in passwd and GATEWAY_USER + ":" in passwd
    assert str(cfg["mqtt_password"]) not in passwd
    assert "listener 1999" in (sdir / "mosquitto" / "kizashi.conf").read_text()
    assert node_main(["--secrets", str(sdir), "add", "pump-7"]) == 2  # exists
    assert node_main(["--secrets", str(sdir), "add", "bad/id"]) == 2
    assert node_main(["--secrets", str(sdir), "add", "pump-7", "--rotate"]) == 0
    assert node_cfg(sdir, "pump-7")["mqtt_password"] != cfg["mqtt_password"]
    assert list_nodes(sdir) == ["pump-7"]
    assert remove_node(sdir, "pump-7") and list_nodes(sdir) == []
    assert "pump-7:" not in (sdir / "mosquitto" / "passwd").read_text()


def test_acl_enforced_by_real_mosquitto(tmp_path: Path) -> None:
    sdir = tmp_path / "secrets"
    port = free_port()
    a = add_node(sdir, "node-a", mqtt_port=port)
    b = add_node(sdir, "node-b", mqtt_port=port)
    gw = json.loads((sdir / "gateway.json").read_text())
    m = sdir / "mosquitto"
    broker = Broker(
        tmp_path,
        port,
        f"allow_anonymous false\npassword_file {m / 'passwd'}\nacl_file {m / 'acl'}\n",
    ).start()

    def client(user: str | None, pw: str | None, cid: str) -> aiomqtt.Client:
        return aiomqtt.Client(
            "127.0.0.1", port, username=user, password=pw, identifier=cid, timeout=5
        )

    async def body() -> None:
        # Anonymous and wrong-password connects are refused.
        with pytest.raises(aiomqtt.MqttError):
            async with client(None, None, "anon"):
                pass
        with pytest.raises(aiomqtt.MqttError):
            async with client("node-a", "wrong", "wrong"):
                pass
        got_gw: list[str] = []
        got_a: list[str] = []
        async with (
            client(GATEWAY_USER, gw["password"], "gw") as g,
            client("node-a", str(a["mqtt_password"]), "node-a") as ca,
            client("node-b", str(b["mqtt_password"]), "node-b") as cb,
        ):
            await g.subscribe("kizashi/v1/node/+/data", qos=1)
            await ca.subscribe("#", qos=1)  # a node fishing for everything

            async def collect(c: aiomqtt.Client, out: list[str]) -> None:
                async for msg in c.messages:
                    out.append(f"{msg.topic.value}={msg.payload!r}")

            tasks = [
                asyncio.create_task(collect(g, got_gw)),
                asyncio.create_task(collect(ca, got_a)),
            ]
            await cb.publish("kizashi/v1/node/node-b/data", b"own", qos=1)
            await ca.publish("kizashi/v1/node/node-b/data", b"spoof", qos=1)  # as B: denied
            await cb.publish("kizashi/v1/node/node-a/cmd", b"forged-cmd", qos=1)  # denied
            await g.publish("kizashi/v1/node/node-a/cmd", b"real-cmd", qos=1)
            await g.publish("kizashi/v1/node/node-b/ack", b"b-ack", qos=1)  # not A's
            await asyncio.sleep(1.0)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        assert got_gw == ["kizashi/v1/node/node-b/data=b'own'"]
        assert got_a == ["kizashi/v1/node/node-a/cmd=b'real-cmd'"]

    try:
        asyncio.run(body())
    finally:
        broker.stop()


def test_demo_state_with_the_session_key_is_owner_only(tmp_path: Path) -> None:
    """demo.json holds the page's signing key (enough to forge an admin session): 0600 even
    under a permissive umask and over an old world-readable file."""
    from gateway.demo import _save_state

    old = os.umask(0)
    try:
        (tmp_path / "demo.json").write_text("{}")
        os.chmod(tmp_path / "demo.json", 0o644)
        _save_state(tmp_path, {"web_secret": "k" * 64})
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "demo.json").st_mode & 0o777 == 0o600
    assert json.loads((tmp_path / "demo.json").read_text())["web_secret"] == "k" * 64
