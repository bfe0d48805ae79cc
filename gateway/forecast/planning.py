"""Parts demand: how many of each part number the fleet's planned jobs need within 4/8/12 weeks.

Which stop each job takes is the outlook's one judgement (gateway/outlook/judgement.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Need:
    part_number: str
    date: datetime | None
    quantity: int = 1


def parts_demand(
    needs: Iterable[Need], now: datetime, horizons_weeks: Sequence[int] = (4, 8, 12)
) -> dict[str, dict[int, int]]:
    """Cumulative quantity per part number needed within each horizon (weeks from now).

    Needs dated in the past (overdue) count in every horizon.
    """
    out: dict[str, dict[int, int]] = {}
    for n in needs:
        row = out.setdefault(n.part_number, {h: 0 for h in horizons_weeks})
        if n.date is None:
            continue
        for h in horizons_weeks:
            if n.date < now + timedelta(weeks=h):
                row[h] += n.quantity
    return out
