"""Settings of the uplink MQTT client, on both ends (site `[uplink]`, centre `[fleet.mqtt]`)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, fields
from typing import Any

import aiomqtt


@dataclass(frozen=True)
class UplinkConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    client_id: str = ""  # "" = kizashi-uplink-<gateway id> (site) / kizashi-fleet (centre)
    keepalive: int = 30
    tls: bool = False
    tls_ca: str = ""  # CA file for the broker's certificate ("" = the system's CAs)
    tls_cert: str = ""  # client certificate file, when the broker wants one
    tls_key: str = ""
    batch: int = 1000  # frames or events per message
    ack_timeout_s: float = 10.0  # no answer by then: the message is sent again
    poll_s: float = 0.5  # how often the site looks for new rows when it is idle
    state_every_s: float = 5.0  # at most this often the site's state is sent (if changed)
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0

    def client(self, default_id: str) -> aiomqtt.Client:
        """A persistent-session client (clean_session False) for this config."""
        tls = None
        if self.tls or self.tls_ca or self.tls_cert:
            tls = aiomqtt.TLSParameters(
                ca_certs=self.tls_ca or None,
                certfile=self.tls_cert or None,
                keyfile=self.tls_key or None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            identifier=self.client_id or default_id,
            clean_session=False,
            keepalive=self.keepalive,
            tls_params=tls,
            timeout=10,
        )


KEYS = {f.name for f in fields(UplinkConfig)}


def parse_uplink(table: dict[str, Any], section: str = "uplink") -> UplinkConfig:
    unknown = set(table) - KEYS
    if unknown:
        raise ValueError(f"unknown key(s) in [{section}]: {', '.join(sorted(unknown))}")
    values = dict(table)
    for key in ("username", "password"):
        if key in values:
            values[key] = str(values[key]) or None
    cfg = UplinkConfig(**values)
    if cfg.batch < 1 or cfg.ack_timeout_s <= 0 or cfg.poll_s <= 0:
        raise ValueError(f"[{section}] batch, ack_timeout_s and poll_s must be > 0")
    return cfg
