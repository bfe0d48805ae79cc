"""`Store.set_ledger`: an admin's correction of an entry's downtime-avoided fields."""

from __future__ import annotations

import math

import pytest

from gateway.store.api import ServiceEntry, Store


def test_set_ledger_corrects_one_entry(store: Store) -> None:
    old = ServiceEntry(
        "p1", "2025-01-02", "failure", acted_on_warning=True, downtime_avoided_h=1e12
    )
    a = store.add_service_entry(old)
    b = store.add_service_entry(ServiceEntry("p1", "2025-01-03", "inspection"))
    assert store.set_ledger(a, True, 12.5)
    assert not store.set_ledger(a + b + 100, True, 1.0)
    for bad in (math.nan, math.inf, -1.0):
        with pytest.raises(ValueError):
            store.set_ledger(a, True, bad)
    got = {e.entry_id: (e.acted_on_warning, e.downtime_avoided_h) for e in store.service_log()}
    assert got == {a: (True, 12.5), b: (False, 0.0)}
    assert store.set_ledger(a, False, 0.0)
    assert {e.entry_id: e.acted_on_warning for e in store.service_log()}[a] is False
