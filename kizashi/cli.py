"""The `kizashi` command: one entry point that hands each sub-command to its own module.

Each sub-command lives beside the code it drives and exposes `main(argv) -> int`; this file
only maps names to those functions, importing lazily so `kizashi rul` does not load Flask.
The commands that start processes (gateway, fleet, demo) and `node flash` (firmware) live in
this package, the composition root; the others in gateway/ and fleet_web/.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

# name -> (module, function, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("kizashi.demo", "main", "run the whole system locally with simulated nodes"),
    "gateway": ("kizashi.app", "gateway_main", "gateway run --config FILE"),
    "fleet": ("kizashi.app", "fleet_main", "fleet run --config FILE: the fleet server"),
    "node": (
        "kizashi.node",
        "main",
        "node add ID | list | flash --port P --node ID | replace ID | update --build DIR ...",
    ),
    "asset": ("gateway.registry_cli", "main", "asset registry: add, list, set, bind"),
    "site": ("gateway.site_cli", "main", "site set NAME --tz Asia/Tokyo: a site's time zone"),
    "service": ("gateway.service_log_cli", "main", "service log: record inspections, replacements"),
    "window": ("gateway.service_log_cli", "window_main", "maintenance windows per site"),
    "part": (
        "gateway.parts_cli",
        "main",
        "parts: catalog add/list, stock set/adjust/list, reservations list, demand",
    ),
    "user": ("fleet_web.users", "main", "user add NAME --role viewer|technician|admin"),
    "rul": (
        "gateway.forecast.rul_cli",
        "main",
        "remaining life of one PRONOSTIA-format bearing file",
    ),
}


def usage() -> str:
    lines = ["usage: kizashi COMMAND [ARGS...]", "", "commands:"]
    for name, (_, _, text) in COMMANDS.items():
        lines.append(f"  {name:<10} {text}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"kizashi: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module_name, func_name, _ = COMMANDS[name]
    func: Callable[[list[str]], int] = getattr(importlib.import_module(module_name), func_name)
    return func(rest)


if __name__ == "__main__":
    sys.exit(main())
