"""Bench wrapper around the firmware's virtual board (`python -m firmware.host.vboard`).

It runs the stock virtual board unchanged (same options: --profile-file stimulus, machine time
independent of the board via --machine-epoch, --wdt-ms watchdog, in-process `reboot`) and
adds only a wire log: every payload the board sent (tx) and accepted (rx) is appended, hex,
to `--wire-log`, so the bench can prove that no corrupt frame was accepted on either side.
"""

import argparse
import sys

from firmware.host import vboard
from firmware.transports.serial import SerialTransport


class WireLog:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1) if path else None  # noqa: SIM115

    def write(self, direction, payload):
        if self.f is not None:
            self.f.write(direction + " " + bytes(payload).hex() + "\n")


class LoggingTransport(SerialTransport):
    def __init__(self, stream, log):
        super().__init__(stream)
        self.log = log

    def poll(self, now):
        before = len(self.inbound)
        super().poll(now)
        for p in self.inbound[before:]:
            self.log.write("rx", p)

    def send(self, leaf, payload):
        ok = super().send(leaf, payload)
        if ok:
            self.log.write("tx", payload)
        return ok


def main(argv=None):
    ap = argparse.ArgumentParser(prog="hil_tests.vboard_ext", add_help=False)
    ap.add_argument("--wire-log")
    a, rest = ap.parse_known_args(argv)
    log = WireLog(a.wire_log)
    return vboard.main(rest, transport_factory=lambda stream: LoggingTransport(stream, log))


if __name__ == "__main__":
    sys.exit(main())
