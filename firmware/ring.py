"""Store-and-forward ring of unacknowledged frames: RAM first, spilling to flash segments.

- Frames are kept in (boot, seq) order and released only by the gateway's ack
  (ack(boot, seq): every stored frame of that boot with seq <= seq).
- RAM holds `ram_cap` frames. When it is full, the oldest `seg_frames` move to a flash
  segment file q<boot>_<first seq>.bin (records: u16 len, u32 seq, payload, u32 CRC-32).
- At most `max_segs` segments: beyond that the oldest segment is deleted and its unreleased
  frames are counted; with no flash (max_segs == 0) the oldest RAM frame is dropped.
  `dropped` counts this boot's frames dropped before they were ever handed to the transport:
  exactly the frames the gateway can never see. Frames dropped after a send that was not
  acked yet go to `dropped_sent` (the gateway most likely has them), older boots' frames to
  `dropped_prev`.
- reserve() makes room *before* the caller encodes a frame, so the drop count carried in a
  report already includes every frame dropped to make room for it: after report seq S, the
  gateway's gap among this boot's seqs < S equals the report's dropped count exactly.
- Segments from earlier boots found at start-up are sent first (oldest boot first).
- Sending uses a cursor (the last key sent); rewind() restarts from the oldest unreleased
  frame (after a reconnect, an ack timeout or a resend command).
"""

import struct

from protocol.crc32 import crc32

_REC = "<HI"


def _key_gt(b1, s1, b2, s2):
    return b1 > b2 or (b1 == b2 and s1 > s2)


class Segment:
    __slots__ = ("name", "boot", "first", "last", "count", "acked")

    def __init__(self, name, boot, first, last, count):
        self.name = name
        self.boot = boot
        self.first = first
        self.last = last
        self.count = count
        self.acked = -1  # frames with seq <= acked are released


def pack_segment(items):
    out = bytearray()
    for seq, frame in items:
        head = struct.pack(_REC, len(frame), seq)
        out += head
        out += frame
        out += struct.pack("<I", crc32(head[2:] + frame))
    return bytes(out)


def parse_segment(data):
    """Segment bytes -> list of (seq, frame); stops at the first torn or corrupt record."""
    items = []
    i = 0
    n = len(data) if data else 0
    while i + 6 <= n:
        ln, seq = struct.unpack_from(_REC, data, i)
        end = i + 6 + ln + 4
        if end > n:
            break
        frame = bytes(data[i + 6 : i + 6 + ln])
        crc = struct.unpack_from("<I", data, i + 6 + ln)[0]
        if crc != crc32(data[i + 2 : i + 6] + frame):
            break
        items.append((seq, frame))
        i = end
    return items


class Ring:
    def __init__(self, boot_id, ram_cap=32, fs=None, seg_frames=16, max_segs=8):
        self.boot = boot_id
        self.cap = ram_cap
        self.fs = fs
        self.seg_frames = seg_frames if seg_frames < ram_cap else ram_cap
        self.max_segs = max_segs if fs is not None else 0
        self._seqs = [0] * ram_cap
        self._frames = [None] * ram_cap
        self._head = 0  # index of the oldest RAM frame
        self._n = 0
        self.segs = []
        self.dropped = 0
        self.dropped_prev = 0
        self.dropped_sent = 0
        self._hw = -1  # highest seq of this boot ever handed to the transport
        self.spilled = 0
        self._cb = -1  # cursor: last (boot, seq) handed out
        self._cs = -1
        self._cache_name = None
        self._cache = None
        if fs is not None:
            self._scan()

    # ------------------------------------------------------------ flash segments

    def _scan(self):
        found = []
        for name in self.fs.listdir():
            if not (name.startswith("q") and name.endswith(".bin") and "_" in name):
                continue
            try:
                b, f = name[1:-4].split("_")
                found.append((int(b), int(f), name))
            except ValueError:
                continue
        found.sort()
        for b, f, name in found:
            items = parse_segment(self.fs.read(name))
            if not items or b >= self.boot:
                self.fs.remove(name)
                continue
            self.segs.append(Segment(name, b, items[0][0], items[-1][0], len(items)))

    def _spill(self):
        k = self.seg_frames if self.seg_frames < self._n else self._n
        if k <= 0:
            return
        if len(self.segs) >= self.max_segs:
            self._drop_segment()
        items = []
        for _ in range(k):
            items.append((self._seqs[self._head], self._frames[self._head]))
            self._pop()
        name = "q%d_%d.bin" % (self.boot, items[0][0])
        self.fs.write(name, pack_segment(items))
        self.segs.append(Segment(name, self.boot, items[0][0], items[-1][0], k))
        self.spilled += k

    def _drop_segment(self):
        s = self.segs.pop(0)
        for seq, _ in self._seg_items(s):
            if seq > s.acked:
                self._count_drop(s.boot, seq)
        self.fs.remove(s.name)
        if self._cache_name == s.name:
            self._cache_name = None
            self._cache = None

    def _seg_items(self, s):
        if self._cache_name != s.name:
            self._cache = parse_segment(self.fs.read(s.name))
            self._cache_name = s.name
        return self._cache

    # ------------------------------------------------------------ RAM

    def _count_drop(self, boot, seq):
        if boot != self.boot:
            self.dropped_prev += 1
        elif seq <= self._hw:
            self.dropped_sent += 1
        else:
            self.dropped += 1

    def _pop(self):
        self._frames[self._head] = None
        self._head = (self._head + 1) % self.cap
        self._n -= 1

    def reserve(self):
        """Make room for one more frame (spill or drop the oldest). Call before encoding."""
        if self._n < self.cap:
            return
        if self.max_segs > 0:
            self._spill()
        else:
            self._count_drop(self.boot, self._seqs[self._head])
            self._pop()

    def push(self, seq, frame):
        self.reserve()
        i = (self._head + self._n) % self.cap
        self._seqs[i] = seq
        self._frames[i] = frame
        self._n += 1

    def __len__(self):
        n = self._n
        for s in self.segs:
            n += s.count
        return n

    def pending(self):
        """Unreleased frames (segments counted without their released part)."""
        n = self._n
        for s in self.segs:
            for seq, _ in self._seg_items(s):
                if seq > s.acked:
                    n += 1
        return n

    # ------------------------------------------------------------ acks and sending

    def ack(self, boot, seq):
        """Release every stored frame of `boot` with seq <= `seq`; returns how many."""
        released = 0
        keep = []
        for s in self.segs:
            if s.boot == boot and seq >= s.first:
                if seq >= s.last:
                    released += s.count if s.acked < s.first else s.last - s.acked
                    self.fs.remove(s.name)
                    continue
                if seq > s.acked:
                    released += seq - (s.acked if s.acked >= s.first else s.first - 1)
                    s.acked = seq
            keep.append(s)
        self.segs = keep
        if boot == self.boot:
            while self._n and self._seqs[self._head] <= seq:
                self._pop()
                released += 1
        return released

    def rewind(self):
        self._cb = -1
        self._cs = -1

    def rewind_to(self, boot, seq):
        """Send again from (boot, seq) on (frames before it are left alone)."""
        self._cb = boot
        self._cs = seq - 1

    def peek(self):
        """The next frame to send after the cursor: (boot, seq, frame) or None."""
        cb = self._cb
        cs = self._cs
        for s in self.segs:
            if not _key_gt(s.boot, s.last, cb, cs):
                continue
            for seq, frame in self._seg_items(s):
                if seq > s.acked and _key_gt(s.boot, seq, cb, cs):
                    return s.boot, seq, frame
        for j in range(self._n):
            i = (self._head + j) % self.cap
            if _key_gt(self.boot, self._seqs[i], cb, cs):
                return self.boot, self._seqs[i], self._frames[i]
        return None

    def mark_sent(self, boot, seq):
        self._cb = boot
        self._cs = seq
        if boot == self.boot and seq > self._hw:
            self._hw = seq
