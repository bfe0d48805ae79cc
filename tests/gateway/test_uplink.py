"""Forwarding to the fleet server, at the store level (no broker): what a site sends, and that
the centre applies it once, tagged with its origin and customer, whatever arrives twice.

The same messages through real Mosquitto brokers are in test_uplink_broker.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import cast

import pytest

from gateway.store.api import Asset, ServiceEntry, Store
from gateway.store.postgres import PostgresStore
from gateway.store.sql import SqlStore
from gateway.store.sqlite import SqliteStore
from gateway.uplink.central import CentralApplier, frames_message
from gateway.uplink.config import UplinkConfig, parse_uplink
from gateway.uplink.forwarder import Forwarder
from gateway.uplink.wire import decode, origin_of

from .test_store import T0
from .test_store_outlook import outlook
from .uplink_support import (
    event_keys,
    frame_keys,
    frames_messages,
    hourly_totals,
    register_site,
    traffic,
)

NODES = ["a1", "a2"]


def _drain(fwd: Forwarder, applier: CentralApplier, stream: str) -> int:
    """Forward `stream` until nothing is left, as the MQTT loop does; returns messages."""
    sent = 0
    while (batch := fwd.next_batch(stream)) is not None:
        upto, msg = batch
        _, ref, result = applier.apply(fwd.origin, decode(msg))
        assert ref == upto
        fwd.acknowledged(stream, upto, result.upto)
        sent += 1
    return sent


@pytest.fixture
def site(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(tmp_path / "site-a.db")
    register_site(s, "site-a", NODES)
    return s


def test_frames_and_events_applied_once_in_commit_order(site: SqliteStore, store: Store) -> None:
    central = cast(SqlStore, store)
    applier = CentralApplier(central, {"gw-a": "acme"}, UplinkConfig())
    fwd = Forwarder(site, "gw-a", UplinkConfig(batch=70))
    applier.apply("gw-a", decode(fwd.state_message()[1]))  # the forwarder's first message
    traffic(site, NODES, 0, 150)
    first = fwd.next_batch("frames")
    assert first is not None
    assert _drain(fwd, applier, "frames") == 5  # 300 frames by 70
    assert _drain(fwd, applier, "events") == 1
    assert frame_keys(central) == frame_keys(site)
    assert event_keys(central) == event_keys(site)
    # the first message arrives again (a resend after a lost answer): nothing is added
    _, _, again = applier.apply("gw-a", decode(first[1]))
    assert (again.stored, again.duplicates, again.upto) == (0, 70, 300)
    traffic(site, NODES, 150, 60)
    _drain(fwd, applier, "frames")
    assert fwd.backlog() == 2  # the events at seq 207 of both nodes: not sent yet
    _drain(fwd, applier, "events")
    totals = hourly_totals(site, NODES)
    assert hourly_totals(central, NODES) == totals == {"a1-pump": 210, "a2-pump": 210}
    assert site.uplink_mark("gw-a", "frames") == central.uplink_mark("gw-a", "frames") == 420
    assert fwd.backlog() == 0


def test_a_gap_applies_nothing_and_names_the_mark(site: SqliteStore, store: Store) -> None:
    central = cast(SqlStore, store)
    applier = CentralApplier(central, {"gw-a": "acme"}, UplinkConfig())
    fwd = Forwarder(site, "gw-a", UplinkConfig(batch=40))
    traffic(site, NODES, 0, 40)
    site.set_uplink_mark("gw-a", "frames", 40)  # as if (0, 40] had been lost on the way
    batch = fwd.next_batch("frames")
    assert batch is not None
    _, _, res = applier.apply("gw-a", decode(batch[1]))
    assert (res.stored, res.upto) == (0, 0)
    fwd.acknowledged("frames", batch[0], res.upto)  # the site goes back to the centre's mark
    _drain(fwd, applier, "frames")
    assert frame_keys(central) == frame_keys(site) and len(frame_keys(site)) == 80


def test_state_applied_idempotently_and_tagged(site: SqliteStore, store: Store) -> None:
    central = cast(SqlStore, store)
    applier = CentralApplier(central, {"gw-a": "acme", "gw-b": "globex"}, UplinkConfig())
    fwd = Forwarder(site, "gw-a", UplinkConfig())
    traffic(site, NODES, 0, 10)
    (window,) = site.windows()
    site.write_outlooks([outlook("a1-pump", T0, window_id=window.window_id)])
    for _ in range(2):  # the same state twice: one copy
        _, _, res = applier.apply("gw-a", decode(fwd.state_message()[1]))
        assert res.refused == 0
    assert central.assets() == site.assets()
    assert central.sites() == site.sites()
    assert [(e.asset_id, e.kind, e.by) for e in central.service_log()] == [
        (e.asset_id, e.kind, e.by) for e in site.service_log()
    ]
    (cwin,) = central.windows()
    (o,) = central.outlooks()
    assert o.window_id == cwin.window_id and o.action == "plan"
    assert central.node("a1") is not None and central.node("a1").fw == "1.0"  # type: ignore[union-attr]
    assert central.site_customers() == {"site-a": "acme"}
    # node counters change with every batch, the registry rarely: the pages re-read the whole
    # fleet only when the registry changed
    stamp = central.registry_stamp()
    traffic(site, NODES, 10, 5)
    applier.apply("gw-a", decode(fwd.state_message()[1]))
    assert central.registry_stamp() == stamp
    # a ledger correction and a deleted window at the site follow; nothing is duplicated
    entry = site.service_log()[0]
    assert entry.entry_id is not None
    site.set_ledger(entry.entry_id, True, 6.0)
    assert window.window_id is not None
    site.delete_window(window.window_id)
    site.upsert_asset(Asset("a3-fan", "site-a", "fan"))
    applier.apply("gw-a", decode(fwd.state_message()[1]))
    assert central.registry_stamp() != stamp
    (c_entry,) = central.service_log()
    assert (c_entry.acted_on_warning, c_entry.downtime_avoided_h) == (True, 6.0)
    assert central.windows() == [] and central.asset("a3-fan") is not None
    site.delete_asset("a3-fan")
    applier.apply("gw-a", decode(fwd.state_message()[1]))
    assert central.asset("a3-fan") is None


def test_temp_source_reaches_the_centre(site: SqliteStore, store: Store) -> None:
    """The asset's temperature source (registry) is forwarded with the state and follows a
    change at the site; a site that does not send it yet (an older wire row) reads 'auto'."""
    central = cast(SqlStore, store)
    applier = CentralApplier(central, {"gw-a": "acme"}, UplinkConfig())
    fwd = Forwarder(site, "gw-a", UplinkConfig())
    a1 = site.asset("a1-pump")
    assert a1 is not None
    site.upsert_asset(dataclasses.replace(a1, temp_source="ds18b20"))
    applier.apply("gw-a", decode(fwd.state_message()[1]))
    got = central.asset("a1-pump")
    assert got is not None and got.temp_source == "ds18b20"
    assert central.assets() == site.assets()
    site.upsert_asset(dataclasses.replace(a1, temp_source="none"))
    applier.apply("gw-a", decode(fwd.state_message()[1]))
    got = central.asset("a1-pump")
    assert got is not None and got.temp_source == "none"
    old = decode(fwd.state_message()[1])
    old["state"]["assets"] = [row[:10] for row in old["state"]["assets"]]  # no temp_source
    applier.apply("gw-a", old)
    got = central.asset("a1-pump")
    assert got is not None and got.temp_source == "auto"


def test_another_site_cannot_claim_or_overwrite(
    site: SqliteStore, store: Store, tmp_path: Path
) -> None:
    central = cast(SqlStore, store)
    applier = CentralApplier(central, {"gw-a": "acme", "gw-b": "globex"}, UplinkConfig())
    a = Forwarder(site, "gw-a", UplinkConfig())
    traffic(site, NODES, 0, 20)
    applier.apply("gw-a", decode(a.state_message()[1]))
    _drain(a, applier, "frames")
    other = SqliteStore(tmp_path / "site-b.db")
    register_site(other, "site-a", ["a1"])  # same site name, asset and node ids as gw-a's
    traffic(other, ["a1"], 0, 20)
    b = Forwarder(other, "gw-b", UplinkConfig())
    _, _, state = applier.apply("gw-b", decode(b.state_message()[1]))
    batch = b.next_batch("frames")
    assert batch is not None
    _, _, frames = applier.apply("gw-b", decode(batch[1]))
    assert state.refused >= 2 and state.reasons["site_of_other_site_gateway"] >= 1
    assert (frames.stored, frames.refused) == (0, 20)
    assert frame_keys(central) == frame_keys(site)
    assert central.site_customers() == {"site-a": "acme"}
    assert [e.by for e in central.service_log()] == ["ken"]  # gw-b's entry: asset not its own
    other.close()


def test_unknown_origin_and_bad_messages_are_refused(store: Store) -> None:
    applier = CentralApplier(cast(SqlStore, store), {"gw-a": "acme"}, UplinkConfig())
    assert origin_of("kizashi/fleet/gw-a/up") == "gw-a"
    assert origin_of("kizashi/fleet/gw a/up") is None and origin_of("kizashi/x/gw/up") is None
    with pytest.raises(ValueError):
        decode(b"\xc1")
    with pytest.raises(ValueError):
        applier.apply("gw-a", {"v": 1, "stream": "nope", "after": 0, "upto": 1, "rows": []})


def test_uplink_config_keys() -> None:
    cfg = parse_uplink({"enabled": True, "host": "fleet.example", "port": 8883, "tls": True})
    assert (cfg.enabled, cfg.port, cfg.tls) == (True, 8883, True)
    with pytest.raises(ValueError, match="unknown key"):
        parse_uplink({"hots": "x"})
    with pytest.raises(ValueError):
        parse_uplink({"batch": 0})


def test_stop_hours_and_repair_cost_are_forwarded(site: SqliteStore, store: Store) -> None:
    central = cast(SqlStore, store)
    applier = CentralApplier(central, {"gw-a": "acme"}, UplinkConfig())
    fwd = Forwarder(site, "gw-a", UplinkConfig())
    site.add_service_entry(
        ServiceEntry("a2-pump", "2026-01-06", "failure", stop_h=30.5, repair_cost=1800.0)
    )
    msg = decode(fwd.state_message()[1])
    applier.apply("gw-a", msg)
    got = {e.kind: (e.stop_h, e.repair_cost) for e in central.service_log()}
    assert got == {"inspection": (None, None), "failure": (30.5, 1800.0)}
    # a site on schema 15 sends its entries without the two figures: not recorded at the centre
    msg["state"]["service"] = [row[:9] for row in msg["state"]["service"]]
    applier.apply("gw-a", msg)
    got = {e.kind: (e.stop_h, e.repair_cost) for e in central.service_log()}
    assert got == {"inspection": (None, None), "failure": (None, None)}


def test_waiting_messages_applied_together_keep_their_marks(tmp_path: Path, store: Store) -> None:
    """Several origins' messages applied in one transaction (what a busy applier lane does)
    give what one after the other gives: each its own mark, a gap nothing, a replay nothing,
    one origin's two messages in order; and on PostgreSQL they are one transaction."""
    central = cast(SqlStore, store)
    sites = {}
    for origin, site, nodes in (("gw-a", "site-a", ["a1", "a2"]), ("gw-b", "site-b", ["b1"]),
                                ("gw-c", "site-c", ["c1"])):  # fmt: skip
        sites[origin] = SqliteStore(tmp_path / f"{origin}.db")
        register_site(sites[origin], site, nodes)
        traffic(sites[origin], nodes, 0, 80 // len(nodes))
    applier = CentralApplier(central, {o: "acme" for o in sites}, UplinkConfig())
    for origin, s in sites.items():  # the registry first, as the forwarders send it
        applier.apply(origin, decode(Forwarder(s, origin, UplinkConfig()).state_message()[1]))
    a = frames_messages(sites["gw-a"], "gw-a", 2, 40)
    (b,) = frames_messages(sites["gw-b"], "gw-b", 1, 40)
    c = frames_messages(sites["gw-c"], "gw-c", 2, 40)
    # gw-c's second before its first (a gap), then gw-a's first again (a replay) and its next
    batch = [("gw-a", a[0]), ("gw-b", b), ("gw-c", c[1]), ("gw-a", a[0]), ("gw-a", a[1])]
    results = central.apply_frames_many([frames_message(o, m) for o, m in batch])
    got = [(r.stored, r.duplicates, r.upto) for r in results]
    assert got == [(40, 0, 40), (40, 0, 40), (0, 0, 0), (0, 40, 40), (40, 0, 80)]
    assert [central.uplink_mark(o, "frames") for o in ("gw-a", "gw-b", "gw-c")] == [80, 40, 0]
    assert frame_keys(central) == sorted(frame_keys(sites["gw-a"]) + frame_keys(sites["gw-b"])[:40])
    assert hourly_totals(central, ["a1", "a2"]) == hourly_totals(sites["gw-a"], ["a1", "a2"])
    assert hourly_totals(central, ["b1"]) == {"b1-pump": 40}
    if isinstance(central, PostgresStore):  # one transaction wrote every frame and mark
        with central._lock:
            xids = central._q(
                "SELECT xmin::text FROM frames UNION SELECT xmin::text FROM uplink_marks"
            )
        assert len(xids) == 1
    # gw-c's first message, then its second again: both apply now
    results = central.apply_frames_many([frames_message("gw-c", m) for m in c])
    assert [(r.stored, r.upto) for r in results] == [(40, 40), (40, 80)]
    for s in sites.values():
        s.close()
