"""A replacement board's node.json (`boot_base`, `counters`): boot ids continue above the
gateway's, a blank flash takes over the machine's counters, bad values never stop a boot."""

from __future__ import annotations

import json

import pytest

from firmware import config
from firmware.host import FakeClock, MemFS, QueueTransport, make_node
from protocol import frames

COUNTERS = {"runtime_s": 86_400, "starts": 12, "life_s": 40_000}


def boot(fs: MemFS) -> tuple[object, dict]:
    tr = QueueTransport()
    clock = FakeClock()
    node = make_node("pump-1", "healthy", tr, clock, fs, config={"window": 256})
    node.poll(clock.ticks_ms())
    node.poll(clock.ticks_ms())
    birth = frames.decode(tr.outbox[0][1])
    assert birth["kind"] == "birth"
    return node, birth


def node_json(**extra: object) -> bytes:
    return json.dumps({"node_id": "pump-1", "transport": "serial", **extra}).encode()


def test_blank_flash_starts_at_the_base_with_the_machine_counters() -> None:
    fs = MemFS()
    fs.write("node.json", node_json(boot_base=7, counters=COUNTERS))
    node, birth = boot(fs)
    assert birth["boot"] == 7
    assert (birth["info"]["runtime_s"], birth["info"]["starts"]) == (86_400, 12)
    assert node.rt.life_s == 40_000  # type: ignore[attr-defined]
    _, birth2 = boot(fs)  # the next boot counts on from its own record
    assert birth2["boot"] == 8 and birth2["info"]["runtime_s"] >= 86_400


def test_a_board_with_a_record_keeps_its_counters_and_higher_boot() -> None:
    fs = MemFS()
    for _ in range(10):
        boot(fs)
    fs.write("node.json", node_json(boot_base=4, counters=COUNTERS))
    _, birth = boot(fs)
    assert birth["boot"] == 11 and birth["info"]["starts"] == 0
    fs.write("node.json", node_json(boot_base=20, counters=COUNTERS))
    _, birth = boot(fs)
    assert birth["boot"] == 20 and birth["info"]["starts"] == 0


@pytest.mark.parametrize(
    "doc",
    [
        node_json(boot_base=-1),
        node_json(boot_base=True),
        node_json(boot_base="7"),
        node_json(boot_base=2**32),
        node_json(counters={"runtime_s": 1, "starts": 2}),
        node_json(counters={"runtime_s": 1.5, "starts": 2, "life_s": 3}),
        node_json(counters=[1, 2, 3]),
        b"[1, 2]",
        b"{not json",
        b"",
    ],
)
def test_bad_values_are_ignored(doc: bytes) -> None:
    fs = MemFS()
    fs.write("node.json", doc)
    base, counters = config.load_replacement(fs)
    assert base == 0 and counters is None
    _, birth = boot(fs)
    assert birth["boot"] == 1 and birth["info"]["runtime_s"] == 0
