"""`kizashi node ...`: provisioning commands (gateway.provision.node_main)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from gateway.provision import node_main


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    if args[:1] == ["flash"]:
        print("kizashi node flash: not provided by the gateway package", file=sys.stderr)
        return 2
    return node_main(args)
