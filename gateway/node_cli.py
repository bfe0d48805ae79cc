"""`kizashi node ...`: provisioning (gateway.provision) and flashing (firmware.deploy).

`node flash --port PORT --node ID` compiles the firmware with mpy-cross and copies it with the
node's node.json (from the gateway's secrets directory unless --node-file is given) to a
board with mpremote.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from gateway.config import secrets_path
from gateway.provision import node_main


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    if args[:1] == ["update"]:  # staged over-the-air rollout: gateway.rollout
        from gateway.rollout import main as update_main

        return update_main(args[1:])
    if "replace" in args[:3]:  # `node [--secrets DIR] replace ID ...`: gateway.board_replace
        from gateway.board_replace import main as replace_main

        i = args.index("replace")
        return replace_main(args[i + 1 :] + args[:i])
    if args[:1] == ["flash"]:
        from firmware.deploy import main as deploy_main

        where = argparse.ArgumentParser(add_help=False)
        where.add_argument("--secrets")
        where.add_argument("--config")
        found, args = where.parse_known_args(args)
        if "--node-file" not in args and "--node" in args:
            node_id = args[args.index("--node") + 1] if args.index("--node") + 1 < len(args) else ""
            # the same secrets directory as `node add` (--secrets, --config, environment)
            provisioned = secrets_path(found) / "nodes" / node_id / "node.json"
            if node_id and provisioned.exists():
                args += ["--node-file", str(provisioned)]
        result: int = deploy_main(args)
        return result
    return node_main(args)
