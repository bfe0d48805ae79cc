"""Bench wrapper around the firmware engineer's virtual board (firmware.host.vboard).

It runs the *unchanged* firmware Node the same way `python -m firmware.host.vboard` does
(same PtyStream, same SerialTransport, same make_node, same RealClock), and adds only what
the HIL bench needs and the stock vboard does not offer yet (see docs/HIL.md, "Requests"):

- a settable stimulus: `--stimulus-file` holds a JSON sim profile (hil_tests.stimulus) that
  is re-read whenever it changes, i.e. the signal generator of the shaker table;
- machine time independent of the board: the simulated machine runs on
  `(time.time() - machine_epoch) * speed`, so a board reset or power cut does not restart
  the machine's run/stop schedule;
- a virtual watchdog (`--wdt-ms`): a thread that interrupts the main loop when the firmware
  stops feeding the WDT for wdt_ms of simulated time; the board then reboots with reset
  cause 'watchdog' (RAM lost, flash kept), like machine.WDT;
- an injected hang: SIGUSR1 makes the next sensor read spin for ever (a stuck I2C driver);
- a working `reboot` command: Node's reset_fn reboots the board in-process with reset cause
  'soft' (the stock vboard passes no reset function, so 'reboot' is acknowledged but nothing
  happens);
- a wire log: every payload the board sent (tx) and accepted (rx) is appended, hex, to
  `--wire-log`, so the bench can prove that no corrupt frame was accepted on either side.

The pty stays open across in-process reboots (a board behind a USB-UART bridge); a power
cut is the bench killing this process with SIGKILL and starting it again on the same flash.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time

from firmware.host import make_node
from firmware.host.clock import RealClock
from firmware.host.vboard import PtyStream, open_pty
from firmware.transports.serial import SerialTransport


class BoardReset(BaseException):
    """Raised out of the node loop to reboot the board (BaseException: the Node's own
    `except Exception` must not swallow it, just as it cannot stop a real reset)."""

    def __init__(self, cause):
        super().__init__(cause)
        self.cause = cause


class VirtualWDT:
    """machine.WDT stand-in: feed() stamps wall time; the monitor thread fires on expiry."""

    def __init__(self, timeout_ms, speed):
        self.timeout_s = timeout_ms / 1000.0 / speed
        self.last = time.monotonic()
        self.feeds = 0
        self.fired = False

    def feed(self):
        self.last = time.monotonic()
        self.feeds += 1


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


class Stimulus:
    """The shaker table: a sim profile from a JSON file, re-read when the file changes."""

    def __init__(self, path, default):
        self.path = path
        self.profile = default
        self.phase_s = 0
        self._mtime = None
        self.check()

    def check(self):
        if not self.path:
            return False
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        key = (st.st_mtime_ns, st.st_size)
        if key == self._mtime:
            return False
        try:
            with open(self.path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return False  # half-written: try again on the next loop
        self._mtime = key
        self.phase_s = data.pop("phase_s", 0)
        self.profile = data
        return True


def run(a):
    master, slave, path = open_pty(a.link)
    log = WireLog(a.wire_log)
    transport = LoggingTransport(PtyStream(master), log)
    transport.name = "serial"
    cfg = json.loads(a.config_json) if a.config_json else None
    stim = Stimulus(a.stimulus_file, a.profile)
    epoch = a.machine_epoch if a.machine_epoch is not None else time.time()

    def machine_s():
        return (time.time() - epoch) * a.speed

    hang = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: hang.set())
    print(json.dumps({"pty": path, "node": a.node, "pid": os.getpid()}), flush=True)

    cause = a.reset_cause
    first = True
    t_end = None if a.seconds is None else time.monotonic() + a.seconds
    while t_end is None or time.monotonic() < t_end:
        clock = RealClock(a.speed)  # uptime restarts at every boot
        wdt = VirtualWDT(a.wdt_ms, a.speed) if a.wdt_ms else None

        def reset_fn():
            raise BoardReset("soft")

        node = make_node(
            a.node,
            stim.profile,
            transport,
            clock,
            a.flash_dir,
            config=cfg if first else None,  # config.json is written once, like a deploy
            reset_cause=cause,
            wdt=wdt,
        )
        first = False
        node.reset_fn = reset_fn
        if wdt is not None:
            node.wdt_ms = a.wdt_ms
        sensor = node.sensor
        sensor.now_s = machine_s
        sensor.phase_s = stim.phase_s
        read_window = sensor.read_window

        def hooked_read(bx, by, bz, n, _read=read_window):
            if hang.is_set():
                hang.clear()
                while True:  # a stuck driver: only the watchdog gets us out
                    pass
            return _read(bx, by, bz, n)

        sensor.read_window = hooked_read
        stop = threading.Event()
        if wdt is not None:
            threading.Thread(target=_wdt_monitor, args=(wdt, stop), daemon=True).start()
        try:
            while t_end is None or time.monotonic() < t_end:
                if stim.check():
                    sensor.profile = stim.profile
                    sensor.phase_s = stim.phase_s
                delay = node.poll(clock.ticks_ms())
                clock.sleep_ms(max(1, min(delay, 20 * a.speed)))
            break
        except BoardReset as e:
            cause = e.cause
        except KeyboardInterrupt:  # delivered by the WDT monitor
            if wdt is None or not wdt.fired:
                raise
            cause = "watchdog"
        finally:
            stop.set()
        transport.deframer.reset()  # RAM is gone: a partial inbound frame with it
        transport.inbound.clear()
    os.close(master)
    os.close(slave)
    return 0


def _wdt_monitor(wdt, stop):
    import _thread

    while not stop.wait(0.005):
        if time.monotonic() - wdt.last > wdt.timeout_s:
            wdt.fired = True
            _thread.interrupt_main()
            return


def main(argv=None):
    ap = argparse.ArgumentParser(prog="hil_tests.vboard_ext")
    ap.add_argument("--node", required=True)
    ap.add_argument("--profile", default="healthy")
    ap.add_argument("--flash-dir", required=True)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--link")
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--config-json")
    ap.add_argument("--stimulus-file")
    ap.add_argument("--machine-epoch", type=float)
    ap.add_argument("--wdt-ms", type=int, default=0)
    ap.add_argument("--reset-cause", default="power_on")
    ap.add_argument("--wire-log")
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
