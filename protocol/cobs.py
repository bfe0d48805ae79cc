"""Consistent Overhead Byte Stuffing: removes every 0x00 so 0x00 can delimit serial frames.

After line noise the receiver resynchronises at the next 0x00: a damaged frame costs
only itself. Overhead is at most one byte per 254 bytes, plus one.
"""

from protocol.errors import ProtocolError


def encode(data: bytes) -> bytes:
    out = bytearray()
    code_index = 0
    out.append(0)  # placeholder for the first code byte
    code = 1
    for b in data:
        if b == 0:
            out[code_index] = code
            code_index = len(out)
            out.append(0)
            code = 1
        else:
            out.append(b)
            code += 1
            if code == 0xFF:
                out[code_index] = code
                code_index = len(out)
                out.append(0)
                code = 1
    out[code_index] = code
    return bytes(out)


def decode(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise ProtocolError("cobs", "zero byte inside frame")
        end = i + code
        if end > n:
            raise ProtocolError("cobs", "code runs past the end")
        for j in range(i + 1, end):
            b = data[j]
            if b == 0:
                raise ProtocolError("cobs", "zero byte inside frame")
            out.append(b)
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)
