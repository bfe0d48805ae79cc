"""The gateway tests' private broker: bench/mosquitto.py (shared with the benchmarks)."""

from __future__ import annotations

from pathlib import Path

from bench.mosquitto import PrivateBroker, free_port

__all__ = ["Broker", "free_port"]


def Broker(workdir: Path, port: int, extra: str = "allow_anonymous true\n") -> PrivateBroker:
    """A private mosquitto on `port` with `extra` config lines (call .start())."""
    return PrivateBroker(workdir, extra, port)
