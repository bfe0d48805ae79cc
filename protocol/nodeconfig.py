"""A node's configuration: the keys, their defaults and bounds, the checks and the hash.

One source for both sides (runs on MicroPython and CPython): the firmware validates and applies
a configuration with it (firmware/config.py reads and writes config.json), and the gateway
derives each node's desired configuration and its hash with the same functions
(gateway/node_config.py), so the two can never disagree on what is valid or on the hash.
"""

try:  # annotations only; MicroPython has no typing module and never evaluates them
    from typing import Any
except ImportError:
    pass

from protocol.crc32 import crc32

DEFAULTS: "dict[str, Any]" = {
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
SCHEMA: "dict[str, Any]" = {
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


def check(cfg: "dict[str, Any]", rates: "Any" = None) -> "str | None":
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


def merged(base: "dict[str, Any]", changes: "Any", rates: "Any" = None) -> "tuple[Any, str | None]":
    """(new config, None) or (None, reason). `base` is never modified: all or nothing.
    (The config is typed Any: the firmware indexes it once the reason says it is there.)"""
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


def cfg_hash(cfg: "dict[str, Any]") -> int:
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
