"""Configuration: DEFAULTS overridden by config.json on the board; node.json for identity.

config.json holds only keys of DEFAULTS (unknown keys or bad values make the whole file
ignored and reports carry FLAG_DEFAULT_CONFIG). node.json is written by the gateway's
provisioning tool; its format is in docs/FIRMWARE.md.
"""

import json

from protocol import nodeconfig

CONFIG_FILE = "config.json"
NODE_FILE = "node.json"

# The keys, defaults, bounds, checks and hash are shared with the gateway: protocol/nodeconfig.
DEFAULTS = nodeconfig.DEFAULTS
TEMP_SOURCES = nodeconfig.TEMP_SOURCES
SCHEMA = nodeconfig.SCHEMA
REBOOT_KEYS = nodeconfig.REBOOT_KEYS
check = nodeconfig.check
merged = nodeconfig.merged
cfg_hash = nodeconfig.cfg_hash


def load(fs, rates=None):
    """(config, from_file). A missing or invalid file gives the defaults."""
    data = fs.read(CONFIG_FILE) if fs is not None else None
    if data:
        try:
            cfg, why = merged(DEFAULTS, json.loads(data), rates)
            if cfg is not None:
                return cfg, True
        except ValueError:
            pass
    return dict(DEFAULTS), False


def save(fs, cfg):
    """Write only the keys that differ from DEFAULTS, via a temp file and a rename."""
    diff = {}
    for k in cfg:
        if cfg[k] != DEFAULTS[k]:
            diff[k] = cfg[k]
    fs.write(CONFIG_FILE + ".tmp", json.dumps(diff).encode())
    fs.rename(CONFIG_FILE + ".tmp", CONFIG_FILE)


FLAT_MQTT = (("host", "mqtt_host"), ("port", "mqtt_port"), ("user", "mqtt_user"),
             ("password", "mqtt_password"), ("client_id", "mqtt_client_id"),
             ("tls", "mqtt_tls"), ("tls_port", "mqtt_tls_port"), ("ca", "mqtt_ca"))


def _migrate_nested(ident):
    """The first firmware's nested form ({"mqtt": {...}, "wifi": {...}}) -> the one format,
    the flat keys gateway/provision.py writes. Flat keys already present win."""
    m = ident.pop("mqtt", None)
    if isinstance(m, dict):
        for key, flat in FLAT_MQTT:
            if key in m:
                ident.setdefault(flat, m[key])
    w = ident.pop("wifi", None)
    if isinstance(w, dict):
        ident.setdefault("wifi_ssid", w.get("ssid"))
        ident.setdefault("wifi_password", w.get("password"))


def load_identity(fs):
    """node.json (the flat format, docs/FIRMWARE.md) -> dict with node_id, transport and the
    views main.py uses, mqtt {host, port, user, password, client_id} and wifi {ssid,
    password}; ValueError if unusable."""
    data = fs.read(NODE_FILE)
    if not data:
        raise ValueError("node.json missing")
    ident = json.loads(data)
    if not isinstance(ident, dict):
        raise ValueError("node.json: not an object")
    _migrate_nested(ident)
    nid = ident.get("node_id")
    if not isinstance(nid, str) or not 1 <= len(nid) <= 32:
        raise ValueError("node.json: node_id")
    ident.setdefault("transport", "mqtt")
    ident["mqtt"] = {key: ident.get(flat) for key, flat in FLAT_MQTT}
    if ident["mqtt"]["port"] is None:
        ident["mqtt"]["port"] = 1883
    ident["wifi"] = {"ssid": ident.get("wifi_ssid"), "password": ident.get("wifi_password")}
    if ident["transport"] == "mqtt" and not isinstance(ident["mqtt"]["host"], str):
        raise ValueError("node.json: mqtt_host")
    return ident


U32 = 0xFFFFFFFF
COUNTER_KEYS = ("runtime_s", "starts", "life_s")


def _u32(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= U32


def load_replacement(fs):
    """node.json `boot_base` and `counters` (a replacement board, docs/FIRMWARE.md) ->
    (boot_base, counters dict or None). Missing, unreadable or invalid values give (0, None):
    a board is never kept from booting by them."""
    data = fs.read(NODE_FILE) if fs is not None else None
    if not data:
        return 0, None
    try:
        ident = json.loads(data)
    except ValueError:
        return 0, None
    if not isinstance(ident, dict):
        return 0, None
    base = ident.get("boot_base", 0)
    if not _u32(base):
        base = 0
    c = ident.get("counters")
    if not isinstance(c, dict):
        return base, None
    for k in COUNTER_KEYS:
        if not _u32(c.get(k)):
            return base, None
    return base, {k: c[k] for k in COUNTER_KEYS}


def load_fleet_key(fs):
    """node.json `fleet_key` (64 hex characters: the fleet's Ed25519 public key, written by
    provisioning) -> 32 bytes, or None (then over-the-air updates are refused)."""
    data = fs.read(NODE_FILE) if fs is not None else None
    try:
        k = json.loads(data).get("fleet_key") if data else None
        if isinstance(k, str) and len(k) == 64:
            return bytes(int(k[i : i + 2], 16) for i in range(0, 64, 2))
    except (ValueError, AttributeError):
        pass
    return None
