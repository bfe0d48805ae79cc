"""The parts books on both backends: the price list, stock per warehouse and reservations
(reserve from the freest shelves, a shortfall reserved as a shortage, release, consume)."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
import threading
from pathlib import Path

import pytest

from gateway.store.api import CatalogPart, Store
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SqliteStore

from .conftest import PG_URL

BEARING = CatalogPart("6205-2RS", "deep groove ball bearing", 18.5, "EUR", 14.0, 1.5)
SEAL = CatalogPart("SEAL-40", "shaft seal 40 mm", 4.2, "EUR", 7.0, 0.5)


def _books(store: Store) -> None:
    store.put_catalog_part(BEARING)
    store.put_catalog_part(SEAL)
    store.set_stock("6205-2RS", "main", 3, "anna", at=100.0)
    store.set_stock("6205-2RS", "van-2", 1, "anna", at=100.0)


def test_catalog_add_replace_and_refuse(store: Store) -> None:
    store.put_catalog_part(BEARING)
    assert store.catalog_part("6205-2RS") == BEARING
    store.put_catalog_part(CatalogPart("NU 310 ECP", "a maker's number with spaces"))
    dearer = CatalogPart("6205-2RS", "deep groove ball bearing", 21.0, "EUR", 10.0, 1.5)
    store.put_catalog_part(dearer)
    assert store.catalog()[0] == dearer and len(store.catalog()) == 2
    assert store.catalog_part("nope") is None
    bad = [
        (CatalogPart("", "x"), "part number"),
        (CatalogPart(" outer"), "part number"),
        (CatalogPart("tab\there"), "part number"),
        (CatalogPart("P1", unit_price=math.nan), "unit price"),
        (CatalogPart("P1", unit_price=-1.0), "unit price"),
        (CatalogPart("P1", currency="euro"), "currency"),
        (CatalogPart("P1", lead_time_days=math.inf), "lead time"),
        (CatalogPart("P1", labour_h=-0.5), "labour"),
        (CatalogPart("P1", safety_stock=-1), "safety stock"),
    ]
    for part, words in bad:
        with pytest.raises(ValueError, match=words):
            store.put_catalog_part(part)
    assert len(store.catalog()) == 2  # nothing refused was written


def test_stock_set_adjust_and_refuse(store: Store) -> None:
    _books(store)
    with pytest.raises(ValueError, match="unknown part number"):
        store.set_stock("NOPE", "main", 1, "anna")
    with pytest.raises(ValueError, match="whole number"):
        store.set_stock("6205-2RS", "main", 1.5, "anna")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=">= 0"):
        store.set_stock("6205-2RS", "main", -1, "anna")
    with pytest.raises(ValueError, match="warehouse"):
        store.set_stock("6205-2RS", " ", 1, "anna")
    with pytest.raises(ValueError, match="only 1 on hand"):
        store.adjust_stock("6205-2RS", "van-2", -2, "bob")
    row = store.adjust_stock("6205-2RS", "van-2", 4, "bob", at=200.0)
    assert (row.on_hand, row.reserved, row.free, row.updated_by) == (5, 0, 5, "bob")
    got = [(r.part_number, r.warehouse, r.on_hand) for r in store.stock()]
    assert got == [("6205-2RS", "main", 3), ("6205-2RS", "van-2", 5)]
    assert store.stock("SEAL-40") == []


def test_reserve_picks_the_freest_shelf_and_keeps_a_shortfall(store: Store) -> None:
    _books(store)
    got = store.reserve_parts(
        "P-1", [("6205-2RS", 2), ("SEAL-40", 1), ("6205-2RS", 3)], "anna", 1000.0,
        asset_id="press1-de", need_by=5000.0,
    )  # fmt: skip
    # 5 bearings: 3 from main (freest), 1 from van-2, 1 short; the seal has no stock at all
    lines = sorted((r.part_number, r.warehouse, r.qty, r.shortage) for r in got)
    assert lines == [
        ("6205-2RS", "", 1, True),
        ("6205-2RS", "main", 3, False),
        ("6205-2RS", "van-2", 1, False),
        ("SEAL-40", "", 1, True),
    ]
    assert {(r.state, r.created_by, r.asset_id, r.need_by) for r in got} == {
        ("reserved", "anna", "press1-de", 5000.0)
    }
    assert [r.free for r in store.stock("6205-2RS")] == [0, 0]
    # a second reservation finds no free pieces: all of it is a shortage
    (other,) = store.reserve_parts("P-2", [("6205-2RS", 2)], "bob", 1001.0)
    assert (other.warehouse, other.qty) == ("", 2)
    with pytest.raises(ValueError, match="already holds"):
        store.reserve_parts("P-1", [("SEAL-40", 1)], "anna", 1002.0)
    for lines_bad, words in (
        ([("NOPE", 1)], "unknown part number"),
        ([("SEAL-40", 0)], ">= 1"),
        ([("SEAL-40", True)], "whole number"),
    ):
        with pytest.raises(ValueError, match=words):
            store.reserve_parts("P-3", lines_bad, "anna", 1003.0)  # type: ignore[arg-type]
    assert store.reservations("P-3") == []  # a refused request reserves nothing
    assert len(store.reservations()) == 5


def test_release_frees_and_consume_takes_from_the_shelf(store: Store) -> None:
    _books(store)
    store.reserve_parts("P-1", [("6205-2RS", 2)], "anna", 1000.0)
    store.reserve_parts("P-2", [("6205-2RS", 3)], "anna", 1001.0)  # 2 on shelves (1+1), 1 short
    released = store.release_reservations("P-1", "carl", 1100.0)
    assert {(r.state, r.updated_by, r.updated_at) for r in released} == {
        ("released", "carl", 1100.0)
    }
    assert store.release_reservations("P-1", "carl", 1101.0) == []  # nothing open any more
    assert sum(r.free for r in store.stock("6205-2RS")) == 4 - 2
    done = store.consume_reservations("P-2", "dora", 1200.0)
    assert {r.state for r in done} == {"consumed"} and sum(r.qty for r in done) == 3
    # 4 on hand, 3 consumed (2 held on shelves + the shortfall taken from a free piece)
    assert sum(r.on_hand for r in store.stock("6205-2RS")) == 1
    assert all(r.reserved == 0 for r in store.stock())
    assert store.consume_reservations("P-2", "dora", 1201.0) == []
    states = [(r.proposal_id, r.state) for r in store.reservations()]
    assert sorted(set(states)) == [("P-1", "released"), ("P-2", "consumed")]


def test_consume_never_takes_pieces_another_proposal_holds(store: Store) -> None:
    store.put_catalog_part(SEAL)
    store.reserve_parts("P-1", [("SEAL-40", 1)], "anna", 1000.0)  # short: nothing in stock
    store.set_stock("SEAL-40", "main", 1, "anna")
    store.reserve_parts("P-2", [("SEAL-40", 1)], "anna", 1001.0)  # holds the one piece
    store.consume_reservations("P-1", "dora", 1100.0)  # came straight from the supplier
    (row,) = store.stock("SEAL-40")
    assert (row.on_hand, row.reserved) == (1, 1)


def _second_store(store: Store) -> Store:
    """Another connection to the same database, as another process would have."""
    if isinstance(store, PostgresStore):
        return PostgresStore(PG_URL, store.schema_name)
    assert isinstance(store, SqliteStore)
    return SqliteStore(store.path)


def test_two_writers_never_hand_out_the_same_pieces(store: Store) -> None:
    store.put_catalog_part(BEARING)
    store.set_stock("6205-2RS", "main", 6, "anna")
    other = _second_store(store)
    errors: list[BaseException] = []

    def reserve(s: Store, prefix: str) -> None:
        try:
            for k in range(6):
                s.reserve_parts(f"{prefix}-{k}", [("6205-2RS", 1)], prefix, 1000.0 + k)
        except BaseException as e:  # reported below, not lost in the thread
            errors.append(e)

    threads = [
        threading.Thread(target=reserve, args=(store, "A")),
        threading.Thread(target=reserve, args=(other, "B")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    other.close()
    assert not errors, errors
    res = store.reservations()
    assert sum(r.qty for r in res) == 12  # every request reserved
    assert sum(r.qty for r in res if not r.shortage) == 6  # the 6 pieces, each once
    assert [s.free for s in store.stock()] == [0]


def test_a_first_version_11_catalog_gets_its_safety_stock_column(tmp_path: Path) -> None:
    """The catalog's safety_stock came after the first schema-11 tables: opening such a
    database adds it (schema.ADDED_COLUMNS), with 0 for the parts already listed."""
    path = tmp_path / "gw.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as con:
        con.execute("ALTER TABLE part_catalog DROP COLUMN safety_stock")
        con.execute(
            "INSERT INTO part_catalog (part_number, description, unit_price, currency,"
            " lead_time_days, labour_h) VALUES ('OLD-1', 'listed before', 3.0, 'EUR', 2.0, 0.5)"
        )
    store = SqliteStore(path)
    try:
        assert store.catalog_part("OLD-1") == CatalogPart(
            "OLD-1", "listed before", 3.0, "EUR", 2.0, 0.5, 0
        )
        store.put_catalog_part(dataclasses.replace(BEARING, safety_stock=2))
        assert store.catalog_part("6205-2RS") == dataclasses.replace(BEARING, safety_stock=2)
    finally:
        store.close()
