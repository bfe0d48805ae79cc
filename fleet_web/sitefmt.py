"""Times on the page in each site's local time, with the zone always labelled.

Every site has an IANA zone in the registry (default UTC); `gateway/sitetime.py` does the
conversions. Templates use the filters registered here:

    {{ ts|local(site) }}        2026-12-05 08:00 JST   (ts: unix seconds or ISO 8601 text)
    {{ ts|localdate(site) }}    2026-12-05             (the site's calendar day)
    {{ start|span(end, site) }} 2026-12-05 08:00–16:00 JST
    {{ ts|isoat(site) }}        2026-12-05T08:00:00+09:00
    {{ tz_of(site) }}           Asia/Tokyo
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask, g

from gateway import sitetime

from .auth import fleet


def zones() -> dict[str, str]:
    """site -> IANA zone, read once per request."""
    z: dict[str, str] | None = g.get("kz_site_zones")
    if z is None:
        z = dict(fleet().site_zones())
        g.kz_site_zones = z
    return z


def tz_of(site: str | None) -> str:
    return zones().get(site or "", sitetime.UTC_NAME)


def to_ts(value: Any) -> float | None:
    """Unix seconds from seconds or ISO 8601 text (a bare date is that day's 00:00 UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        d = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (d if d.tzinfo else d.replace(tzinfo=dt.UTC)).timestamp()


def local(value: Any, site: str | None = None) -> str:
    return sitetime.shown(to_ts(value), tz_of(site))


def localdate(value: Any, site: str | None = None) -> str:
    return sitetime.date_at(to_ts(value), tz_of(site)) or "–"


def span(start: Any, end: Any, site: str | None = None) -> str:
    a, b = to_ts(start), to_ts(end)
    if a is None or b is None:
        return "–"
    return sitetime.span(a, b, tz_of(site))


def isoat(value: Any, site: str | None = None) -> str:
    return sitetime.iso_at(to_ts(value), tz_of(site)) or ""


def zone_label(site: str | None) -> str:
    """'Asia/Tokyo (JST)', 'UTC': for headers that say which clock a page uses."""
    import time

    tz = tz_of(site)
    abbr = sitetime.abbrev(time.time(), tz)
    return tz if abbr == tz else f"{tz} ({abbr})"


def site_zones_json() -> str:
    """site -> [zone, its abbreviation now] as JSON, for scripts that redraw times (the
    overview's live refresh)."""
    import json
    import time

    now = time.time()
    out = {s: [tz, sitetime.abbrev(now, tz)] for s, tz in zones().items()}
    return json.dumps(out, separators=(",", ":"))


def init_app(app: Flask) -> None:
    for f in (local, localdate, span, isoat):
        app.add_template_filter(f)
    for fn in (tz_of, zone_label, site_zones_json):
        app.add_template_global(fn)
