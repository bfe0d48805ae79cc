"""Typed entry points into protocol/ (which is untyped: it also runs on MicroPython)."""

from __future__ import annotations

from typing import Any

from protocol import frames, serial_framing, topics

FLAG_RUNNING: int = frames.FLAG_RUNNING
FLAG_CLOCK_UNSYNCED: int = frames.FLAG_CLOCK_UNSYNCED


def encode_ack(node_id: str, boot_id: int, seq_upto: int, time_s: int) -> bytes:
    out: bytes = frames.encode_ack(node_id, boot_id, seq_upto, time_s)
    return out


def encode_command(
    node_id: str, boot_id: int, cmd_id: int, time_s: int, name: str, args: dict[str, Any]
) -> bytes:
    out: bytes = frames.encode_command(node_id, boot_id, cmd_id, time_s, name, args)
    return out


def encode_serial(payload: bytes) -> bytes:
    """One payload -> COBS + CRC-32 serial frame with its 0x00 delimiter."""
    out: bytes = serial_framing.encode_frame(payload)
    return out


class Deframer:
    """Typed wrapper of protocol.serial_framing.Deframer."""

    def __init__(self) -> None:
        self._d = serial_framing.Deframer()

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = self._d.feed(data)
        return out

    def reset(self) -> None:
        self._d.reset()

    @property
    def rejected(self) -> dict[str, int]:
        out: dict[str, int] = self._d.rejected
        return out


def node_topic(node_id: str, leaf: str) -> str:
    out: str = topics.node_topic(node_id, leaf)
    return out


def node_wildcard(leaf: str) -> str:
    out: str = topics.node_wildcard(leaf)
    return out


def gateway_state_topic(gateway_id: str) -> str:
    out: str = topics.gateway_state_topic(gateway_id)
    return out


def parse_node_topic(topic: str) -> tuple[str, str] | None:
    out: tuple[str, str] | None = topics.parse_node_topic(topic)
    return out
