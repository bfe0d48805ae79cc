"""Events in words: what a node or the gateway reported, said as a service engineer would.

The store keeps events as codes with details (`alarm_danger {"zone": "D", ...}`); the page
never shows those. `describe()` turns one into a severity, a sentence and whether it is node
housekeeping (commands acknowledged, clock corrections, resent readings) that the asset page
hides unless asked (`?events=all`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple


class Worded(NamedTuple):
    severity: str  # alarm | warning | info
    text: str
    housekeeping: bool  # node/link bookkeeping: hidden by default


def _num(d: Mapping[str, Any], key: str, fmt: str = "{:.2f}") -> str:
    v = d.get(key)
    return fmt.format(v) if isinstance(v, int | float) else "?"


def _vel(d: Mapping[str, Any]) -> str:
    return _num(d, "vel_rms_mm_s") if "vel_rms_mm_s" in d else _num(d, "vel_mm_s")


_STATE = {"normal": "normal", "alert": "alert", "danger": "danger"}


def _alarm(level: str) -> Callable[[Mapping[str, Any]], str]:
    def text(d: Mapping[str, Any]) -> str:
        zone = f" (zone {d['zone']})" if d.get("zone") else ""
        was = _STATE.get(str(d.get("from", "")), "")
        since = f", was {was}" if was else ""
        if level == "normal":
            return f"Vibration back to normal: {_vel(d)} mm/s{zone}{since}."
        what = "Danger level" if level == "danger" else "Alert level"
        return f"Vibration {what.lower()}: {_vel(d)} mm/s{zone}{since}."

    return text


def _baseline(d: Mapping[str, Any]) -> str:
    base = d.get("baseline_mm_s")
    parts = [f"{_vel(d)} mm/s"] if "vel_rms_mm_s" in d else []
    if isinstance(base, int | float):
        parts.append(f"against a usual {base:.2f} mm/s")
    facts = ": " + " ".join(parts) if parts else ""
    why = str(d.get("reason") or "")
    why = f" ({why.strip('()')})" if why else ""
    return f"Vibration changed from its usual level{facts}{why}. Early sign of wear."


def _ranges(d: Mapping[str, Any]) -> str:
    r = d.get("ranges")
    if isinstance(r, list) and r and all(isinstance(x, list) and len(x) == 2 for x in r):
        n = sum(int(b) - int(a) + 1 for a, b in r)
        return f"{n} reading{'s' if n != 1 else ''}"
    return "some readings"


# (source, code) -> (severity, housekeeping, sentence from the detail): the one table of
# event severities and words (a new event code gets its line here). A node's codes and the
# gateway's are separate name spaces: a node that sends "alarm_danger" is not the gateway's
# vibration alarm and is said as an unknown node message (issue 15 item 15).
_GATEWAY: dict[str, tuple[str, bool, Callable[[Mapping[str, Any]], str]]] = {
    "alarm_alert": ("alarm", False, _alarm("alert")),
    "alarm_danger": ("alarm", False, _alarm("danger")),
    "alarm_normal": ("info", False, _alarm("normal")),
    "baseline_change": ("warning", False, _baseline),
    "death": ("warning", False, lambda d: "The sensor node went offline."),
    "lost": (
        "warning",
        False,
        lambda d: f"{_ranges(d)} lost for good: the node could not send them again.",
    ),
    "seq_jump": (
        "warning",
        False,
        lambda d: (
            "The node's message counter jumped: readings in between are not "
            "counted as lost (a restore or a replaced board)."
        ),
    ),
    "events_suppressed": (
        "warning",
        False,
        lambda d: f"The node sent too many messages: {d.get('count', '?')} were not stored.",
    ),
    "board_replaced": ("info", False, lambda d: "Sensor node board replaced."),
    "sensor_fault_alarm": (
        "alarm",
        False,
        lambda d: (
            "The sensor has been faulty for "
            f"{_num(d, 'fault_s', '{:.0f}')} s: the machine is not watched."
        ),
    ),
    "sensor_fault_clear": ("info", False, lambda d: "The sensor measures again."),
    "simulated_sensor": (
        "warning",
        False,
        lambda d: "This node runs a simulated sensor: its readings are invented (bench use only).",
    ),
    # Housekeeping: normal life of a node's link, hidden unless asked for.
    "clock_offset": (
        "info",
        True,
        lambda d: (
            f"Node clock {_num(d, 'offset_s', '{:+.0f}')} s off: the gateway sent it the time."
        ),
    ),
    "gap": (
        "info",
        True,
        lambda d: f"{_ranges(d)} missing in the stream: asked the node to send them again.",
    ),
    "reboot": ("info", True, lambda d: "Node restarted."),
}
_NODE: dict[str, tuple[str, bool, Callable[[Mapping[str, Any]], str]]] = {
    "alarm": ("alarm", False,
              lambda d: f"The sensor node's own vibration alarm: {_vel(d)} mm/s."),
    "alarm_on": ("alarm", False,
                 lambda d: f"The sensor node's own vibration alarm: {_vel(d)} mm/s."),
    "alarm_clear": ("info", False,
                    lambda d: f"The sensor node's vibration alarm cleared ({_vel(d)} mm/s)."),
    "sensor_fault": ("warning", False,
                     lambda d: "The accelerometer stopped answering: no readings until fixed."),
    "fault": ("warning", False, lambda d: "The sensor node reported a fault."),
    "sensor_ok": ("info", False, lambda d: "The accelerometer answers again."),
    "temp_fault": ("warning", False,
                   lambda d: f"Temperature sensor fault ({d.get('why', '?')}): no temperatures."),
    "temp_ok": ("info", False, lambda d: "The temperature sensor works again."),
    "ring_overflow": ("warning", False,
                      lambda d: "The node's store of unsent readings overflowed: oldest dropped."),
    "error": ("warning", False,
              lambda d: f"Node software error{': ' + str(d['what']) if d.get('what') else ''}."),
    # Housekeeping.
    "cmd_ok": ("info", True,
               lambda d: f"Node carried out the gateway's {d.get('name', '')} command."),
    "cmd_refused": ("info", True,
                    lambda d: f"Node refused a {d.get('name', '')} command ({d.get('why', '?')})."),
    "backlog": ("info", True,
                lambda d: f"Node is catching up: {d.get('frames', '?')} stored readings to send."),
}  # fmt: skip


def describe(code: str, detail: Mapping[str, Any] | None, source: str = "node") -> Worded:
    """The event in words. An unknown code is said plainly (never the raw detail)."""
    d = detail or {}
    hit = (_GATEWAY if source == "gateway" else _NODE).get(code)
    if hit is None:
        who = "Gateway" if source == "gateway" else "Node"
        return Worded("info", f"{who} reported \u201c{code.replace('_', ' ')}\u201d.", False)
    severity, housekeeping, text = hit
    return Worded(severity, text(d), housekeeping)


HOUSEKEEPING = tuple(
    [("gateway", k) for k, v in _GATEWAY.items() if v[1]]
    + [("node", k) for k, v in _NODE.items() if v[1]]
)
