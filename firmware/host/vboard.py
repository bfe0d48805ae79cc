"""A virtual board for the HIL bench: the unchanged firmware Node, on a simulated machine,
speaking the framed serial protocol over a pseudo-terminal (as a Pico over USB would).

    python -m firmware.host.vboard --node n01 --profile healthy --flash-dir /tmp/n01 \
        [--speed 60] [--link /tmp/kizashi-n01] [--seconds N] [--config-json '{"window_s": 5}']

Prints one JSON line {"pty": "/dev/pts/N", "node": ...} on stdout, then runs until killed
(or for --seconds of wall time). The same flash directory across runs = the same board
across resets (boot_id, runtime, stored frames persist).
"""

import argparse
import json
import os
import sys
import time

from firmware.host import make_node
from firmware.host.clock import RealClock
from firmware.transports.serial import SerialTransport


class PtyStream:
    """Non-blocking master side of a pty: read() returns b'' when idle, write() drops (and
    reports a short write) when the other side does not read."""

    def __init__(self, fd):
        import tty

        tty.setraw(fd)
        os.set_blocking(fd, False)
        self.fd = fd

    def read(self, n):
        try:
            return os.read(self.fd, n)
        except (BlockingIOError, OSError):
            return b""

    def write(self, data):
        try:
            return os.write(self.fd, data)
        except (BlockingIOError, OSError):
            return 0


def open_pty(link=None):
    """(master_fd, slave_path); `link` gets a symlink to the slave path."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    if link:
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(path, link)
    return master, slave, path


def run_vboard(
    node_id, profile, flash_dir, speed=1.0, link=None, seconds=None, config=None, out=None
):
    master, slave, path = open_pty(link)
    transport = SerialTransport(PtyStream(master))
    transport.name = "serial"
    clock = RealClock(speed)
    node = make_node(node_id, profile, transport, clock, flash_dir, config=config)
    print(
        json.dumps({"pty": path, "node": node_id, "profile": profile}),
        file=out or sys.stdout,
        flush=True,
    )
    t_end = None if seconds is None else time.monotonic() + seconds
    try:
        while t_end is None or time.monotonic() < t_end:
            delay = node.poll(clock.ticks_ms())
            clock.sleep_ms(max(1, min(delay, 20 * speed)))
    finally:
        os.close(master)
        os.close(slave)
    return node


def main(argv=None):
    ap = argparse.ArgumentParser(prog="firmware.host.vboard")
    ap.add_argument("--node", required=True)
    ap.add_argument("--profile", default="healthy")
    ap.add_argument("--flash-dir", required=True)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--link")
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--config-json")
    a = ap.parse_args(argv)
    cfg = json.loads(a.config_json) if a.config_json else None
    run_vboard(a.node, a.profile, a.flash_dir, a.speed, a.link, a.seconds, cfg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
