"""Site local time: typed wall-clock times at a DST site (Europe/Berlin) and a non-DST site
(Asia/Tokyo) become the right UTC instants, shown back with the zone labelled; the registry
keeps each site's zone and `kizashi site` / `kizashi window` use it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway import site_cli
from gateway.service_log_cli import window_main
from gateway.sitetime import date_at, iso_at, parse_local, shown, span
from gateway.store import open_store
from gateway.store.api import Asset, Site, Store


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()


def test_tokyo_has_no_dst_and_is_nine_hours_ahead() -> None:
    # The case: a window typed 08:00-16:00 at a Japanese site is 08:00-16:00 JST.
    start = parse_local("2026-12-05T08:00", "Asia/Tokyo")
    end = parse_local("2026-12-05T16:00", "Asia/Tokyo")
    assert start == utc(2026, 12, 4, 23, 0) and end == utc(2026, 12, 5, 7, 0)
    assert span(start, end, "Asia/Tokyo") == "2026-12-05 08:00–16:00 JST"
    assert iso_at(start, "Asia/Tokyo") == "2026-12-05T08:00:00+09:00"
    # In July too: Japan keeps +09:00 all year.
    assert parse_local("2026-07-05T08:00", "Asia/Tokyo") == utc(2026, 7, 4, 23, 0)
    # The site's calendar day, not UTC's.
    assert date_at(start, "Asia/Tokyo") == "2026-12-05" and date_at(start, "UTC") == "2026-12-04"


def test_berlin_follows_daylight_saving() -> None:
    winter = parse_local("2026-01-10T08:00", "Europe/Berlin")
    summer = parse_local("2026-07-10T08:00", "Europe/Berlin")
    assert winter == utc(2026, 1, 10, 7, 0) and summer == utc(2026, 7, 10, 6, 0)
    assert shown(winter, "Europe/Berlin") == "2026-01-10 08:00 CET"
    assert shown(summer, "Europe/Berlin") == "2026-07-10 08:00 CEST"
    assert iso_at(summer, "Europe/Berlin") == "2026-07-10T08:00:00+02:00"
    # A window across the spring-forward night lasts one hour less than its wall clock says.
    a = parse_local("2026-03-28T22:00", "Europe/Berlin")
    b = parse_local("2026-03-29T06:00", "Europe/Berlin")
    assert b - a == 7 * 3600
    assert span(a, b, "Europe/Berlin") == "2026-03-28 22:00–2026-03-29 06:00 CET/CEST"


def test_skipped_and_repeated_wall_times_are_refused() -> None:
    with pytest.raises(ValueError, match="does not exist"):
        parse_local("2026-03-29T02:30", "Europe/Berlin")
    with pytest.raises(ValueError, match="happens twice"):
        parse_local("2026-10-25T02:30", "Europe/Berlin")
    # With the offset written, the instant is unambiguous.
    assert parse_local("2026-10-25T02:30+01:00", "Europe/Berlin") == utc(2026, 10, 25, 1, 30)
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_local("5/12/2026 08:00", "Asia/Tokyo")


def test_offset_or_z_wins_over_the_site_zone() -> None:
    assert parse_local("2026-12-05T08:00Z", "Asia/Tokyo") == utc(2026, 12, 5, 8, 0)
    assert parse_local("2026-12-05T08:00+00:00", "Asia/Tokyo") == utc(2026, 12, 5, 8, 0)
    assert parse_local("2026-12-05T08:00", None) == utc(2026, 12, 5, 8, 0)


def test_store_keeps_site_zones(store: Store) -> None:
    store.upsert_asset(Asset("p1", "Osaka", "press"))
    store.upsert_asset(Asset("p2", "Berlin", "pump"))
    assert store.sites() == [Site("Berlin", "UTC"), Site("Osaka", "UTC")]  # default UTC
    store.set_site(Site("Osaka", "Asia/Tokyo"))
    store.set_site(Site("Berlin", "Europe/Berlin"))
    store.set_site(Site("Osaka", "Asia/Tokyo"))  # idempotent
    store.set_site(Site("Lyon", "Europe/Paris"))  # a site may be named before its assets
    assert store.sites() == [
        Site("Berlin", "Europe/Berlin"), Site("Lyon", "Europe/Paris"), Site("Osaka", "Asia/Tokyo")
    ]  # fmt: skip
    for bad in ("JST", "Asia/Tokio", "", "../etc/passwd"):
        with pytest.raises(ValueError, match="time zone"):
            store.set_site(Site("Osaka", bad))
    assert Site("Osaka", "Asia/Tokyo") in store.sites()


def test_store_keeps_site_shifts(store: Store) -> None:
    store.upsert_asset(Asset("p1", "Osaka", "press"))
    store.set_site(Site("Osaka", "Asia/Tokyo"))
    store.set_site_shifts("Osaka", "day=07-19,night=19-07")
    store.set_site(Site("Osaka", "Asia/Tokyo"))  # a new zone leaves the shifts
    assert store.sites() == [Site("Osaka", "Asia/Tokyo", "day=07-19,night=19-07")]
    for bad in ("day=07-19,late=18-22", "night", "a=25-02"):
        with pytest.raises(ValueError, match="shift"):
            store.set_site_shifts("Osaka", bad)
    store.set_site_shifts("Lyon", "early=05-13")  # named before its assets: in UTC
    store.set_site_shifts("Osaka", "")  # back to the default three
    assert store.sites() == [Site("Lyon", "UTC", "early=05-13"), Site("Osaka", "Asia/Tokyo")]


def test_site_command_sets_shifts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "k.db")
    assert site_cli.main(["--db", db, "set", "Osaka", "--tz", "Asia/Tokyo"]) == 0
    assert site_cli.main(["--db", db, "set", "Osaka", "--shifts", "a=06-14,b=12-22"]) == 2
    assert "overlap" in capsys.readouterr().err
    assert site_cli.main(["--db", db, "set", "Osaka", "--shifts", "day=06-18,night=18-06"]) == 0
    assert site_cli.main(["--db", db, "set", "Osaka"]) == 2
    assert site_cli.main(["--db", db, "list"]) == 0
    assert capsys.readouterr().out.splitlines() == ["Osaka\tAsia/Tokyo\tday=06-18,night=18-06"]


def test_site_and_window_commands_use_local_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "k.db")
    st = open_store(db)
    st.upsert_asset(Asset("p1", "Osaka", "press"))
    st.close()
    assert site_cli.main(["--db", db, "set", "Osaka", "--tz", "Asia/Tokyo"]) == 0
    assert site_cli.main(["--db", db, "set", "Osaka", "--tz", "Tokyo"]) == 2
    assert "unknown time zone" in capsys.readouterr().err
    assert site_cli.main(["--db", db, "list"]) == 0
    assert capsys.readouterr().out.splitlines() == ["Osaka\tAsia/Tokyo"]
    args = ["--db", db, "add", "Osaka", "--start", "2026-12-05T08:00", "--end", "2026-12-05T16:00"]
    assert window_main(args) == 0
    capsys.readouterr()
    assert window_main(["--db", db, "list"]) == 0
    row = capsys.readouterr().out.strip().split("\t")
    assert row[2:4] == ["2026-12-05T08:00:00+09:00", "2026-12-05T16:00:00+09:00"]
    st = open_store(db)
    (w,) = st.windows("Osaka")
    st.close()
    assert (w.start, w.end) == (utc(2026, 12, 4, 23, 0), utc(2026, 12, 5, 7, 0))
