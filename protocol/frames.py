"""Frame kinds of protocol v1: how each is laid out, encoded and validated.

Every frame is one msgpack array whose first five elements are common:

    [header, node_id, boot_id, seq, time, ...kind-specific fields]

header = VERSION * 16 + KIND (a positive fixint: one byte). A report carries its
fixed-width measurements in one little-endian block (a msgpack bin) so that a typical
report stays within 48 bytes; rarer frames use named maps. protocol/README.md is the
field reference; a test fails when a field here is missing there.
"""

try:  # annotations only; MicroPython has no typing module and never evaluates them
    from typing import Any
except ImportError:
    pass

import struct

from protocol import VERSION, msgpack_lite
from protocol.errors import ProtocolError

# Frame kinds.
REPORT = 1
BIRTH = 2
EVENT = 3
ACK = 4
COMMAND = 5
DEATH = 6
KIND_NAMES = {
    REPORT: "report",
    BIRTH: "birth",
    EVENT: "event",
    ACK: "ack",
    COMMAND: "command",
    DEATH: "death",
}

# Report state flags (bit values).
FLAG_RUNNING = 1
FLAG_ALARM = 2
FLAG_SATURATED = 4
FLAG_CLOCK_UNSYNCED = 8
FLAG_SENSOR_FAULT = 16
FLAG_DEFAULT_CONFIG = 32
FLAG_NAMES = {
    FLAG_RUNNING: "running",
    FLAG_ALARM: "alarm",
    FLAG_SATURATED: "saturated",
    FLAG_CLOCK_UNSYNCED: "clock_unsynced",
    FLAG_SENSOR_FAULT: "sensor_fault",
    FLAG_DEFAULT_CONFIG: "default_config",
}

# The report's measurement block: runtime_s u32, starts u32, acc_rms_mg 3*u16,
# vel_rms_mm_s_x100 3*u16, peak_mg u16, kurtosis_x100 i16, temp_c_x10 i16.
REPORT_BLOCK = "<II3H3HHhh"
REPORT_BLOCK_SIZE = 26
TEMP_NONE = -32768  # temperature not available

MAX_FRAME_BYTES = 512
MAX_NODE_ID = 32
MAX_U32 = 0xFFFFFFFF
U16 = 0xFFFF

RESET_CAUSES = ("power_on", "hard", "watchdog", "soft", "deep_sleep", "brownout", "unknown")
COMMAND_NAMES = ("config", "time", "resend", "bench", "reboot", "update")
UPDATE_BINARY = {"d": 256, "sig": 64}  # update args that may be bytes, and their maximum sizes
# Commands whose arguments are fixed: exactly these keys, each an unsigned integer.
# (config and bench take a map of settings, checked by the node against its schema.)
COMMAND_ARGS = {"time": ("t",), "resend": ("boot", "from", "to"), "reboot": ()}

# Named fields of each map-bodied kind: key -> (type, required).
BIRTH_FIELDS = {
    "fw": (str, True),
    "board": (str, True),
    "sensor": (str, True),
    "rate_hz": (int, True),
    "band_hz": (list, True),
    "cfg_hash": (int, True),
    "reset": (str, True),
    "runtime_s": (int, True),
    "starts": (int, True),
    "report_s": (int, True),
    "transport": (str, False),
    "ring_cap": (int, False),
    "life_s": (int, False),
    "window": (int, False),
    "kernels": (str, False),
    "slot": (int, False),
    "rollbacks": (int, False),
    "temp_source": (str, False),
    "bench": (bool, False),
    "heap_free": (int, False),
    "heap_max_block": (int, False),
    "rssi_dbm": (int, False),
}


def _u(value: "Any", limit: int, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError("bad_type", name + " must be an integer")
    if value < 0 or value > limit:
        raise ProtocolError("out_of_range", name)
    return value


def _node_id(value: "Any") -> str:
    if not isinstance(value, str):
        raise ProtocolError("bad_type", "node_id must be a string")
    if not 1 <= len(value) <= MAX_NODE_ID:
        raise ProtocolError("bad_node_id", "node_id length")
    for ch in value:
        if not (ch.isalpha() or ch.isdigit() or ch in "-_") or ord(ch) > 127:
            raise ProtocolError("bad_node_id", "node_id characters")
    return value


def _header(kind: int) -> int:
    return VERSION * 16 + kind


def _clamp_u16(x: float) -> "tuple[int, bool]":
    """Scaled value -> u16 and whether it had to be clipped."""
    n = int(x + 0.5) if x > 0 else 0
    if n > U16:
        return U16, True
    return n, False


def _clamp_i16(x: float) -> "tuple[int, bool]":
    n = int(x + 0.5) if x >= 0 else -int(-x + 0.5)
    if n > 32767:
        return 32767, True
    if n < -32767:
        return -32767, True
    return n, False


def _common(node_id: str, boot_id: int, seq: int, time_s: int) -> None:
    _node_id(node_id)
    _u(boot_id, MAX_U32, "boot_id")
    _u(seq, MAX_U32, "seq")
    _u(time_s, MAX_U32, "time")


# ---------------------------------------------------------------- encoders


def encode_report(
    node_id: str,
    boot_id: int,
    seq: int,
    time_s: int,
    flags: int,
    dropped: int,
    runtime_s: int,
    starts: int,
    acc_rms_g: "Any",
    vel_rms_mm_s: "Any",
    peak_g: float,
    kurtosis: float,
    temp_c: "float | None",
) -> bytes:
    """Physical values in (g, mm/s, excess kurtosis, degC or None) -> report bytes.

    Values beyond a field's range are clipped and the frame carries FLAG_SATURATED.
    """
    _common(node_id, boot_id, seq, time_s)
    sat = False
    ints = []
    for x in acc_rms_g:
        n, s = _clamp_u16(x * 1000.0)
        ints.append(n)
        sat = sat or s
    for x in vel_rms_mm_s:
        n, s = _clamp_u16(x * 100.0)
        ints.append(n)
        sat = sat or s
    if len(ints) != 6:
        raise ProtocolError("bad_type", "three axes expected")
    peak, s = _clamp_u16(peak_g * 1000.0)
    sat = sat or s
    kurt, s = _clamp_i16(kurtosis * 100.0)
    sat = sat or s
    temp = TEMP_NONE if temp_c is None else _clamp_i16(temp_c * 10.0)[0]
    if sat:
        flags |= FLAG_SATURATED
    return encode_report_raw(
        node_id, boot_id, seq, time_s, flags, dropped, runtime_s, starts, ints, peak, kurt, temp
    )


def encode_report_raw(
    node_id: str,
    boot_id: int,
    seq: int,
    time_s: int,
    flags: int,
    dropped: int,
    runtime_s: int,
    starts: int,
    six: "list[int]",
    peak: int,
    kurt: int,
    temp: int,
) -> bytes:
    """Wire-unit integers in -> report bytes (used by tests and by encode_report)."""
    _u(flags, 0xFF, "flags")
    _u(dropped, MAX_U32, "dropped")
    _u(runtime_s, MAX_U32, "runtime_s")
    _u(starts, MAX_U32, "starts")
    block = struct.pack(
        REPORT_BLOCK,
        runtime_s,
        starts,
        six[0],
        six[1],
        six[2],
        six[3],
        six[4],
        six[5],
        peak,
        kurt,
        temp,
    )
    return msgpack_lite.pack(
        [_header(REPORT), node_id, boot_id, seq, time_s, flags, dropped, block]
    )


def encode_birth(node_id: str, boot_id: int, time_s: int, info: "dict[str, Any]") -> bytes:
    """Birth is always seq 0 of its boot. `info` holds BIRTH_FIELDS."""
    _common(node_id, boot_id, 0, time_s)
    _check_birth(info)
    return msgpack_lite.pack([_header(BIRTH), node_id, boot_id, 0, time_s, info])


def encode_event(
    node_id: str, boot_id: int, seq: int, time_s: int, code: str, detail: "dict[str, Any]"
) -> bytes:
    _common(node_id, boot_id, seq, time_s)
    _check_event(code, detail)
    return msgpack_lite.pack([_header(EVENT), node_id, boot_id, seq, time_s, code, detail])


def encode_ack(node_id: str, boot_id: int, seq_upto: int, time_s: int) -> bytes:
    """Gateway -> node: every frame of `boot_id` with seq <= seq_upto is stored; release it."""
    _common(node_id, boot_id, seq_upto, time_s)
    return msgpack_lite.pack([_header(ACK), node_id, boot_id, seq_upto, time_s])


def encode_command(
    node_id: str, boot_id: int, cmd_id: int, time_s: int, name: str, args: "dict[str, Any]"
) -> bytes:
    """Gateway -> node. boot_id 0 means any boot; cmd_id is the gateway's command counter."""
    _common(node_id, boot_id, cmd_id, time_s)
    _check_command(name, args)
    return msgpack_lite.pack([_header(COMMAND), node_id, boot_id, cmd_id, time_s, name, args])


def encode_death(node_id: str, boot_id: int) -> bytes:
    """The MQTT last will: registered at connect, published by the broker if the node vanishes."""
    _common(node_id, boot_id, 0, 0)
    return msgpack_lite.pack([_header(DEATH), node_id, boot_id, 0, 0])


# ---------------------------------------------------------------- validation


def _check_small_map(value: "Any", name: str, max_keys: int = 32) -> None:
    if not isinstance(value, dict):
        raise ProtocolError("bad_type", name + " must be a map")
    if len(value) > max_keys:
        raise ProtocolError("oversize", name + " has too many keys")
    for key in value:
        if not isinstance(key, str) or len(key) > 32:
            raise ProtocolError("bad_type", name + " keys must be short strings")
        _check_key(key, name + " key")
        item = value[key]
        if isinstance(item, (list, tuple)):
            if len(item) > 16:
                raise ProtocolError("oversize", name + "." + key)
            for sub in item:
                _check_scalar(sub, name + "." + key)
        else:
            _check_scalar(item, name + "." + key)


_INF = float("inf")


def _check_scalar(value: "Any", name: str) -> None:
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, float):
        # NaN and infinities have no JSON form: the page and the API could not show them.
        if value != value or value == _INF or value == -_INF:
            raise ProtocolError("out_of_range", name + " must be a finite number")
        return
    if isinstance(value, str) and len(value) <= 64:
        if "\x00" in value:  # PostgreSQL cannot store a NUL in text: refused for both stores
            raise ProtocolError("bad_text", name + " has a NUL character")
        return
    raise ProtocolError("bad_type", name + " must be a scalar or short string")


def _check_key(value: str, name: str) -> None:
    """Map keys are names: no control characters (a NUL cannot be stored in PostgreSQL at all,
    the others only hide or garble what the page shows)."""
    for ch in value:
        if ord(ch) < 32 or ord(ch) == 127:
            raise ProtocolError("bad_text", name + " has a control character")


def _check_event_code(code: "Any") -> None:
    """1-32 of a-z 0-9 _ : the gateway namespaces node codes as `node:<code>` on the page, so a
    node cannot spell a code that passes for the gateway's own."""
    if not isinstance(code, str) or not 1 <= len(code) <= 32:
        raise ProtocolError("bad_type", "event code")
    for ch in code:
        if not ("a" <= ch <= "z" or "0" <= ch <= "9" or ch == "_"):
            raise ProtocolError("bad_text", "event code characters")


def _check_birth(info: "Any") -> None:
    _check_small_map(info, "birth")
    for key in BIRTH_FIELDS:
        want, required = BIRTH_FIELDS[key]
        if key not in info:
            if required:
                raise ProtocolError("missing_field", "birth." + key)
            continue
        value = info[key]
        if not isinstance(value, want) or (want is not bool and isinstance(value, bool)):
            raise ProtocolError("bad_type", "birth." + key)
    for key in ("rate_hz", "cfg_hash", "runtime_s", "starts", "report_s"):
        _u(info[key], MAX_U32, "birth." + key)
    band = info["band_hz"]
    if len(band) != 2 or not all(isinstance(b, int) and 0 <= b <= 100000 for b in band):
        raise ProtocolError("out_of_range", "birth.band_hz")
    if info["reset"] not in RESET_CAUSES:
        raise ProtocolError("out_of_range", "birth.reset")


def _check_event(code: "Any", detail: "Any") -> None:
    _check_event_code(code)
    _check_small_map(detail, "event detail")


def _check_command(name: "Any", args: "Any") -> None:
    if name not in COMMAND_NAMES:
        raise ProtocolError("unknown_command", str(name))
    if name == "update" and isinstance(args, dict):
        # The one command with binary values: a build chunk `d` and the signature `sig`.
        scalars = {}
        for key in args:
            v = args[key]
            if key in UPDATE_BINARY and isinstance(v, (bytes, bytearray)):
                if len(v) > UPDATE_BINARY[key]:
                    raise ProtocolError("oversize", "update." + key)
            else:
                scalars[key] = v
        args = scalars
    _check_small_map(args, "command args")
    if name in COMMAND_ARGS:
        keys = COMMAND_ARGS[name]
        if len(args) != len(keys):
            raise ProtocolError("bad_args", name)
        for key in keys:
            if key not in args:
                raise ProtocolError("bad_args", name + "." + key)
            _u(args[key], MAX_U32, name + "." + key)
    if name == "resend" and args["from"] > args["to"]:
        raise ProtocolError("bad_args", "resend range")


def parse(obj: "Any") -> "dict[str, Any]":
    """A decoded msgpack object -> a dict of named fields (wire units), or ProtocolError.

    The same validation runs on the node (for commands and acks) and on the gateway.
    """
    if not isinstance(obj, (list, tuple)) or len(obj) < 5:
        raise ProtocolError("malformed", "frame must be an array of at least 5")
    header = obj[0]
    if not isinstance(header, int) or isinstance(header, bool) or header < 0:
        raise ProtocolError("malformed", "header")
    version = header >> 4
    kind = header & 0x0F
    if version != VERSION:
        raise ProtocolError("unknown_version", str(version))
    if kind not in KIND_NAMES:
        raise ProtocolError("unknown_kind", str(kind))
    frame: dict[str, Any] = {
        "v": version,
        "kind": KIND_NAMES[kind],
        "node": _node_id(obj[1]),
        "boot": _u(obj[2], MAX_U32, "boot_id"),
        "seq": _u(obj[3], MAX_U32, "seq"),
        "time": _u(obj[4], MAX_U32, "time"),
    }
    rest = obj[5:]
    if kind == REPORT:
        _parse_report(rest, frame)
    elif kind == BIRTH:
        if len(rest) != 1:
            raise ProtocolError("malformed", "birth length")
        if frame["seq"] != 0:
            raise ProtocolError("out_of_range", "birth seq must be 0")
        _check_birth(rest[0])
        frame["info"] = rest[0]
    elif kind == EVENT:
        if len(rest) != 2:
            raise ProtocolError("malformed", "event length")
        _check_event(rest[0], rest[1])
        frame["code"] = rest[0]
        frame["detail"] = rest[1]
    elif kind == COMMAND:
        if len(rest) != 2:
            raise ProtocolError("malformed", "command length")
        _check_command(rest[0], rest[1])
        frame["name"] = rest[0]
        frame["args"] = rest[1]
    elif len(rest) != 0:  # ACK and DEATH have only the common fields
        raise ProtocolError("malformed", frame["kind"] + " length")
    return frame


def _parse_report(rest: "Any", frame: "dict[str, Any]") -> None:
    if len(rest) != 3:
        raise ProtocolError("malformed", "report length")
    frame["flags"] = _u(rest[0], 0xFF, "flags")
    frame["dropped"] = _u(rest[1], MAX_U32, "dropped")
    block = rest[2]
    if not isinstance(block, (bytes, bytearray)):
        raise ProtocolError("bad_type", "report block must be bin")
    if len(block) != REPORT_BLOCK_SIZE:
        raise ProtocolError("malformed", "report block size")
    v = struct.unpack(REPORT_BLOCK, block)
    frame["runtime_s"] = v[0]
    frame["starts"] = v[1]
    frame["acc_rms_mg"] = [v[2], v[3], v[4]]
    frame["vel_rms_mm_s_x100"] = [v[5], v[6], v[7]]
    frame["peak_mg"] = v[8]
    frame["kurtosis_x100"] = v[9]
    frame["temp_c_x10"] = None if v[10] == TEMP_NONE else v[10]


def decode(data: bytes) -> "dict[str, Any]":
    """Bytes -> validated frame dict, with the pure-Python decoder (node side, vectors)."""
    if len(data) > MAX_FRAME_BYTES:
        raise ProtocolError("oversize", f"frame over {MAX_FRAME_BYTES} bytes")
    # binary values up to the largest update chunk; parse allows them only there
    return parse(msgpack_lite.unpack(data, max_len=64, max_depth=3, max_bin=256))


def encode(frame: "dict[str, Any]") -> bytes:
    """Frame dict (as parse returns) -> bytes: the inverse of decode, used by test vectors."""
    kind = frame["kind"]
    node, boot, seq, t = frame["node"], frame["boot"], frame["seq"], frame["time"]
    if kind == "report":
        temp = frame["temp_c_x10"]
        return encode_report_raw(
            node,
            boot,
            seq,
            t,
            frame["flags"],
            frame["dropped"],
            frame["runtime_s"],
            frame["starts"],
            list(frame["acc_rms_mg"]) + list(frame["vel_rms_mm_s_x100"]),
            frame["peak_mg"],
            frame["kurtosis_x100"],
            TEMP_NONE if temp is None else temp,
        )
    if kind == "birth":
        return encode_birth(node, boot, t, frame["info"])
    if kind == "event":
        return encode_event(node, boot, seq, t, frame["code"], frame["detail"])
    if kind == "ack":
        return encode_ack(node, boot, seq, t)
    if kind == "command":
        return encode_command(node, boot, seq, t, frame["name"], frame["args"])
    if kind == "death":
        return encode_death(node, boot)
    raise ProtocolError("unknown_kind", str(kind))
