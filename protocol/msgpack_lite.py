"""A small msgpack encoder and bounded decoder for the node (MicroPython has no msgpack).

It covers the subset the protocol uses: nil, bool, int (to 64 bits), float, str, bin,
array and map. Encoding picks the smallest form, as the reference implementation does,
and writes map keys sorted, so every VM produces the same bytes. Floats are always written
as float32 (`ca`): a double-precision VM rounds to float32 and a single-precision board
already holds a float32, so both produce the same four bytes (a float64 of a float32 value
would differ from the double's). The decoder reads float32 and float64 (frames of nodes
before this rule). It enforces size and depth limits because commands arrive from the
network.
"""

try:  # annotations only; MicroPython has no typing module and never evaluates them
    from typing import Any
except ImportError:
    pass

import struct

from protocol.errors import ProtocolError


def pack(obj: "Any") -> bytes:
    out = bytearray()
    _pack_into(out, obj)
    return bytes(out)


def _pack_int(out: bytearray, n: int) -> None:
    if 0 <= n <= 0x7F:
        out.append(n)
    elif -32 <= n < 0:
        out.append(n & 0xFF)
    elif 0 <= n <= 0xFF:
        out.append(0xCC)
        out.append(n)
    elif 0 <= n <= 0xFFFF:
        out.extend(struct.pack(">BH", 0xCD, n))
    elif 0 <= n <= 0xFFFFFFFF:
        out.extend(struct.pack(">BI", 0xCE, n))
    elif 0 <= n <= 0xFFFFFFFFFFFFFFFF:
        out.extend(struct.pack(">BQ", 0xCF, n))
    elif -0x80 <= n < 0:
        out.extend(struct.pack(">Bb", 0xD0, n))
    elif -0x8000 <= n < 0:
        out.extend(struct.pack(">Bh", 0xD1, n))
    elif -0x80000000 <= n < 0:
        out.extend(struct.pack(">Bi", 0xD2, n))
    elif -0x8000000000000000 <= n < 0:
        out.extend(struct.pack(">Bq", 0xD3, n))
    else:
        raise ProtocolError("out_of_range", "integer beyond 64 bits")


def _pack_float(out: bytearray, x: float) -> None:
    """float32 on every VM (see the module doc). NaN and infinities have no portable bytes
    (their sign and payload bits differ between VMs) and no protocol field needs them."""
    if x - x != 0.0:  # NaN or +-inf, written so that a single-precision VM agrees
        raise ProtocolError("out_of_range", "float not finite")
    try:
        out.extend(struct.pack(">Bf", 0xCA, x))
    except OverflowError:  # CPython: a double beyond float32's range
        raise ProtocolError("out_of_range", "float beyond float32") from None


def _pack_len(
    out: bytearray, n: int, fix_base: int, fix_max: int, codes: "tuple[int | None, int, int]"
) -> None:
    if n <= fix_max:
        out.append(fix_base | n)
    elif codes[0] is not None and n <= 0xFF:
        out.append(codes[0])
        out.append(n)
    elif n <= 0xFFFF:
        out.extend(struct.pack(">BH", codes[1], n))
    else:
        out.extend(struct.pack(">BI", codes[2], n))


def _pack_into(out: bytearray, obj: "Any") -> None:
    if obj is None:
        out.append(0xC0)
    elif obj is True:
        out.append(0xC3)
    elif obj is False:
        out.append(0xC2)
    elif isinstance(obj, int):
        _pack_int(out, obj)
    elif isinstance(obj, float):
        _pack_float(out, obj)
    elif isinstance(obj, str):
        data = obj.encode("utf-8")
        _pack_len(out, len(data), 0xA0, 31, (0xD9, 0xDA, 0xDB))
        out.extend(data)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        n = len(obj)
        if n <= 0xFF:
            out.append(0xC4)
            out.append(n)
        elif n <= 0xFFFF:
            out.extend(struct.pack(">BH", 0xC5, n))
        else:
            out.extend(struct.pack(">BI", 0xC6, n))
        out.extend(obj)
    elif isinstance(obj, (list, tuple)):
        _pack_len(out, len(obj), 0x90, 15, (None, 0xDC, 0xDD))
        for item in obj:
            _pack_into(out, item)
    elif isinstance(obj, dict):
        _pack_len(out, len(obj), 0x80, 15, (None, 0xDE, 0xDF))
        # Keys in sorted order: MicroPython dicts do not keep insertion order, and a
        # canonical form gives the same bytes (and config hash) on every VM.
        for key in sorted(obj, key=_key_order):
            _pack_into(out, key)
            _pack_into(out, obj[key])
    else:
        raise ProtocolError("bad_type", "cannot encode " + str(type(obj)))


def _key_order(key: "Any") -> "tuple[int, int, str]":
    return (0, key, "") if isinstance(key, int) else (1, 0, str(key))


class _Reader:
    def __init__(self, data: bytes, max_len: int, max_depth: int, max_bin: int = -1) -> None:
        self.data = data
        self.pos = 0
        self.max_len = max_len
        self.max_depth = max_depth
        self.max_bin = max_len if max_bin < 0 else max_bin

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise ProtocolError("malformed", "truncated msgpack")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def unpack_fmt(self, fmt: str, size: int) -> "Any":
        return struct.unpack(fmt, self.take(size))[0]

    def length(self, n: int) -> int:
        if n > self.max_len:
            raise ProtocolError("oversize", "container or string too long")
        return n

    def bin_length(self, n: int) -> int:
        if n > self.max_bin:
            raise ProtocolError("oversize", "binary too long")
        return n

    def str_(self, n: int) -> str:
        try:
            return str(self.take(self.length(n)), "utf-8")
        except UnicodeError:
            raise ProtocolError("malformed", "invalid utf-8") from None

    def obj(self, depth: int) -> "Any":
        if depth > self.max_depth:
            raise ProtocolError("oversize", "nesting too deep")
        b = self.byte()
        if b <= 0x7F:
            return b
        if b >= 0xE0:
            return b - 0x100
        if 0xA0 <= b <= 0xBF:
            return self.str_(b & 0x1F)
        if 0x90 <= b <= 0x9F:
            return self.array(b & 0x0F, depth)
        if 0x80 <= b <= 0x8F:
            return self.map(b & 0x0F, depth)
        if b == 0xC0:
            return None
        if b == 0xC2:
            return False
        if b == 0xC3:
            return True
        if b == 0xCC:
            return self.byte()
        if b == 0xCD:
            return self.unpack_fmt(">H", 2)
        if b == 0xCE:
            return self.unpack_fmt(">I", 4)
        if b == 0xCF:
            return self.unpack_fmt(">Q", 8)
        if b == 0xD0:
            return self.unpack_fmt(">b", 1)
        if b == 0xD1:
            return self.unpack_fmt(">h", 2)
        if b == 0xD2:
            return self.unpack_fmt(">i", 4)
        if b == 0xD3:
            return self.unpack_fmt(">q", 8)
        if b == 0xCA:
            return self.unpack_fmt(">f", 4)
        if b == 0xCB:
            return self.unpack_fmt(">d", 8)
        if b == 0xD9:
            return self.str_(self.byte())
        if b == 0xDA:
            return self.str_(self.unpack_fmt(">H", 2))
        if b == 0xDB:
            return self.str_(self.unpack_fmt(">I", 4))
        if b == 0xC4:
            return bytes(self.take(self.bin_length(self.byte())))
        if b == 0xC5:
            return bytes(self.take(self.bin_length(self.unpack_fmt(">H", 2))))
        if b == 0xC6:
            return bytes(self.take(self.bin_length(self.unpack_fmt(">I", 4))))
        if b == 0xDC:
            return self.array(self.unpack_fmt(">H", 2), depth)
        if b == 0xDD:
            return self.array(self.unpack_fmt(">I", 4), depth)
        if b == 0xDE:
            return self.map(self.unpack_fmt(">H", 2), depth)
        if b == 0xDF:
            return self.map(self.unpack_fmt(">I", 4), depth)
        raise ProtocolError("malformed", f"unsupported msgpack type 0x{b:02x}")

    def array(self, n: int, depth: int) -> "list[Any]":
        n = self.length(n)
        return [self.obj(depth + 1) for _ in range(n)]

    def map(self, n: int, depth: int) -> "dict[Any, Any]":
        n = self.length(n)
        out = {}
        for _ in range(n):
            key = self.obj(depth + 1)
            if not isinstance(key, (str, int)):
                raise ProtocolError("bad_type", "map key must be str or int")
            out[key] = self.obj(depth + 1)
        return out


def unpack(data: bytes, max_len: int = 64, max_depth: int = 4, max_bin: int = -1) -> "Any":
    """Decode exactly one object; trailing bytes, oversize or deep input raise ProtocolError.
    `max_bin` limits binary values (default: max_len)."""
    reader = _Reader(data, max_len, max_depth, max_bin)
    obj = reader.obj(0)
    if reader.pos != len(data):
        raise ProtocolError("malformed", "trailing bytes after frame")
    return obj
