"""Commands from the centre, site side and outbox without a broker (real SQLite site, real
SQLite and PostgreSQL centre): each id applied once, refusals with the reason and nothing
changed, a command for another site refused, the outbox's states, rollouts checked against the
site's fleet key, the fleet prior fitted at the centre used by a site's outlook (with the site's
warning lead times and running parts), and the warning thresholds the centre tunes from two
sites' warning outcomes used by a site's health monitor."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.analytics import HealthMonitor
from gateway.outlook.engine import OutlookEngine
from gateway.outlook.evidence import fleet_evidence
from gateway.store.api import Asset, Part, ServiceEntry, Store
from gateway.store.sql import SqlStore
from gateway.store.sqlite import SqliteStore
from gateway.updates import Build, fleet_key, make_build
from gateway.uplink.central import CentralApplier
from gateway.uplink.commands import CommandReceiver
from gateway.uplink.config import UplinkConfig
from gateway.uplink.fleet_prior import PriorPublisher
from gateway.uplink.forwarder import Forwarder
from gateway.uplink.site_commands import SiteCommands, rollout_args
from gateway.uplink.wire import decode, encode

from ..analytics.test_analytics import REPORT_S, T0, write_series
from ..outlook.test_engine_warnings import DAY, HOUR, Feed
from .test_uplink import _drain
from .uplink_support import register_site


def _site(tmp_path: Path) -> tuple[SqliteStore, SiteCommands]:
    store = SqliteStore(tmp_path / "site.db")
    register_site(store, "site-a", ["a1"])
    return store, SiteCommands(store, tmp_path / "data", tmp_path / "secrets")


def _entries(store: SqlStore, finding: str) -> int:
    return sum(1 for e in store.service_log() if e.finding == finding)


def test_a_command_is_applied_once_however_often_it_arrives(tmp_path: Path) -> None:
    store, apply = _site(tmp_path)
    args = {"asset_id": "a1-pump", "kind": "inspection", "finding": "from the centre", "by": "ana"}
    assert apply(7, "service_add", args) == ("done", "")
    assert apply(7, "service_add", args) == ("done", "")  # a resend: answered, not applied again
    assert _entries(store, "from the centre") == 1
    timed = {**args, "kind": "failure", "finding": "seized", "stop_h": 20, "repair_cost": 950.5}
    assert apply(101, "service_add", timed) == ("done", "")
    (e,) = [e for e in store.service_log() if e.finding == "seized"]
    assert (e.stop_h, e.repair_cost) == (20.0, 950.5)
    state, reason = apply(102, "service_add", {**timed, "finding": "y", "stop_h": "20"})
    assert state == "refused" and "'stop_h' must be a number" in reason
    state, reason = apply(103, "service_add", {**timed, "finding": "y", "repair_cost": -1})
    assert state == "refused" and "repair_cost" in reason and _entries(store, "y") == 0
    # a refusal changes nothing and is remembered with its reason
    bad = {"asset_id": "a1-pump", "kind": "inspection", "date": "2999-01-01", "finding": "x"}
    state, reason = apply(8, "service_add", bad)
    assert state == "refused" and "in the future" in reason
    assert apply(8, "service_add", bad) == (state, reason) and _entries(store, "x") == 0
    assert apply(9, "asset_update", {"asset_id": "nope"})[1] == "no asset 'nope' at this site"
    assert apply(10, "format_disk", {})[0] == "refused"
    # a registry edit: the asset's limits and temperature source (the node config follows)
    upd = {"asset_id": "a1-pump", "zones": "2.0,4.0,6.5", "temp_source": "board"}
    assert apply(11, "asset_update", upd) == ("done", "")
    a = store.asset("a1-pump")
    assert a is not None and a.zone_limits == (2.0, 4.0, 6.5) and a.temp_source == "board"
    assert apply(12, "asset_update", {"asset_id": "a1-pump", "zones": "7,4,2"})[0] == "refused"
    assert store.asset("a1-pump") == a  # a refused edit left the asset as it was
    store.close()


def test_the_receiver_refuses_a_command_for_another_site(tmp_path: Path) -> None:
    store, apply = _site(tmp_path)
    rx = CommandReceiver("gw-a", UplinkConfig(), apply)
    args = {"asset_id": "a1-pump", "kind": "inspection", "finding": "not mine"}
    msg = {"v": 1, "id": 3, "to": "gw-b", "kind": "service_add", "args": args}
    answer = asyncio.run(rx.handle(encode(msg)))
    assert answer is not None and answer["state"] == "refused" and "gw-b" in answer["reason"]
    assert _entries(store, "not mine") == 0
    assert asyncio.run(rx.handle(b"\xc1garbage")) is None  # no id to answer: logged, counted
    store.close()


def test_rollout_needs_the_sites_fleet_key(tmp_path: Path) -> None:
    store, apply = _site(tmp_path)
    src = tmp_path / "build"
    (src / "firmware").mkdir(parents=True)
    (src / "firmware" / "main.py").write_text("print('v2')\n")
    good = make_build(src, "2.0", fleet_key(tmp_path / "secrets"))  # the key the nodes trust
    other = make_build(src, "2.0", fleet_key(tmp_path / "elsewhere"))

    def args(b: Build) -> dict[str, Any]:
        return rollout_args(b, nodes=["a1"])

    state, reason = apply(1, "rollout", args(other))
    assert state == "refused" and "fleet key" in reason
    tampered = {**args(good), "files": [["firmware/main.py", b"print('evil')\n"]]}
    assert "do not match" in apply(2, "rollout", tampered)[1]
    assert apply(3, "rollout", {**args(good), "nodes": ["zz9"]})[1].startswith("unknown node")
    assert apply(4, "rollout", args(good)) == ("done", "")
    docs = [json.loads(p.read_text()) for p in (tmp_path / "data" / "rollouts").glob("*.json")]
    assert [(d["version"], d["canaries"], d["state"]) for d in docs] == [("2.0", ["a1"], "running")]
    store.close()


def test_outbox_states(store: Store) -> None:
    assert isinstance(store, SqlStore)
    a = store.queue_fleet_command("gw-a", "service_add", {"asset_id": "x"}, "ana")
    b = store.queue_fleet_command("gw-a", "window_add", {"site": "s"})
    p1 = store.queue_fleet_command("gw-b", "fleet_prior", {"state": {}})
    p2 = store.queue_fleet_command("gw-b", "fleet_prior", {"state": {}})
    assert store.pending_fleet_heads() == {"gw-a": a, "gw-b": p2}  # p1 superseded by p2
    assert store.fleet_command(p1).state == "superseded"  # type: ignore[union-attr]
    assert not store.answer_fleet_command(a, "gw-b", "done", "")  # another site's answer
    assert store.answer_fleet_command(a, "gw-a", "refused", "no asset 'x' at this site")
    assert not store.answer_fleet_command(a, "gw-a", "done", "")  # answered already
    c = store.fleet_command(a)
    assert c is not None and (c.state, c.reason, c.by_user) == (
        "refused", "no asset 'x' at this site", "ana",
    )  # fmt: skip
    assert store.pending_fleet_heads()["gw-a"] == b


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


def test_prior_fitted_at_the_centre_is_used_by_a_site(tmp_path: Path) -> None:
    """The centre holds another site's completed lives; the site itself has none. The prior
    the centre fits and sends is what the site's outlook then uses."""
    part = Part("bearing-de", "Drive-end bearing", "6205", 20000.0, 7.0)
    centre = SqliteStore(tmp_path / "centre.db")
    for i, life_h in enumerate([300, 420, 360]):  # gw-b's lives, as forwarded to the centre
        centre.upsert_asset(Asset(f"B{i}", "site-b", "M", f"n{i}", "class_I", "", (part,)))
        write_series(centre, f"n{i}", [1.0] * (life_h * 3600 // REPORT_S + 30))
        failed_at = T0 + (life_h * 3600 // REPORT_S) * REPORT_S
        centre.add_service_entry(
            ServiceEntry(f"B{i}", _day(failed_at), "replacement", "bearing-de")
        )
    pub = PriorPublisher(centre, ["gw-a", "gw-b"])
    assert pub.publish() == 2 and pub.publish() == 0  # unchanged: not sent again
    cmd = centre.fleet_commands(origin="gw-a")[0]
    assert cmd.kind == "fleet_prior" and cmd.args["lives"] == 3

    site = SqliteStore(tmp_path / "site.db")
    site.upsert_asset(Asset("A1", "site-a", "M", "m1", "class_I", "", (part,)))
    write_series(site, "m1", [1.0] * 200)
    engine = OutlookEngine(site, clock=lambda: T0 + 300 * REPORT_S)
    before = engine.refresh(["A1"])[0]
    assert "fleet_prior" not in before.method  # one site, no lives: no prior of its own
    assert SiteCommands(site, tmp_path, tmp_path / "s")(cmd.command_id, cmd.kind, cmd.args)[0] == (
        "done"
    )
    assert engine.step() >= 1  # a new prior: every asset is recomputed
    after = site.outlooks(["A1"])[0]
    assert "fleet_prior" in after.method, after
    assert "3 completed lives of parts across every site" in after.status_text
    assert SiteCommands(site, tmp_path, tmp_path / "s")(99, "fleet_prior", {"state": 5})[0] == (
        "refused"
    )
    site.close()
    centre.close()


def test_the_centres_prior_has_the_sites_warning_leads_and_running_parts(
    tmp_path: Path, store: Store
) -> None:
    """A site's warned failure and its running parts reach the centre as the site forwards
    them (frames, the monitor's events, the service log); the prior the centre fits and sends
    has the warning lead time and the running parts as censored lives: the prior the site fits
    alone from the same data, no less."""
    centre = store
    assert isinstance(centre, SqlStore)
    site = SqliteStore(tmp_path / "gw-a.db")
    part = Part("brg", "Drive-end bearing", "6205-2RS", rated_l10_h=30000, lead_time_days=5)
    for i in range(4):
        site.upsert_asset(Asset(f"A{i}", "site-a", f"Pump {i}", f"n{i}", parts=(part,)))
    mon = HealthMonitor(site, tmp_path / "health.json")
    mon.step()
    feeds = {f"A{i}": Feed(site, f"n{i}") for i in range(4)}
    # A0: a baseline over 30 quiet running hours, then impacts (kurtosis 6 against 3.2): the
    # site's monitor warns, the part fails at 192 h. A1: replaced sound at 288 h (censored).
    # A2: replaced at 240 h (a failure), its new part runs 120 h. A3: running, 400 h. (Lives
    # end at midnight: service dates are days, a part's life starts at its entry's day.)
    feeds["A0"].run(30)
    feeds["A0"].run(162, kurt=3.0)
    feeds["A1"].run(288)
    feeds["A2"].run(240)
    feeds["A3"].run(400)
    raised = [e for e in mon.step() if e.code == "baseline_change"]
    assert [e.detail["asset"] for e in raised] == ["A0"]
    site.add_service_entry(ServiceEntry("A0", _day(feeds["A0"].t), "failure"))
    site.add_service_entry(
        ServiceEntry("A1", _day(feeds["A1"].t), "replacement", finding="no defect, routine")
    )
    site.add_service_entry(ServiceEntry("A2", _day(feeds["A2"].t), "replacement"))
    feeds["A2"].t += 2 * DAY  # the new part starts after the replacement's day
    feeds["A2"].run(120)
    clock = [max(f.t for f in feeds.values()) + 60]
    engine = OutlookEngine(site, clock=lambda: clock[0])
    engine.step()
    clock[0] += 600  # the forecaster refits (every 5 min) with what the step kept
    alone = engine.forecaster.prior()
    assert alone is not None
    assert (alone.n_failures, alone.n_censored, alone.n_running) == (2, 3, 2)
    (lead,) = alone.warning_leads_s.tolist()
    assert lead == 192 * HOUR - float(raised[0].detail["runtime_s"])  # type: ignore[arg-type]
    # the evidence read whole from a store is what the engine kept as it went
    fc = engine.forecaster
    assert fleet_evidence(site, clock[0]) == (fc.warnings, fc.running_ages)

    applier = CentralApplier(centre, {"gw-a": "acme"}, UplinkConfig())
    fwd = Forwarder(site, "gw-a", UplinkConfig())
    assert applier.apply("gw-a", decode(fwd.state_message()[1]))[2].refused == 0
    for stream in ("frames", "events"):
        _drain(fwd, applier, stream)
    pub = PriorPublisher(centre, ["gw-a"], clock=lambda: clock[0])
    assert pub.publish() == 1
    cmd = centre.fleet_commands(origin="gw-a")[0]
    sent = cmd.args["state"]
    assert (sent["n_censored"], sent["n_running"]) == (3, 2)
    assert sent["warning_leads_s"] == [lead]
    assert sent == alone.to_state()
    assert (cmd.args["lives"], cmd.args["running"]) == (3, 2)

    # the site uses it, and says what it was fitted from
    assert SiteCommands(site, tmp_path, tmp_path / "s")(cmd.command_id, cmd.kind, cmd.args)[0] == (
        "done"
    )
    assert engine.step() >= 1
    o = {x.asset_id: x for x in site.outlooks()}
    assert "fleet_prior" in o["A2"].method, o["A2"]  # (A3 is older than every ended life)
    words = "3 completed lives of parts across every site and 2 parts still running"
    assert words in o["A2"].status_text
    site.close()


GROUP = "group2_rigid"  # the machine group of every asset below (the Asset default)


def settle_warning(
    store: SqlStore, mon: HealthMonitor, asset: str, node: str, kurt: float, finding: str
) -> float:
    """A bearing warning raised by the site's own monitor from `node`'s reports (a baseline,
    then excess kurtosis `kurt`), settled by an inspection with `finding`; the peak ratio."""
    store.upsert_asset(Asset(asset, "site-" + asset[0].lower(), "Pump", node))
    mon.step()
    feed = Feed(store, node)
    feed.run(30)
    feed.run(10, kurt=kurt)
    mon.step()
    assert mon.assets[asset].early.warning("bearing") is not None
    peak = mon.assets[asset].early.state["bearing"].peak["kurtosis"]
    store.add_service_entry(ServiceEntry(asset, _day(feed.t), "inspection", finding=finding))
    mon.step()
    return peak


def two_sites_outcomes(tmp_path: Path) -> dict[str, tuple[SqliteStore, HealthMonitor]]:
    """gw-a finds a kurtosis warning false (peak 1.88x: alone it raises its threshold to
    2.06); gw-b confirms a kurtosis defect that peaked at 1.75x (alone: no warning found
    false, the default 1.5 stays). Each by its own real health monitor."""
    sites = {}
    for origin in ("gw-a", "gw-b"):
        store = SqliteStore(tmp_path / f"{origin}.db")
        mon = HealthMonitor(store, tmp_path / f"{origin}-health.json")
        mon.step()
        sites[origin] = (store, mon)
    false_peak = settle_warning(*sites["gw-a"], "A0", "n0", 3.0, "No defect found")
    defect_peak = settle_warning(*sites["gw-b"], "B0", "m0", 2.6, "Defect: outer race spall")
    assert false_peak == pytest.approx(6.0 / 3.2) and defect_peak == pytest.approx(5.6 / 3.2)
    return sites


def test_warning_thresholds_learned_from_two_sites_are_used_by_a_site(
    tmp_path: Path, store: Store
) -> None:
    """Outcomes recorded at two sites reach the centre with their states; the thresholds the
    centre tunes from both differ from what either site learns alone; sent down, a site's
    monitor uses them (and says so in the warning's words)."""
    centre = store
    assert isinstance(centre, SqlStore)
    sites = two_sites_outcomes(tmp_path)
    (store_a, mon_a), mon_b = sites["gw-a"], sites["gw-b"][1]
    alone_a, alone_b = mon_a.group_params(GROUP), mon_b.group_params(GROUP)
    assert alone_a[0].kurt_ratio == pytest.approx(1.1 * 6.0 / 3.2) and alone_a[1] == "site"
    assert alone_b[0].kurt_ratio == 1.5 and alone_b[1] == ""  # a confirmed warning alone
    # each outcome is kept with the entry that settled it, and forwarded with the state
    assert [(o.channel, o.confirmed) for o in store_a.warning_outcomes()] == [("kurtosis", False)]
    applier = CentralApplier(centre, {"gw-a": "acme", "gw-b": "globex"}, UplinkConfig())
    for origin, (site, _) in sites.items():
        for _ in range(2):  # a state sent twice adds nothing
            assert applier.apply(origin, decode(Forwarder(site, origin, UplinkConfig())
                                               .state_message()[1]))[2].refused == 0  # fmt: skip
    got = sorted((o.machine_group, o.confirmed) for o in centre.warning_outcomes())
    assert got == [(GROUP, False), (GROUP, True)]
    pub = PriorPublisher(centre, ["gw-a", "gw-b"])
    assert pub.publish() == 2 and pub.publish() == 0  # the thresholds (no lives: no prior)
    cmd = centre.fleet_commands(origin="gw-a")[0]
    assert cmd.kind == "warning_thresholds" and cmd.args["outcomes"] == 2
    learned = cmd.args["state"]["groups"][GROUP]
    # capped by gw-b's defect: neither gw-a's 2.06 nor gw-b's 1.5
    assert learned == {"thresholds": {"kurt_ratio": pytest.approx(5.6 / 3.2)}, "outcomes": 2}
    for origin, (site, mon) in sites.items():
        c = centre.fleet_commands(origin=origin)[0]
        assert SiteCommands(site, tmp_path, tmp_path / "s")(c.command_id, c.kind, c.args) == (
            "done", "",
        )  # fmt: skip
        mon.step()
        params, where, n = mon.group_params(GROUP)
        assert (params.kurt_ratio, where, n) == (pytest.approx(5.6 / 3.2), "fleet", 2)
        assert mon.assets[origin[-1].upper() + "0"].early.params.kurt_ratio == params.kurt_ratio
    # gw-a now warns on a 1.81x kurtosis that its own records (2.06) would have let pass
    a1 = Feed(store_a, "n1")
    store_a.upsert_asset(Asset("A1", "site-a", "Pump", "n1"))
    a1.run(30)
    a1.run(10, kurt=2.8)
    raised = [e for e in mon_a.step() if e.code == "baseline_change"]
    assert [e.detail["thresholds"] for e in raised] == ["fleet"]
    words = "threshold 1.75x learned from 2 warning outcomes across every site"
    assert str(raised[0].detail["reason"]).endswith("running hours; " + words)
    # the outlook says it where it says where the prior comes from: in the asset's status
    (outlook,) = OutlookEngine(store_a, clock=lambda: a1.t).refresh(["A1"])
    assert outlook.status_text.startswith("Bearing warning: kurtosis 1.8x"), outlook
    assert words in outlook.status_text
    bad = {"state": {"groups": {GROUP: {"thresholds": {"hold_s": 1.0}, "outcomes": 2}}}}
    state, reason = SiteCommands(store_a, tmp_path, tmp_path / "s")(98, cmd.kind, bad)
    assert state == "refused" and "not a warning threshold" in reason
    for site, _ in sites.values():
        site.close()


def test_fleet_command_cli(tmp_path: Path, capsys: Any) -> None:
    """`kizashi fleet command`: queued for the site that owns the asset, listed with the state;
    what the centre can check is refused at once with the reason."""
    from gateway.fleet_command_cli import main

    db = tmp_path / "centre.db"
    centre = SqliteStore(db)
    register_site(centre, "site-a", ["a1"])
    with centre._lock, centre._transaction():  # as the applier records gw-a's keys
        assert centre._claim("asset", "a1-pump", "gw-a") and centre._claim("site", "site-a", "gw-a")
    centre.close()
    conf = tmp_path / "fleet.toml"
    conf.write_text(f'[fleet]\ndatabase = "{db}"\n[fleet.origins]\ngw-a = "acme"\n')
    base = ["--config", str(conf), "--by", "ana"]
    assert main([*base, "service", "a1-pump", "--kind", "inspection", "--finding", "ok"]) == 0
    assert main([*base, "asset", "a1-pump", "--zones", "2,4,6", "--temp-source", "board"]) == 0
    assert main([*base, "window", "site-a", "--start", "2030-01-02T08:00",
                 "--end", "2030-01-02T12:00"]) == 0  # fmt: skip
    assert main([*base, "periods", "gw-a", "--report-s", "300"]) == 0
    assert main([*base, "periods", "gw-z", "--report-s", "300"]) == 2  # not a configured site
    assert main([*base, "asset", "nope", "--zones", "2,4,6"]) == 2
    assert main([*base, "service", "a1-pump", "--kind", "teardown"]) == 2
    assert main([*base, "prior"]) == 0  # no lives: not enough evidence, nothing queued
    out = capsys.readouterr()
    assert "belongs to no site gateway" in out.err and "kind must be one of" in out.err
    assert "not enough evidence" in out.out
    capsys.readouterr()
    assert main([*base, "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split("\t")[1:3] for ln in lines] == [
        ["gw-a", "node_periods"], ["gw-a", "window_add"], ["gw-a", "asset_update"],
        ["gw-a", "service_add"],
    ]  # fmt: skip
    centre = SqliteStore(db)
    w = centre.fleet_commands(origin="gw-a")[1].args
    # 08:00 in the site's zone (register_site puts site-a in Asia/Tokyo): 23:00 UTC the day before
    assert datetime.fromtimestamp(w["start"], UTC).isoformat() == "2030-01-01T23:00:00+00:00"
    centre.close()
