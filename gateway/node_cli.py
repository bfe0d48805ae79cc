"""`kizashi node ...`: provisioning (gateway.provision), replacement, over-the-air updates.

`node flash` (firmware.deploy) is kizashi/node.py's: the gateway never imports the firmware.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from gateway.provision import node_main


def main(argv: Sequence[str]) -> int:
    # `--secrets DIR` / `--config FILE` may come before or after the sub-command.
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--secrets")
    where.add_argument("--config")
    found, rest = where.parse_known_args(list(argv))
    place = [f"--{k}={v}" for k, v in vars(found).items() if v]
    if rest[:1] == ["update"]:  # staged over-the-air rollout: gateway.rollout
        from gateway.rollout import main as update_main

        return update_main(rest[1:] + (["--secrets", found.secrets] if found.secrets else []))
    if rest[:1] == ["replace"]:  # `node replace ID ...`: gateway.board_replace
        from gateway.board_replace import main as replace_main

        return replace_main(rest[1:] + place)
    return node_main(list(argv))
