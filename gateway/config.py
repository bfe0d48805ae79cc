"""Gateway configuration from a TOML file (see deploy/gateway.example.toml, docs/GATEWAY.md)."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gateway.healthcheck import HealthSettings
from gateway.ingest import PipelineConfig
from gateway.mqtt_link import MqttConfig
from gateway.node_config import NodeConfigSettings, desired_config
from gateway.notify import NotifyConfig
from gateway.uplink.config import KEYS as UPLINK_KEYS
from gateway.uplink.config import UplinkConfig, parse_uplink
from gateway.webhooks import WebhookEndpoint, parse_webhooks


@dataclass(frozen=True)
class SerialPortConfig:
    port: str
    baudrate: int = 115200
    nodes: tuple[str, ...] = ()  # node ids wired to this port; others are refused


@dataclass(frozen=True)
class HttpConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 4


@dataclass(frozen=True)
class GatewayConfig:
    gateway_id: str = "gw1"
    data_dir: Path = Path("data")
    database: str = ""  # URL; "" = SQLite file data_dir/kizashi.db
    secrets_dir: Path | None = None  # default data_dir/secrets
    retention_days: float = 30.0
    event_retention_days: float = 365.0  # node and gateway events (alarm history) kept this long
    sqlite_synchronous: str = "FULL"
    log_level: str = "INFO"
    mqtt_enabled: bool = True
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    # "aiomqtt" (default) or "native": the lean asyncio client for high-rate sites; with
    # `mqtt_connections` > 1 the native client shares the subscription ($share/).
    mqtt_client: str = "aiomqtt"
    mqtt_connections: int = 1
    serial: tuple[SerialPortConfig, ...] = ()
    http: HttpConfig = field(default_factory=HttpConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    web: dict[str, Any] = field(default_factory=dict)  # passed to the web app factory
    notify: NotifyConfig = field(default_factory=NotifyConfig)  # alarm webhook, off by default
    node_config: NodeConfigSettings = field(default_factory=NodeConfigSettings)
    health: HealthSettings = field(default_factory=HealthSettings)  # /healthz and watchdog
    uplink: UplinkConfig = field(default_factory=UplinkConfig)  # to the fleet server (FLEET.md)
    # [[webhooks]]: the outbox's events (proposal steps) to the CRM side (gateway/webhooks.py)
    webhooks: tuple[WebhookEndpoint, ...] = ()

    @property
    def database_url(self) -> str:
        return self.database or str(self.data_dir / "kizashi.db")

    @property
    def secrets(self) -> Path:
        return self.secrets_dir or self.data_dir / "secrets"


KNOWN = {
    "gateway": {
        "id",
        "data_dir",
        "database",
        "secrets_dir",
        "retention_days",
        "event_retention_days",
        "sqlite_synchronous",
        "log_level",
    },
    "mqtt": {
        "enabled",
        "host",
        "port",
        "username",
        "password",
        "client_id",
        "keepalive",
        "client",
        "connections",
    },
    "serial": {"port", "baudrate", "nodes"},
    "http": {"enabled", "host", "port", "threads"},
    "pipeline": {f.name for f in fields(PipelineConfig)},
    "notify": {"webhook_url", "token", "codes", "timeout_s", "batch", "poll_s", "backoff_max_s"},
    "node_config": {f.name for f in fields(NodeConfigSettings)},
    "health": {f.name for f in fields(HealthSettings)},
    "web": None,  # free-form
    "uplink": UPLINK_KEYS,
    "webhooks": None,  # a list of tables, checked by parse_webhooks
}


def _check(section: str, table: dict[str, Any]) -> None:
    allowed = KNOWN[section]
    if allowed is None:
        return
    unknown = set(table) - allowed
    if unknown:
        raise ValueError(f"unknown key(s) in [{section}]: {', '.join(sorted(unknown))}")


def parse_config(data: dict[str, Any], base: Path = Path(".")) -> GatewayConfig:
    unknown = set(data) - set(KNOWN)
    if unknown:
        raise ValueError(f"unknown section(s): {', '.join(sorted(unknown))}")
    gw = data.get("gateway", {})
    _check("gateway", gw)
    mq = data.get("mqtt", {})
    _check("mqtt", mq)
    http = data.get("http", {})
    _check("http", http)
    pl = data.get("pipeline", {})
    _check("pipeline", pl)
    nt = dict(data.get("notify", {}))
    _check("notify", nt)
    if "codes" in nt:
        nt["codes"] = tuple(str(c) for c in nt["codes"])
    serial = data.get("serial", [])
    for s in serial:
        _check("serial", s)
    data_dir = base / gw.get("data_dir", "data")
    secrets_dir = base / gw["secrets_dir"] if gw.get("secrets_dir") else None
    username = mq.get("username") or None
    password = mq.get("password") or None
    gw_id = str(gw.get("id", "gw1"))
    sdir = secrets_dir or data_dir / "secrets"
    if username is None and (sdir / "gateway.json").exists():
        creds = json.loads((sdir / "gateway.json").read_text())
        username, password = creds["username"], creds["password"]
    return GatewayConfig(
        gateway_id=gw_id,
        data_dir=data_dir,
        database=str(gw.get("database", "")),
        secrets_dir=secrets_dir,
        retention_days=float(gw.get("retention_days", 30)),
        event_retention_days=float(gw.get("event_retention_days", 365)),
        sqlite_synchronous=str(gw.get("sqlite_synchronous", "FULL")),
        log_level=str(gw.get("log_level", "INFO")),
        mqtt_enabled=bool(mq.get("enabled", True)),
        mqtt_client=_client(mq.get("client", "aiomqtt")),
        mqtt_connections=int(mq.get("connections", 1)),
        mqtt=MqttConfig(
            host=str(mq.get("host", "127.0.0.1")),
            port=int(mq.get("port", 1883)),
            username=username,
            password=password,
            client_id=str(mq.get("client_id", "kizashi-gateway-" + gw_id)),
            gateway_id=gw_id,
            keepalive=int(mq.get("keepalive", 30)),
        ),
        serial=tuple(
            SerialPortConfig(
                str(s["port"]),
                int(s.get("baudrate", 115200)),
                tuple(str(n) for n in s.get("nodes", ())),
            )
            for s in serial
        ),
        http=HttpConfig(
            enabled=bool(http.get("enabled", True)),
            host=str(http.get("host", "127.0.0.1")),
            port=int(http.get("port", 8080)),
            threads=int(http.get("threads", 4)),
        ),
        pipeline=PipelineConfig(**pl),
        web=dict(data.get("web", {})),
        notify=NotifyConfig(**nt),
        node_config=_node_config(data.get("node_config", {})),
        health=_health(data.get("health", {})),
        uplink=parse_uplink(data.get("uplink", {})),
        webhooks=parse_webhooks(_tables("webhooks", data.get("webhooks", []))),
    )


def _tables(section: str, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ValueError(f"[[{section}]] must be a list of tables")
    return value


def _health(table: dict[str, Any]) -> HealthSettings:
    _check("health", table)
    return HealthSettings(**{k: float(v) for k, v in table.items()})


def _node_config(table: dict[str, Any]) -> NodeConfigSettings:
    _check("node_config", table)
    ncfg = NodeConfigSettings(**table)
    desired_config(None, ncfg)  # periods the firmware would refuse fail here, at start
    return ncfg


def load_config(path: str | Path) -> GatewayConfig:
    p = Path(path)
    with p.open("rb") as f:
        data = tomllib.load(f)
    return parse_config(data, p.parent)


def _client(name: object) -> str:
    if name not in ("aiomqtt", "native"):
        raise ValueError(f"mqtt.client must be 'aiomqtt' or 'native', not {name!r}")
    return str(name)


class ConfigError(ValueError):
    """A configuration problem, said in one line (the command exits 2, no traceback)."""


def load_config_or_exit(path: str | Path) -> GatewayConfig:
    """load_config, with any problem as one line on stderr and exit code 2."""
    import sys

    try:
        return load_config(path)
    except FileNotFoundError:
        msg = "file not found"
    except tomllib.TOMLDecodeError as e:
        msg = f"not valid TOML: {e}"
    except (ValueError, TypeError, KeyError) as e:
        msg = str(e) or type(e).__name__
    except OSError as e:
        msg = e.strerror or str(e)
    print(f"kizashi: config {path}: {msg}", file=sys.stderr)
    raise SystemExit(2)


def add_store_options(ap: Any) -> None:
    """--db and --config for the commands that edit the gateway's database."""
    ap.add_argument(
        "--db",
        help="store URL or SQLite file (default: the database of --config, else $KIZASHI_DB, "
        "else the database of $KIZASHI_CONFIG, else data/kizashi.db)",
    )
    ap.add_argument("--config", help="the gateway's TOML config: use its database and secrets")


def store_url(args: Any) -> str:
    """The database the command edits: the same one `kizashi gateway run --config` uses."""
    import os

    if getattr(args, "db", None):
        return str(args.db)
    if getattr(args, "config", None):
        return load_config_or_exit(args.config).database_url
    if os.environ.get("KIZASHI_DB"):
        return os.environ["KIZASHI_DB"]
    if os.environ.get("KIZASHI_CONFIG"):
        return load_config_or_exit(os.environ["KIZASHI_CONFIG"]).database_url
    return "data/kizashi.db"


def secrets_path(args: Any) -> Path:
    """The secrets directory, by the same rules as store_url (--secrets, --config,
    $KIZASHI_SECRETS, $KIZASHI_CONFIG, data/secrets)."""
    import os

    if getattr(args, "secrets", None):
        return Path(args.secrets)
    if getattr(args, "config", None):
        return load_config_or_exit(args.config).secrets
    if os.environ.get("KIZASHI_SECRETS"):
        return Path(os.environ["KIZASHI_SECRETS"])
    if os.environ.get("KIZASHI_CONFIG"):
        return load_config_or_exit(os.environ["KIZASHI_CONFIG"]).secrets
    return Path("data/secrets")
