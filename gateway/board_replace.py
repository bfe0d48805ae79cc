"""`kizashi node replace ID`: move a node id (and so its asset) to a new or wiped board.

A board counts its boot ids on its own flash; the gateway refuses a boot id older than the
ones it knows (`stale_boot`), which is what keeps a replayed old frame out. A new or wiped
board would start again at boot 1 and be refused for ever. Instead of teaching the gateway to
forget (which would let the old board's frames back in), the operator's command hands the new
board a starting point in its node.json:

- `boot_base`: one above every boot id the gateway has stored for this node id. The board's
  boot ids continue from there (firmware.runtime.Runtime.adopt), so the gateway's boot
  tracking accepts it as the node's next boot, and every frame of the old board (boot ids
  below the base) stays a duplicate or `stale_boot`. Nothing in the gateway is reset, so
  the command needs no running gateway and cannot race one.
- `counters`: the machine's runtime, starts and consumed-life seconds as last reported, which
  a blank flash takes over (the machine did not restart its life with the board).

The node's MQTT password is rotated (the old board, if it still exists, can no longer
publish as this node once Mosquitto has reloaded), the Wi-Fi and broker settings of the old
node.json are kept, and a `board_replaced` event is stored on the node, so it shows in the
asset's events. The asset keeps its history: everything is keyed by asset and node id.
Then flash the board with `kizashi node flash --port PORT --node ID`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gateway import provision
from gateway.config import add_store_options, secrets_path, store_url
from gateway.store import open_store
from gateway.store.api import EventRecord, Store, WriteBatch

__all__ = ["main", "replace_board", "replacement_base"]

U32 = 0xFFFFFFFF


def replacement_base(store: Store, node_id: str) -> tuple[int, dict[str, int]]:
    """(boot_base, counters) for a board taking over `node_id`, from what the store holds.

    boot_base is one above the highest boot id of the node's last birth and of every boot the
    sequence tracking has stored (seq_state keeps every boot, also when frames were pruned).
    """
    info = store.node(node_id)
    boots = [s.boot_id for s in store.load_seq_states() if s.node_id == node_id]
    if info is not None and info.boot_id is not None:
        boots.append(info.boot_id)
    base = max(boots, default=0) + 1
    if base > U32:
        raise ValueError(f"node {node_id}: boot ids exhausted")
    # The newest report (latest table) and the last birth both carry runtime and starts; the
    # larger is the newer (they only grow). life_s is only in the birth.
    counters = {"runtime_s": 0, "starts": 0, "life_s": 0}
    asset = store.asset_for_node(node_id)
    for st in store.latest_states(asset_ids=[asset.asset_id if asset else node_id]):
        if st.node_id == node_id:  # an unbound node's reports are kept under its own id
            counters["runtime_s"] = int(st.runtime_s)
            counters["starts"] = int(st.starts)
    birth = info.birth_info if info is not None else {}
    for key in counters:
        v = birth.get(key)
        if isinstance(v, int) and not isinstance(v, bool) and counters[key] < v <= U32:
            counters[key] = v
    return base, counters


def replace_board(
    store: Store,
    secrets_dir: Path,
    node_id: str,
    by: str = "",
    clock: Callable[[], float] = time.time,
    rotate: bool = True,
) -> dict[str, Any]:
    """Write the replacement board's node.json and record the event; returns the node.json."""
    path = secrets_dir / "nodes" / node_id / "node.json"
    old: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    base, counters = replacement_base(store, node_id)
    if rotate or not old:
        fresh = provision.add_node(
            secrets_dir,
            node_id,
            str(old.get("mqtt_host", "127.0.0.1")),
            int(old.get("mqtt_port", 1883)),
            rotate=True,
        )
        old = {**old, **{k: v for k, v in fresh.items() if k.startswith("mqtt_")}}
        old.setdefault("node_id", node_id)
        old.setdefault("wifi_ssid", fresh["wifi_ssid"])
        old.setdefault("wifi_password", fresh["wifi_password"])
    ident = {**old, "boot_base": base, "counters": counters}
    tmp = path.with_name("node.json.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(ident, indent=1) + "\n")
    os.replace(tmp, path)
    asset = store.asset_for_node(node_id)
    detail: dict[str, object] = {
        "boot_base": base,
        "asset_id": asset.asset_id if asset else "",
        "by": by,
        **counters,
    }
    ev = EventRecord(clock(), node_id, "board_replaced", detail, None, None, "gateway")
    store.write_batch(WriteBatch(events=[ev]))
    return ident


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="kizashi node replace",
        description="move a node id (and its asset) to a new or wiped board",
    )
    ap.add_argument("node_id")
    ap.add_argument("--secrets", help="as `kizashi node` (default: from --config or environment)")
    add_store_options(ap)  # --db / --config: the gateway's own database (gateway.config)
    ap.add_argument("--by", default=os.environ.get("USER", ""), help="who replaced the board")
    ap.add_argument(
        "--keep-password",
        action="store_true",
        help="keep the node's MQTT password (default: rotate it, locking the old board out)",
    )
    args = ap.parse_args(list(argv))
    if not provision.NODE_ID.match(args.node_id):
        print(f"kizashi node replace: bad node id {args.node_id!r}", file=sys.stderr)
        return 2
    sdir = secrets_path(args)
    store = open_store(store_url(args))
    try:
        if store.node(args.node_id) is None and store.asset_for_node(args.node_id) is None:
            print(
                f"kizashi node replace: node {args.node_id} is unknown to the gateway"
                " (never seen, bound to no asset): provision it with `kizashi node add`",
                file=sys.stderr,
            )
            return 2
        ident = replace_board(store, sdir, args.node_id, args.by, rotate=not args.keep_password)
    except (ValueError, OSError) as e:
        print(f"kizashi node replace: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    path = sdir / "nodes" / args.node_id / "node.json"
    print(f"node {args.node_id}: boots continue at {ident['boot_base']}; {path}")
    print(f"flash the new board: kizashi node flash --port PORT --node {args.node_id}")
    if not args.keep_password:
        print(f"new MQTT password: reload Mosquitto (kill -HUP) for {sdir / 'mosquitto'}")
    return 0
