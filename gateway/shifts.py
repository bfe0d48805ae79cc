"""Shifts of a site: spans of its wall-clock hours, e.g. early 06-14, late 14-22, night 22-06.

A site keeps its shifts as text (`Site.shifts`, `kizashi site set NAME --shifts ...`); ""
means the default three. A shift whose end is not after its start crosses midnight. Shifts may
leave hours out (counted as "no shift") but never overlap. The consulting report
(gateway/consulting/) splits utilisation by them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_SHIFTS", "OUTSIDE", "Shift", "parse_shifts", "shift_of", "shifts_text"]


@dataclass(frozen=True)
class Shift:
    """A shift of the site's wall clock, [start_h, end_h); end <= start crosses midnight."""

    name: str
    start_h: int
    end_h: int

    @property
    def label(self) -> str:
        return f"{self.start_h:02d}-{self.end_h:02d}"

    def hours(self) -> frozenset[int]:
        n = (self.end_h - self.start_h) % 24
        return frozenset((self.start_h + i) % 24 for i in range(n))


DEFAULT_SHIFTS: tuple[Shift, ...] = (
    Shift("early", 6, 14),
    Shift("late", 14, 22),
    Shift("night", 22, 6),
)
OUTSIDE = "no shift"  # hours no shift covers, when the site's shifts leave some out


def parse_shifts(text: str) -> tuple[Shift, ...]:
    """'early=06-14,late=14-22,night=22-06' (names optional: '06-14,14-22') -> shifts.
    ValueError with the reason for a malformed span, a repeated name or overlapping shifts."""
    if not text.strip():
        return DEFAULT_SHIFTS
    out: list[Shift] = []
    taken: dict[int, str] = {}
    for item in text.split(","):
        name, _, span = item.strip().rpartition("=")
        a, sep, b = span.strip().partition("-")
        try:
            if not sep:
                raise ValueError
            start, end = int(a), int(b)
        except ValueError:
            raise ValueError(
                f"a shift is NAME=HH-HH in the site's hours, e.g. night=22-06, got {item!r}"
            ) from None
        if not (0 <= start <= 23 and 0 <= end <= 24) or start == end % 24:
            raise ValueError(f"shift {item.strip()!r}: hours 0-24, start different from end")
        s = Shift(name.strip() or f"{start:02d}-{end % 24:02d}", start, end % 24)
        if any(x.name == s.name for x in out):
            raise ValueError(f"shift name {s.name!r} given twice")
        for h in s.hours():
            if h in taken:
                raise ValueError(f"shifts {taken[h]!r} and {s.name!r} overlap at {h:02d}:00")
            taken[h] = s.name
        out.append(s)
    return tuple(out)


def shifts_text(shifts: Sequence[Shift]) -> str:
    return ",".join(f"{s.name}={s.label}" for s in shifts)


def shift_of(hour: int, shifts: Sequence[Shift]) -> str:
    for s in shifts:
        if hour in s.hours():
            return s.name
    return OUTSIDE
