"""`kizashi service add/list`: the same entry rules as the fleet page, and the downtime ledger."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway.service_log_cli import main
from gateway.store import open_store
from gateway.store.api import Asset, EventRecord, Part, WriteBatch

WARNED = dt.datetime(2025, 2, 28, 12, 0, tzinfo=dt.UTC).timestamp()


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = str(tmp_path / "k.db")
    store = open_store(url)
    store.upsert_asset(
        Asset("pump-1", "plant-a", "P101", "n1",
              parts=(Part("de", "Drive-end bearing", "6205-2RS"), Part("nde", "Non-drive end")))
    )  # fmt: skip
    # The gateway warned about pump-1 at noon the day before the repair of 2025-03-01.
    detail = {"asset": "pump-1", "from": "normal", "to": "alert", "zone": "C"}
    ev = EventRecord(WARNED, "n1", "alarm_alert", detail, source="gateway")
    store.write_batch(WriteBatch(events=[ev]))
    store.close()
    return url


def test_add_with_ledger_and_list(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--db", db, "add", "pump-1", "--kind", "replacement", "--part", "6205-2RS",
            "--date", "2025-03-01", "--acted-on-warning", "--downtime-avoided-h", "8"]  # fmt: skip
    assert main(args) == 0
    assert main(["--db", db, "list", "pump-1"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1].split("\t")
    # Stored under the part id, dated as given, in the ledger with its hours.
    assert line[1:5] == ["2025-03-01", "pump-1", "replacement", "de"] and line[-1] == "warning:8h"
    store = open_store(db)
    (e,) = store.service_log("pump-1")
    store.close()
    assert e.acted_on_warning and e.downtime_avoided_h == 8.0
    assert (e.stop_h, e.repair_cost) == (None, None)  # not given: not recorded
    timed = ["--date", "2025-03-02", "--stop-h", "14.5", "--repair-cost", "1200"]
    assert main(["--db", db, "add", "pump-1", "--kind", "failure", "--part", "de", *timed]) == 0
    store = open_store(db)
    e = store.service_log("pump-1")[-1]
    store.close()
    assert (e.kind, e.stop_h, e.repair_cost) == ("failure", 14.5, 1200.0)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (["--kind", "replacement"], "name one"),
        (["--kind", "replacement", "--part", "6206"], "has no part '6206'"),
        (["--kind", "inspection", "--date", "2999-01-01"], "in the future"),
        (["--kind", "inspection", "--date", "1/2/2025"], "YYYY-MM-DD"),
        (["--kind", "inspection", "--downtime-avoided-h", "3"], "warning"),
        (["--kind", "inspection", "--acted-on-warning", "--downtime-avoided-h", "nan"], ">= 0"),
        (["--kind", "inspection", "--stop-h", "3000"], "more than 2160 h"),
        (["--kind", "inspection", "--repair-cost", "-5"], "repair_cost"),
    ],
)
def test_bad_entries_are_refused(
    db: str, extra: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", db, "add", "pump-1", *extra]) == 2
    assert reason in capsys.readouterr().err
    store = open_store(db)
    assert store.service_log() == []
    store.close()


def test_unknown_asset_and_default_date(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", db, "add", "pump-9", "--kind", "inspection"]) == 1
    assert "no asset pump-9" in capsys.readouterr().err
    assert main(["--db", db, "add", "pump-1", "--kind", "inspection"]) == 0
    store = open_store(db)
    (e,) = store.service_log()
    store.close()
    assert e.date == dt.datetime.now(dt.UTC).date().isoformat() and e.part_id == ""


@pytest.mark.parametrize(
    ("hours", "reason"),
    [
        ("1e12", "2160 h (90 days)"),
        # From the warning (2025-02-28 12:00 UTC) to the end of the repair day: 36 h.
        ("36.5", "at most 36.0 h"),
    ],
)
def test_downtime_avoided_is_bounded(
    db: str, hours: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--db", db, "add", "pump-1", "--kind", "replacement", "--part", "de", "--date",
            "2025-03-01", "--acted-on-warning", "--downtime-avoided-h", hours]  # fmt: skip
    assert main(args) == 2
    assert reason in capsys.readouterr().err
    assert main([*args[:-1], "36"]) == 0


def test_downtime_avoided_needs_a_warning_before_the_repair(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The only warning came after a repair dated 2025-02-27: nothing to credit it to.
    args = ["--db", db, "add", "pump-1", "--kind", "replacement", "--part", "de", "--date",
            "2025-02-27", "--acted-on-warning", "--downtime-avoided-h", "1"]  # fmt: skip
    assert main(args) == 2
    assert "needs a Kizashi warning on record" in capsys.readouterr().err
