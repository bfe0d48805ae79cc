"""Provisioning against a real mosquitto using the generated password and ACL files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any

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
    assert node_main(["--secrets", str(sdir), "broker-config", "--node-port", "1999"]) == 0
    assert "listener 1999 127.0.0.1" in (sdir / "mosquitto" / "kizashi.conf").read_text()
    assert node_main(["--secrets", str(sdir), "add", "kizashi-gateway-gw1"]) == 2  # its id
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
    from kizashi.demo import _save_state

    old = os.umask(0)
    try:
        (tmp_path / "demo.json").write_text("{}")
        os.chmod(tmp_path / "demo.json", 0o644)
        _save_state(tmp_path, {"web_secret": "k" * 64})
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "demo.json").st_mode & 0o777 == 0o600
    assert json.loads((tmp_path / "demo.json").read_text())["web_secret"] == "k" * 64


def _mqtt(
    port: int, user: str | None, pw: str | None, cid: str, ca: Path | None = None, tls: bool = True
) -> aiomqtt.Client:
    import ssl

    ctx = None
    if tls:
        ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
    return aiomqtt.Client(
        "127.0.0.1", port, username=user, password=pw, identifier=cid, timeout=5, tls_context=ctx
    )


def test_debian_broker_tls_client_ids_retain_and_size(capsys: pytest.CaptureFixture[str]) -> None:
    """The generated config on a broker started like Debian's (root, dropping to `mosquitto`):
    it starts (it can read its files); a node connects over TLS with the site CA, a client
    that does not trust the CA and plain MQTT on the TLS port are refused; credentials work
    only on their own listener; a node cannot take the gateway's or another node's client id
    (issue 15 item 3); a retained publish (14) and a 100 kB publish (9) drop the sender and
    reach nobody."""
    from tests.gateway.site import debian_site

    with debian_site() as site:
        assert "warning" not in capsys.readouterr().err
        a = add_node(site.secrets, "node-a")
        b = add_node(site.secrets, "node-b")
        assert a["mqtt_host"] == "127.0.0.1" and a["mqtt_port"] == site.node_port
        assert a["mqtt_tls_port"] == site.tls_port and "BEGIN CERTIFICATE" in str(a["mqtt_ca"])
        gw = json.loads((site.secrets / "gateway.json").read_text())
        conf = (site.broker_dir / "kizashi.conf").read_text()
        assert "use_username_as_clientid true" in conf and "retain_available false" in conf
        site.start_broker()
        tls, ca = site.tls_port, site.ca
        pa, pb = str(a["mqtt_password"]), str(b["mqtt_password"])

        async def refused(c: aiomqtt.Client) -> None:
            with pytest.raises(aiomqtt.MqttError):
                async with c:
                    pass

        async def body() -> None:
            await refused(_mqtt(tls, "node-a", pa, "node-a"))  # does not trust the site CA
            await refused(_mqtt(tls, "node-a", pa, "node-a", tls=False))  # plain on TLS port
            await refused(_mqtt(tls, GATEWAY_USER, gw["password"], "x", ca))  # gateway creds
            await refused(_mqtt(site.gateway_port, "node-a", pa, "x", tls=False))  # node creds
            got: list[str] = []
            async with (
                _mqtt(
                    site.gateway_port,
                    GATEWAY_USER,
                    gw["password"],
                    "kizashi-gateway-gw1",
                    tls=False,
                ) as g,  # fmt: skip
                _mqtt(tls, "node-b", pb, "node-b", ca) as nb,
            ):
                await g.subscribe("kizashi/v1/node/+/data", qos=1)

                async def collect() -> None:
                    async for m in g.messages:
                        got.append(f"{m.topic.value}={m.payload!r}")

                task = asyncio.create_task(collect())
                # node-a tries to be the gateway, then node-b: it only ever gets its own id.
                for cid in ("kizashi-gateway-gw1", "node-b"):
                    async with _mqtt(tls, "node-a", pa, cid, ca) as na:
                        await na.publish("kizashi/v1/node/node-a/data", cid.encode(), qos=1)
                # A retained publish and a 100 kB one: the broker drops node-a, stores nothing.
                for payload, retain in ((b"retained", True), (b"x" * 100_000, False)):
                    with contextlib.suppress(aiomqtt.MqttError):
                        async with _mqtt(tls, "node-a", pa, "node-a", ca) as na:
                            await na.publish(
                                "kizashi/v1/node/node-a/data", payload, qos=1, retain=retain
                            )
                            await asyncio.sleep(0.5)
                # The gateway and node-b were never kicked off: both still work.
                await nb.publish("kizashi/v1/node/node-b/data", b"still-here", qos=1)
                await asyncio.sleep(1.0)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            assert got == [
                "kizashi/v1/node/node-a/data=b'kizashi-gateway-gw1'",
                "kizashi/v1/node/node-a/data=b'node-b'",
                "kizashi/v1/node/node-b/data=b'still-here'",
            ], got

        asyncio.run(body())
        log = site.log_text()
        assert "already connected" not in log, log[-3000:]
        assert "as node-a" in log and "as kizashi-gateway-gw1 " not in log.split("node-a")[-1]


def test_firmware_client_verifies_the_broker_over_tls() -> None:
    """The firmware's own MQTT client (firmware/transports/umqtt.py) with the TLS wrapper
    firmware/main.py builds from node.json: it connects to the site broker and its frame
    arrives; with another site's CA it refuses the broker. The TLS here is CPython's ssl on
    the host; the same code on MicroPython's mbedTLS and its heap cost:
    tests/firmware/test_tls_heap.py."""
    import ssl

    from bench.faults.common import MpSocket, MpSocketModule
    from firmware.transports.tls import tls_wrapper
    from firmware.transports.umqtt import MQTTClient
    from gateway import site_ca
    from tests.gateway.site import debian_site

    class TlsSocket(MpSocket):
        def read(self, n: int) -> bytes | None:
            try:
                return super().read(n)
            except ssl.SSLWantReadError:
                return None

    class TlsModule(MpSocketModule):
        @staticmethod
        def socket() -> TlsSocket:
            return TlsSocket()

    def wrapper(ca_pem: str) -> Any:
        """The firmware's own tls_wrapper (CPython's ssl has MicroPython's API for it), applied
        to the CPython socket inside the MicroPython-style shim."""
        fw_wrap = tls_wrapper(ca_pem)

        def wrap(sock: TlsSocket, host: str) -> TlsSocket:
            sock.s = fw_wrap(sock.s, host)
            return sock

        return wrap

    with debian_site() as site:
        assert node_main(["--secrets", str(site.secrets), "add", "pump-9", "--tls"]) == 0
        ident = node_cfg(site.secrets, "pump-9")
        assert ident["mqtt_tls"] is True
        gw = json.loads((site.secrets / "gateway.json").read_text())
        site.start_broker()

        def board(ca_pem: str) -> MQTTClient:
            return MQTTClient(
                "pump-9",
                str(ident["mqtt_host"]),
                int(str(ident["mqtt_tls_port"])),
                "pump-9",
                str(ident["mqtt_password"]),
                socket_timeout=5,
                socket_mod=TlsModule,
                tls=wrapper(ca_pem),
            )

        async def body() -> list[bytes]:
            got: list[bytes] = []
            async with aiomqtt.Client(
                "127.0.0.1", site.gateway_port, username=GATEWAY_USER,
                password=gw["password"], identifier="gw", timeout=5,
            ) as g:  # fmt: skip
                await g.subscribe("kizashi/v1/node/pump-9/data", qos=1)

                async def collect() -> None:
                    async for m in g.messages:
                        assert isinstance(m.payload, bytes)
                        got.append(m.payload)

                task = asyncio.create_task(collect())
                c = board(str(ident["mqtt_ca"]))
                await asyncio.to_thread(c.connect)
                await asyncio.to_thread(c.publish, b"kizashi/v1/node/pump-9/data", b"tls-frame")
                await asyncio.sleep(1.0)
                c.disconnect()
                other_ca = site_ca.create_ca("another site")[1].decode()
                with pytest.raises(ssl.SSLCertVerificationError):
                    await asyncio.to_thread(board(other_ca).connect)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            return got

        assert asyncio.run(body()) == [b"tls-frame"]
