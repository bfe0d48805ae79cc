"""Per-(node, boot) sequence bookkeeping and per-node clock offsets. Pure logic, no IO.

Seq semantics (protocol v1): one counter per (node, boot); birth is seq 0; a new boot starts a
new counter, so a reboot is never a gap. `contig` is the highest seq such that every seq up to
it is stored or given up as lost: it is what the gateway acks.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field

from gateway.store.api import SeqState

Range = tuple[int, int]


def to_ranges(values: set[int] | list[int]) -> tuple[Range, ...]:
    out: list[Range] = []
    for v in sorted(values):
        if out and out[-1][1] + 1 == v:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return tuple(out)


@dataclass
class ResendRequest:
    first: int
    last: int
    sent_at: float
    attempts: int = 1
    answered_at: float | None = None


@dataclass
class SeqTracker:
    node_id: str
    boot_id: int
    contig: int = -1
    max_seq: int = -1
    above: set[int] = field(default_factory=set)  # received or lost seqs > contig
    lost: list[Range] = field(default_factory=list)
    dropped: int = 0  # highest `dropped` reported in this boot
    dropped_explained: int = 0  # seqs already marked lost on the strength of `dropped`
    gap_since: float | None = None
    gap_counted_upto: int = -1
    resend: ResendRequest | None = None
    acked: int = -1  # highest contig acked after a commit
    last_reack: float = 0.0
    touched: float = 0.0
    jumps: list[Range] = field(default_factory=list)  # discontinuities (not counted as lost)

    # ---- accepting frames
    def is_lost(self, seq: int) -> bool:
        return any(a <= seq <= b for a, b in self.lost)

    def in_jump(self, seq: int) -> bool:
        return any(a <= seq <= b for a, b in self.jumps)

    def accept(self, seq: int, now: float) -> bool:
        """Record seq; False if it is a duplicate. A seq once given up as lost is accepted."""
        self.touched = now
        if seq <= self.contig or seq in self.above:
            if not self.is_lost(seq):
                return False
            self._unlose(seq)
            if seq > self.contig:
                return True  # stays in `above`
            return True
        if self.resend is not None and self.resend.first <= seq <= self.resend.last:
            self.resend.answered_at = now
        if seq > self.max_seq:
            self.max_seq = seq
        if seq == self.contig + 1:
            self.contig = seq
            above = self.above
            while self.contig + 1 in above:
                self.contig += 1
                above.discard(self.contig)
        else:
            self.above.add(seq)
        if self.contig >= self.max_seq:
            self.gap_since = None
            self.resend = None
        return True

    def _unlose(self, seq: int) -> None:
        out: list[Range] = []
        for a, b in self.lost:
            if a <= seq <= b:
                if a < seq:
                    out.append((a, seq - 1))
                if seq < b:
                    out.append((seq + 1, b))
            else:
                out.append((a, b))
        self.lost = out

    # ---- gaps
    def missing(self, limit: int = 64) -> list[Range]:
        """Seq ranges between contig and max_seq that are neither received nor lost."""
        out: list[Range] = []
        start = self.contig + 1
        for v in sorted(self.above):
            if v > start:
                out.append((start, v - 1))
                if len(out) >= limit:
                    return out
            start = v + 1
        if start <= self.max_seq:
            out.append((start, self.max_seq))
        return out

    def mark_lost(self, ranges: list[Range]) -> int:
        """Give up on these seq ranges; returns how many seqs were marked."""
        n = 0
        for a, b in ranges:
            if b - a > 1_000_000:  # keep `above` bounded: a jump this large is lost wholesale
                self.lost.append((a, b))
                n += b - a + 1
                if a == self.contig + 1:
                    self.contig = b
                continue
            for s in range(a, b + 1):
                if s > self.contig and s not in self.above:
                    self.above.add(s)
                    n += 1
            self.lost.append((a, b))
        self.lost = list(to_ranges_merge(self.lost))[-64:]
        above = self.above
        while self.contig + 1 in above:
            self.contig += 1
            above.discard(self.contig)
        if self.contig >= self.max_seq:
            self.gap_since = None
            self.resend = None
        return n

    # ---- persistence
    def snapshot(self, now: float) -> SeqState:
        return SeqState(
            self.node_id,
            self.boot_id,
            self.contig,
            self.max_seq,
            to_ranges(self.above),
            tuple(self.lost),
            self.dropped,
            now,
        )

    @classmethod
    def restore(cls, s: SeqState) -> SeqTracker:
        t = cls(s.node_id, s.boot_id, contig=s.contig, max_seq=s.max_seq)
        for a, b in s.above:
            t.above.update(range(a, b + 1))
        t.lost = list(s.lost)
        t.dropped = s.dropped
        t.dropped_explained = s.dropped
        t.acked = s.contig
        t.touched = s.updated
        return t


def to_ranges_merge(ranges: list[Range]) -> tuple[Range, ...]:
    out: list[Range] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return tuple(out)


class ClockTracker:
    """Clock offset of one boot: median of recent (receive - node time) of live frames.

    A node's clock can step: a `time` command sets an uptime clock to wall time (a jump of
    decades), NTP corrects a drifted one. The median would take half a window of frames to
    follow, and every frame in between would be "corrected" by the old offset into the wrong
    year. So a live frame whose difference is more than `step_s` away from the offset is not
    folded into the median; `step_confirm` such frames that agree with each other replace the
    window (the clock has stepped), and until then `agrees()` tells the caller not to trust
    the offset for that frame.
    """

    def __init__(self, window: int = 31, step_s: float = 300.0, step_confirm: int = 3) -> None:
        self.diffs: deque[float] = deque(maxlen=window)
        self._offset: float | None = None
        self._n = 0
        self.step_s = step_s
        self.step_confirm = step_confirm
        self._pending: list[float] = []
        self.steps = 0  # clock steps seen (for the logs and tests)

    def agrees(self, recv_time: float, node_time: int) -> bool:
        """Does this frame's clock fit the tracked offset (no step in between)?"""
        off = self._offset
        return off is None or abs((recv_time - node_time) - off) <= self.step_s

    def add(self, recv_time: float, node_time: int) -> None:
        d = recv_time - node_time
        if not self.agrees(recv_time, node_time):
            if self._pending and abs(d - self._pending[0]) > self.step_s:
                self._pending.clear()  # an outlier, not a consistent new clock
            self._pending.append(d)
            if len(self._pending) >= self.step_confirm:
                self.diffs.clear()
                self.diffs.extend(self._pending)
                self._pending.clear()
                self._offset = statistics.median(self.diffs)
                self._n = len(self.diffs)
                self.steps += 1
            return
        self._pending.clear()
        self.diffs.append(d)
        self._n += 1
        if self._offset is None or self._n % 8 == 0 or len(self.diffs) < 8:
            self._offset = statistics.median(self.diffs)

    @property
    def offset(self) -> float | None:
        return self._offset
