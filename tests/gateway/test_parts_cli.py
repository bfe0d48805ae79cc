"""`kizashi part ...`: the books from the command line, the demand as text and JSON, and bad
input refused with its reason and nothing written."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gateway.parts_cli import main
from gateway.store import open_store
from kizashi.cli import main as kizashi_main


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "k.db")


def run(db: str, *args: str) -> int:
    return main(["--db", db, *args])


def test_catalog_stock_reservations_and_demand(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(db, "catalog", "add", "6205-2RS", "--price", "18.5", "--lead-days", "14",
               "--labour-h", "1.5", "--description", "bearing") == 0  # fmt: skip
    assert run(db, "stock", "set", "6205-2RS", "main", "1", "--by", "anna") == 0
    assert run(db, "stock", "adjust", "6205-2RS", "main", "2", "--by", "bob") == 0
    assert "6205-2RS at main: 3 on hand, 3 free" in capsys.readouterr().out
    store = open_store(db)
    need = time.time() + 30 * 86400
    store.reserve_parts("P-7", [("6205-2RS", 5)], "anna", time.time(), "pump-1", need)
    store.close()
    assert run(db, "reservations", "list") == 0
    out = capsys.readouterr().out
    assert "P-7\t6205-2RS\t3\tmain\treserved" in out
    assert "P-7\t6205-2RS\t2\tSHORT (to order)\treserved" in out
    assert run(db, "demand", "--json") == 0
    (row,) = json.loads(capsys.readouterr().out)["parts"]
    assert (row["on_hand"], row["reserved"], row["shortage"], row["free"]) == (3, 3, 2, -2)
    assert (row["committed_4w"], row["committed_8w"], row["forecast_12w"]) == (0, 5, 0)
    assert row["order_qty"] == 2 and row["advice"].startswith("order by ")
    assert run(db, "demand") == 0
    text = capsys.readouterr().out
    assert "6205-2RS\t3\t-2\t0+0\t5+0\t5+0\torder by " in text
    assert kizashi_main(["part", "--db", db, "catalog", "list"]) == 0  # wired into `kizashi`
    assert "18.50 EUR\tlead=14d\tlabour=1.5h" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["catalog", "add", "P1 ", "--price", "1", "--lead-days", "1"], "outer spaces"),
        (["catalog", "add", "P1", "--price", "nan", "--lead-days", "1"], "unit price"),
        (["catalog", "add", "P1", "--price", "1", "--lead-days", "-3"], "lead time"),
        (["catalog", "add", "P1", "--price", "1", "--lead-days", "1", "--currency", "eur"],
         "currency"),
        (["stock", "set", "NOPE", "main", "1"], "unknown part number 'NOPE'"),
        (["stock", "set", "BRG", "main", "-1"], ">= 0"),
        (["stock", "adjust", "BRG", "main", "-5"], "only 2 on hand"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_its_reason(
    db: str, args: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(db, "catalog", "add", "BRG", "--price", "9", "--lead-days", "7") == 0
    assert run(db, "stock", "set", "BRG", "main", "2") == 0
    capsys.readouterr()
    assert run(db, *args) == 2
    assert reason in capsys.readouterr().err
    store = open_store(db)
    try:
        assert [p.part_number for p in store.catalog()] == ["BRG"]
        assert [(s.part_number, s.on_hand) for s in store.stock()] == [("BRG", 2)]
    finally:
        store.close()


def test_a_count_that_is_not_a_number_is_refused(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        run(db, "stock", "set", "BRG", "main", "two")
    assert e.value.code == 2 and "invalid int value: 'two'" in capsys.readouterr().err
