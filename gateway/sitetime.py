"""Site local time: how instants (unix seconds, UTC) are shown and how typed times are read.

Every site has an IANA time zone in the registry (`Store.sites()`, default UTC). The store
keeps instants only; this module is the one place that turns them into a site's wall-clock
text and back:

- `iso_at(ts, tz)`: ISO 8601 with the site's offset, e.g. 2026-12-05T08:00:00+09:00 (the API);
- `shown(ts, tz)`: "2026-12-05 08:00 JST" (the page: the zone is always labelled);
- `date_at(ts, tz)`: the site's calendar day of an instant (YYYY-MM-DD);
- `parse_local(text, tz)`: a typed date/time; without an offset it is the site's wall clock.
  A wall time that does not exist (spring forward) or happens twice (fall back) is refused
  with the reason, since guessing would store the wrong instant.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC_NAME = "UTC"


@lru_cache(maxsize=256)
def zone(tz: str | None) -> dt.tzinfo:
    """The zone named `tz`; UTC for None, "" or a name zoneinfo does not know (the registry
    refuses unknown names, so this only guards rows written by hand)."""
    if not tz or tz == UTC_NAME:
        return dt.UTC
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def local(ts: float, tz: str | None) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, zone(tz))


def iso_at(ts: float | None, tz: str | None) -> str | None:
    """ISO 8601 with the site's UTC offset, to the second; None stays None."""
    if ts is None:
        return None
    return local(ts, tz).isoformat(timespec="seconds")


def date_at(ts: float | None, tz: str | None) -> str | None:
    """The site's calendar day of an instant, YYYY-MM-DD."""
    if ts is None:
        return None
    return local(ts, tz).date().isoformat()


def abbrev(ts: float, tz: str | None) -> str:
    """The zone's abbreviation at that instant (JST, CET, CEST, UTC), else its offset."""
    d = local(ts, tz)
    name = d.tzname() or ""
    if name and not name.startswith(("+", "-")):
        return name
    off = d.utcoffset() or dt.timedelta(0)
    mins = int(off.total_seconds() // 60)
    sign = "+" if mins >= 0 else "-"
    return f"UTC{sign}{abs(mins) // 60:02d}:{abs(mins) % 60:02d}"


def shown(ts: float | None, tz: str | None, with_date: bool = True) -> str:
    """'2026-12-05 08:00 JST': the site's wall clock with the zone labelled; '–' for None."""
    if ts is None:
        return "–"
    d = local(ts, tz)
    text = d.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")
    return f"{text} {abbrev(ts, tz)}"


def span(start: float, end: float, tz: str | None) -> str:
    """A window in the site's wall clock: '2026-12-05 08:00–16:00 JST' (end's date when it
    is another day)."""
    a, b = local(start, tz), local(end, tz)
    tail = b.strftime("%H:%M") if a.date() == b.date() else b.strftime("%Y-%m-%d %H:%M")
    za, zb = abbrev(start, tz), abbrev(end, tz)
    zone_text = za if za == zb else f"{za}/{zb}"
    return f"{a.strftime('%Y-%m-%d %H:%M')}–{tail} {zone_text}"


def parse_local(text: str, tz: str | None) -> float:
    """A typed ISO date or date-time as an instant. With an offset (or Z) it is taken as
    written; without, as the wall clock of the site's zone. ValueError says what is wrong."""
    raw = text.strip()
    try:
        d = dt.datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        raise ValueError(
            f"time must be ISO 8601, e.g. 2026-12-05T08:00 (site local) or with an offset, "
            f"got {text!r}"
        ) from None
    if d.tzinfo is not None:
        return d.timestamp()
    z = zone(tz)
    first, second = d.replace(tzinfo=z, fold=0), d.replace(tzinfo=z, fold=1)
    if first.utcoffset() != second.utcoffset():
        # fold only matters when the wall time is skipped or repeated by a clock change.
        back = dt.datetime.fromtimestamp(first.timestamp(), z).replace(tzinfo=None)
        if back != d:
            raise ValueError(
                f"{d:%Y-%m-%d %H:%M} does not exist in {tz} (the clocks go forward then)"
            )
        raise ValueError(
            f"{d:%Y-%m-%d %H:%M} happens twice in {tz} (the clocks go back then): "
            f"add the offset, e.g. {first.isoformat(timespec='minutes')}"
        )
    return first.timestamp()
