"""Helpers of the uplink tests: a site's traffic, and comparisons of a site with the centre."""

from __future__ import annotations

from typing import Any

from gateway.store.api import (
    Asset,
    BirthRecord,
    EventRecord,
    MaintenanceWindow,
    Part,
    ServiceEntry,
    Site,
    WriteBatch,
)
from gateway.store.sql import SqlStore
from gateway.uplink.config import UplinkConfig
from gateway.uplink.forwarder import Forwarder
from gateway.uplink.wire import decode

from .test_store import T0, report


def register_site(store: SqlStore, site: str, nodes: list[str]) -> None:
    store.set_site(Site(site, "Asia/Tokyo" if site.endswith("a") else "Europe/Berlin"))
    for n in nodes:
        store.upsert_asset(
            Asset(f"{n}-pump", site, f"{n} pump", n, parts=(Part("brg", "bearing", "6205"),))
        )
    store.add_service_entry(ServiceEntry(f"{nodes[0]}-pump", "2026-01-05", "inspection", by="ken"))
    store.add_window(MaintenanceWindow(site, T0 + 86400, T0 + 90000, "shutdown"))


def traffic(
    store: SqlStore, nodes: list[str], start_seq: int, n: int, per_batch: int = 50, t0: float = T0
) -> int:
    """`n` reports per node from `start_seq` (one per 30 s from `t0`), committed in batches
    like the pipeline, plus a birth at the start and an event every 100 reports; returns the
    frames written."""
    written = 0
    frames: list[Any] = []
    events: list[EventRecord] = []
    births: list[BirthRecord] = []
    for i in range(n):
        seq = start_seq + i
        for k, node in enumerate(nodes):
            ts = t0 + seq * 30 + k
            frames.append(report(node, seq, ts, vel=100 + seq % 50))
            if seq == 0:
                births.append(BirthRecord(node, 1, ts, {"fw": "1.0", "reset": "power"}))
            if seq % 100 == 7:
                events.append(EventRecord(ts, node, "overtemp", {"c": 80}, 1, seq))
        if len(frames) >= per_batch or i == n - 1:
            store.write_batch(WriteBatch(frames=frames, events=events, births=births))
            written += len(frames)
            frames, events, births = [], [], []
    return written


def frame_keys(store: SqlStore) -> list[tuple[str, int, int]]:
    with store._lock:  # the store's own lock, as its methods take it
        rows = store._q("SELECT node_id, boot_id, seq FROM frames ORDER BY node_id, boot_id, seq")
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


def hourly_totals(store: SqlStore, nodes: list[str]) -> dict[str, int]:
    """Reports counted in the hourly aggregates per asset: a frame applied twice shows here."""
    return {f"{n}-pump": sum(p.n for p in store.hourly_history(f"{n}-pump", 0, 4e9)) for n in nodes}


def event_keys(store: SqlStore) -> list[tuple[str, str, int | None]]:
    return sorted((e.node_id, e.code, e.seq) for e in store.events_after(0, limit=100000))


def frames_messages(site: SqlStore, origin: str, n: int, batch: int) -> list[dict[str, Any]]:
    """The site's first `n` frames messages (`batch` rows each), as its forwarder sends them one
    after another (each moves the site's mark)."""
    fwd = Forwarder(site, origin, UplinkConfig(batch=batch))
    out = []
    for _ in range(n):
        msg = fwd.next_batch("frames")
        assert msg is not None
        out.append(decode(msg[1]))
        site.set_uplink_mark(origin, "frames", msg[0])
    return out
