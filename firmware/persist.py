"""Power-safe counters: two record slots (A/B), each with a generation number and a CRC-32.

A save writes the slot that does not hold the newest valid record, so a cut in the middle of
a write (torn or truncated file) leaves the other slot intact: loading picks the valid record
with the highest generation. Counters therefore never go backwards, never jump forward, and a
cut loses at most the time since the previous save. Saves are rate-limited by the caller
(Runtime.due/save: at most one per `save_s`, default 60 s).

Record format (version 1, 32 bytes, little endian). The byte after the version was padding
(always 0) in the first firmware; it is now a flags byte, bit 0 = the machine was running at
the save. Old records therefore load as "not running" (what the old firmware assumed) and an
old firmware reading a new record ignores the flags: both directions stay compatible, so the
version stays 1. Bits 1..7 are reserved (written 0, ignored on load).
"""

import struct

from protocol.crc32 import crc32

MAGIC = 0x4B5A  # "KZ"
# magic u16, version u8, flags u8, generation u32, boot_id u32, runtime_s u32, starts u32,
# life_s u32, crc32 u32 (over the preceding bytes)
FMT = "<HBBIIIII"
BODY = struct.calcsize(FMT)
SIZE = BODY + 4
SLOTS = ("rt_a.bin", "rt_b.bin")
F_RUNNING = 0x01


class Record:
    __slots__ = ("gen", "boot_id", "runtime_s", "starts", "life_s", "running")

    def __init__(self, gen=0, boot_id=0, runtime_s=0, starts=0, life_s=0, running=False):
        self.gen = gen
        self.boot_id = boot_id
        self.runtime_s = runtime_s
        self.starts = starts
        self.life_s = life_s
        self.running = running

    def pack(self):
        flags = F_RUNNING if self.running else 0
        body = struct.pack(
            FMT, MAGIC, 1, flags, self.gen, self.boot_id, self.runtime_s, self.starts, self.life_s
        )
        return body + struct.pack("<I", crc32(body))

    @staticmethod
    def unpack(data):
        """Bytes -> Record, or None if short, torn or corrupted."""
        if data is None or len(data) != SIZE:
            return None
        body = data[:BODY]
        if struct.unpack("<I", data[BODY:])[0] != crc32(body):
            return None
        v = struct.unpack(FMT, body)
        if v[0] != MAGIC or v[1] != 1:
            return None
        return Record(v[3], v[4], v[5], v[6], v[7], bool(v[2] & F_RUNNING))


class Store:
    def __init__(self, fs):
        self.fs = fs
        self.slot = -1  # slot holding the newest valid record
        self.gen = 0
        self.saves = 0

    def load(self):
        best = None
        for i in range(2):
            r = Record.unpack(self.fs.read(SLOTS[i]))
            if r is not None and (best is None or r.gen > best.gen):
                best = r
                self.slot = i
        if best is None:
            best = Record()
            self.slot = -1
        self.gen = best.gen
        return best

    def save(self, rec):
        """Write rec to the other slot. May raise (a power cut in tests)."""
        rec.gen = self.gen + 1
        target = 1 if self.slot == 0 else 0
        self.fs.write(SLOTS[target], rec.pack())
        self.gen = rec.gen
        self.slot = target
        self.saves += 1
