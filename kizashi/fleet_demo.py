"""`kizashi fleet demo`: two customers' site gateways and the fleet server in one process, with
no outside service (docs/FLEET.md).

Each site gateway is a real SQLite store with a month of synthetic hourly reports (the page
tests' fleet_web.synth, not the firmware simulation of `kizashi demo`) and the outlook its own
engine computed. The uplink runs in-process: the same messages the MQTT forwarder sends
(Forwarder.next_batch / state_message) applied by the same CentralApplier, every few seconds,
without a broker (the tests use a real Mosquitto). The fleet page over the central store shows
both sites; users: `admin` (service team) and `acme` (a customer's viewer: only its site). Its
writes go to the sites as commands (fleet_web/centre.py), delivered in-process in the same
rounds and applied by the sites' own SiteCommands.
"""

from __future__ import annotations

import argparse
import secrets
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from gateway.store import open_store
from gateway.store.sql import SqlStore
from gateway.uplink.central import CentralApplier
from gateway.uplink.config import UplinkConfig
from gateway.uplink.forwarder import Forwarder
from gateway.uplink.site_commands import SiteCommands
from gateway.uplink.wire import decode

# origin, customer, site, id prefix
DEMO_SITE_GATEWAYS = (
    ("gw-acme-osaka", "acme", "Acme Osaka Works", "OSK-"),
    ("gw-globex-kobe", "globex", "Globex Kobe Yard", "KOB-"),
)


def forward_in_process(fwd: Forwarder, applier: CentralApplier) -> int:
    """One round of the forwarder's loop without a broker: state, then frames, then events."""
    messages = 0
    applier.apply(fwd.origin, decode(fwd.state_message()[1]))
    for stream in ("frames", "events"):
        while (batch := fwd.next_batch(stream)) is not None:
            upto, body = batch
            _, _, result = applier.apply(fwd.origin, decode(body))
            fwd.acknowledged(stream, upto, result.upto)
            messages += 1
    return messages


def commands_in_process(central: SqlStore, origin: str, apply: SiteCommands) -> int:
    """The pending commands of `origin`, oldest first, applied and answered without a broker."""
    n = 0
    while (cid := central.pending_fleet_heads().get(origin)) is not None:
        cmd = central.fleet_command(cid)
        if cmd is None:
            break
        state, reason = apply(cid, cmd.kind, cmd.args)
        if not central.answer_fleet_command(cid, origin, state, reason):
            break
        n += 1
    return n


def _sql(url: str) -> SqlStore:
    store = open_store(url, synchronous="NORMAL")
    if not isinstance(store, SqlStore):
        raise TypeError("SQL store expected")
    return store


def build(
    data_dir: Path, now: float, assets_per_site: int = 8
) -> tuple[SqlStore, list[Forwarder], CentralApplier]:
    """The site stores (filled once), the central store and the in-process uplink."""
    from fleet_web.synth import populate
    from gateway.outlook import OutlookEngine

    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fwds = []
    for origin, _, site, prefix in DEMO_SITE_GATEWAYS:
        store = _sql(str(data_dir / f"{origin}.db"))
        if not store.assets():
            populate(store, assets_per_site, 24 * 30, now, sites=(site,), prefix=prefix)
            OutlookEngine(store, clock=lambda: now).step()
        fwds.append(Forwarder(store, origin, UplinkConfig()))
    central = _sql(str(data_dir / "fleet.db"))
    origins = {origin: customer for origin, customer, _, _ in DEMO_SITE_GATEWAYS}
    applier = CentralApplier(central, origins, UplinkConfig())
    for fwd in fwds:
        forward_in_process(fwd, applier)
    return central, fwds, applier


def _users(central: SqlStore) -> dict[str, str]:
    from fleet_web.auth import hash_password
    from gateway.store.api import User

    out = {}
    for name, customer in (("admin", ""), ("acme", "acme")):
        if central.user(name) is None:
            password = secrets.token_urlsafe(12)
            role = "admin" if not customer else "viewer"
            central.upsert_user(User(name, hash_password(password), role, customer=customer))
            out[name] = password
    return out


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog="kizashi fleet demo", description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--data-dir", type=Path, default=Path("data/fleet-demo"))
    ap.add_argument("--seconds", type=float, default=None, help="stop after N wall seconds")
    args = ap.parse_args(list(argv))
    from waitress.server import create_server

    from fleet_web import create_app

    central, fwds, applier = build(args.data_dir, time.time())
    passwords = _users(central)
    app = create_app({"SECRET_KEY": secrets.token_hex(32), "FLEET_ROLE": True}, store=central)
    sites = {
        f.origin: SiteCommands(f.store, args.data_dir / f.origin, args.data_dir / "secrets")
        for f in fwds
    }
    server = create_server(app, host=args.host, port=args.port, threads=4)
    threading.Thread(target=server.run, name="web", daemon=True).start()
    print(f"Kizashi fleet demo: {len(fwds)} site gateways, data in {args.data_dir}")
    print(f"fleet page: http://{args.host}:{args.port}/  (users admin and acme)")
    for name, password in passwords.items():
        print(f"password of {name} (generated, shown once): {password}")
    end = None if args.seconds is None else time.monotonic() + args.seconds
    try:
        while end is None or time.monotonic() < end:
            time.sleep(2.0 if end is None else min(2.0, max(0.0, end - time.monotonic())))
            for fwd in fwds:
                commands_in_process(central, fwd.origin, sites[fwd.origin])
                forward_in_process(fwd, applier)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        for fwd in fwds:
            fwd.store.close()
        central.close()
    print("stopped", flush=True)
    return 0
