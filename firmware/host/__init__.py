"""Host runs of the unchanged firmware: stand-ins, a fake clock, an in-memory transport and
the `make_node` factory used by the demo, the HIL virtual board and the tests. Importable by
CPython and by MicroPython (tests/firmware/test_micropython_vm.py drives the real Node through
it in the VM); only vboard.py (pty, threads) is CPython-only.

    from firmware.host import FakeClock, QueueTransport, make_node
    clock = FakeClock()
    node = make_node("n01", "bearing_degrading", QueueTransport(), clock, "/tmp/n01")
    while ...: clock.advance(node.poll(clock.ticks_ms()) or 10)
"""

from firmware.host import stubs

stubs.install()

from firmware.fsio import VfsFS  # noqa: E402
from firmware.host.clock import FakeClock  # noqa: E402
from firmware.host.fakefs import MemFS, PowerCut  # noqa: E402
from firmware.node import Node  # noqa: E402
from firmware.sensors.sim import PROFILES, SimSensor  # noqa: E402

__all__ = [
    "PROFILES",
    "FakeClock",
    "MemFS",
    "PowerCut",
    "QueueTransport",
    "make_node",
]


class QueueTransport:
    """In-process transport: sent frames go to `outbox` as (leaf, payload); the gateway side
    appends ack/command payloads to `inbound`. Set `online = False` to simulate an outage."""

    def __init__(self, online=True, max_outbox=None):
        self.online = online
        self.outbox = []
        self.inbound = []
        self.will = None
        self.max_outbox = max_outbox

    def set_will(self, payload):
        self.will = payload

    def poll(self, now):
        pass

    def connected(self):
        return self.online

    def send(self, leaf, payload):
        if not self.online:
            return False
        if self.max_outbox is not None and len(self.outbox) >= self.max_outbox:
            return False
        self.outbox.append((leaf, bytes(payload)))
        return True


def _makedirs(path):
    """os.makedirs(path, exist_ok=True), also where os has only mkdir (MicroPython)."""
    import os

    if hasattr(os, "makedirs"):
        os.makedirs(path, exist_ok=True)
        return
    part = ""
    for name in path.split("/"):
        part = part + "/" + name if part or path.startswith("/") else name
        if name:
            try:
                os.mkdir(part)
            except OSError:
                pass  # exists


def _seed(node_id):
    h = 2166136261
    for ch in node_id.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h or 1


def make_node(
    node_id,
    profile,
    transport,
    clock,
    flash_dir,
    *,
    seed=None,
    age_days=0.0,
    config=None,
    reset_cause="power_on",
    wdt=None,
    wdt_ms=8000,
    reset=None,
    machine_s=None,
    phase_s=None,
):
    """A firmware Node on a simulated machine.

    node_id     1-32 chars [A-Za-z0-9_-]
    profile     'healthy' | 'bearing_degrading' | 'imbalance' | 'shifts' | 'idle' (or a dict)
    transport   an object with poll/connected/send/inbound (QueueTransport, SerialTransport)
    clock       FakeClock (or anything with ticks_ms() and seconds())
    flash_dir   directory standing in for the board's flash (created), or a MemFS
    seed        simulation seed (default: derived from node_id); age_days: machine age at t=0
    config      dict of config keys written to flash_dir/config.json before boot
    reset_cause the birth frame's `reset` ('power_on', 'soft', 'watchdog', ...)
    wdt, wdt_ms a machine.WDT stand-in (feed()) and its timeout: the node stops feeding it
                wdt_ms / 2 after the loop became unhealthy
    reset       what machine.reset() does (called by the 'reboot' command); None: nothing
    machine_s   the simulated machine's clock (seconds, callable); default clock.seconds.
                Give one that keeps running across reboots to make the machine independent
                of the board (its run/stop schedule does not restart with the board)
    phase_s     schedule offset (default: derived from node_id)
    """
    import json

    if isinstance(flash_dir, str) or hasattr(flash_dir, "__fspath__"):  # str or a Path
        flash_dir = str(flash_dir)
        _makedirs(flash_dir)
        fs = VfsFS(flash_dir)
    else:
        fs = flash_dir
    if config:
        fs.write("config.json", json.dumps(config).encode())
    sensor = SimSensor(
        profile,
        seed=_seed(node_id) if seed is None else seed,
        now_s=clock.seconds if machine_s is None else machine_s,
        age_days=age_days,
        phase_s=_seed(node_id) % 3600 if phase_s is None else phase_s,
    )
    return Node(
        node_id,
        sensor,
        transport,
        clock,
        fs,
        board="host",
        wdt=wdt,
        reset_cause=reset_cause,
        reset=reset,
        wdt_ms=wdt_ms,
        bench=True,  # a simulated machine: the host is a bench by definition
        transport_name=getattr(transport, "name", "host"),
    )
