"""CRC-32 (IEEE 802.3, as zlib/binascii). Uses the C version where the VM has one."""

try:
    from binascii import crc32 as _native_crc32
except ImportError:  # some MicroPython builds leave binascii.crc32 out
    _native_crc32 = None  # type: ignore[assignment]  # fallback below

_TABLE: "list[int] | None" = None


def _table() -> "list[int]":
    global _TABLE
    if _TABLE is None:
        table = []
        for n in range(256):
            c = n
            for _ in range(8):
                c = (0xEDB88320 ^ (c >> 1)) if (c & 1) else (c >> 1)
            table.append(c)
        _TABLE = table
    return _TABLE


def crc32_pure(data: bytes, crc: int = 0) -> int:
    """Table-driven CRC-32; identical results to binascii.crc32."""
    table = _table()
    crc = crc ^ 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc32(data: bytes, crc: int = 0) -> int:
    if _native_crc32 is not None:
        return _native_crc32(data, crc) & 0xFFFFFFFF
    return crc32_pure(data, crc)
