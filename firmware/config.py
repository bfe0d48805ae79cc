"""Configuration: DEFAULTS overridden by config.json on the board; node.json for identity.

config.json holds only keys of DEFAULTS (unknown keys or bad values make the whole file
ignored and reports carry FLAG_DEFAULT_CONFIG). node.json is written by the gateway's
provisioning tool; its format is in docs/FIRMWARE.md.
"""

import json

from protocol.crc32 import crc32

CONFIG_FILE = "config.json"
NODE_FILE = "node.json"

DEFAULTS = {
    "rate_hz": 3200,  # sensor output data rate
    "window": 1024,  # samples per axis per window (power of two)
    "window_s": 30,  # one window every window_s seconds
    "report_s": 60,  # one report every report_s seconds
    "alarm_report_s": 10,  # ... and every alarm_report_s while the alarm holds
    "band_lo_hz": 10,
    "band_hi_hz": 1000,
    "vel_alarm_mm_s": 7.1,  # ISO 10816-1 class II C/D
    "vel_clear_mm_s": 5.6,
    "run_on_g": 0.02,
    "run_off_g": 0.01,
    "run_on_windows": 2,
    "run_off_windows": 2,
    "life_v_ref_mm_s": 2.8,
    "life_exponent": 3.0,
    "save_s": 60,
    "ring_ram": 32,
    "ring_seg_frames": 16,
    "ring_segs": 16,
    "ack_timeout_s": 30,
    "send_burst": 8,
    # Where the report's temperature comes from: "auto" = what the board has fitted (a DS18B20
    # probe if node.json names its pin, else the sensor's or the board's die), or one of
    # TEMP_SOURCES; a source the board lacks is refused (temp_source_unavailable).
    "temp_source": "auto",
}

TEMP_SOURCES = ("auto", "ds18b20", "sensor", "board", "none")

# key -> (type, min, max)
SCHEMA: dict = {
    "rate_hz": (int, 100, 3200),
    "window": (int, 256, 4096),
    "window_s": (int, 1, 3600),
    "report_s": (int, 1, 86400),
    "alarm_report_s": (int, 1, 86400),
    "band_lo_hz": (int, 1, 100),
    "band_hi_hz": (int, 100, 5000),
    "vel_alarm_mm_s": (float, 0.1, 100.0),
    "vel_clear_mm_s": (float, 0.05, 100.0),
    "run_on_g": (float, 0.001, 10.0),
    "run_off_g": (float, 0.0005, 10.0),
    "run_on_windows": (int, 1, 100),
    "run_off_windows": (int, 1, 100),
    "life_v_ref_mm_s": (float, 0.1, 100.0),
    "life_exponent": (float, 1.0, 10.0),
    "save_s": (int, 60, 86400),
    "ring_ram": (int, 4, 256),
    "ring_seg_frames": (int, 1, 256),
    "ring_segs": (int, 0, 256),
    "ack_timeout_s": (int, 5, 3600),
    "send_burst": (int, 1, 64),
    "temp_source": (str, TEMP_SOURCES, None),  # str keys: (str, allowed values, None)
}
REBOOT_KEYS = ("ring_ram", "ring_seg_frames", "ring_segs")


def check(cfg, rates=None):
    """Full config dict -> None if valid, else a short reason string."""
    for key in cfg:
        if key not in SCHEMA:
            return "unknown_key:" + str(key)
        t, lo, hi = SCHEMA[key]
        v = cfg[key]
        if isinstance(v, bool):
            return "bad_type:" + key
        if t is float and isinstance(v, int):
            v = float(v)
            cfg[key] = v
        if not isinstance(v, t):
            return "bad_type:" + key
        if t is str:
            if v not in lo:
                return "bad_value:" + key
            continue
        if v != v:  # NaN (JSON allows it): every comparison with it is false
            return "not_finite:" + key
        if v < lo or v > hi:
            return "out_of_range:" + key
    n = cfg["window"]
    if n & (n - 1):
        return "window_not_power_of_two"
    if rates is not None and cfg["rate_hz"] not in rates:
        return "rate_not_supported"
    if cfg["band_hi_hz"] * 2 > cfg["rate_hz"] or cfg["band_lo_hz"] >= cfg["band_hi_hz"]:
        return "band_vs_rate"
    if cfg["vel_clear_mm_s"] >= cfg["vel_alarm_mm_s"]:
        return "alarm_hysteresis"
    if cfg["run_off_g"] >= cfg["run_on_g"]:
        return "run_hysteresis"
    if cfg["alarm_report_s"] > cfg["report_s"]:
        return "alarm_report_s"
    if cfg["window"] / cfg["rate_hz"] > cfg["window_s"]:
        return "window_longer_than_period"
    return None


def merged(base, changes, rates=None):
    """(new config, None) or (None, reason). `base` is never modified: all or nothing."""
    if not isinstance(changes, dict) or not changes:
        return None, "bad_args"
    cfg = dict(base)
    for key in changes:
        if key not in SCHEMA:
            return None, "unknown_key:" + str(key)
        cfg[key] = changes[key]
    why = check(cfg, rates)
    if why:
        return None, why
    return cfg, None


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


def cfg_hash(cfg):
    """CRC-32 of the whole configuration, which the gateway compares with the one it wants.
    Floats count in thousandths (round(v * 1000)): a board with single-precision floats
    (RP2040) must hash what the gateway's doubles hash, and str() of a float differs."""
    parts = []
    for k in sorted(cfg):
        v = cfg[k]
        if isinstance(v, float):
            v = round(v * 1000)
        parts.append(k + "=" + str(v))
    return crc32(";".join(parts).encode())


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
