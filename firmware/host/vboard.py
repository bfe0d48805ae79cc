"""A virtual board for the HIL bench: the unchanged firmware Node, on a simulated machine,
speaking the framed serial protocol over a pseudo-terminal (as a Pico over USB would).

    python -m firmware.host.vboard --node n01 --flash-dir /tmp/n01 \
        [--profile healthy | --profile-json '{"tones": ...}' | --profile-file stim.json] \
        [--speed 60] [--link /tmp/kizashi-n01] [--seconds N] [--config-json '{"window_s": 5}'] \
        [--machine-epoch UNIX_S] [--wdt-ms 8000] [--reset-cause power_on]

Prints one JSON line {"pty": "/dev/pts/N", "node": ..., "profile": ..., "pid": ...} on stdout,
then runs until killed (or for --seconds of wall time). The same flash directory across runs
= the same board across power cuts (boot_id, runtime, stored frames persist).

The board as a whole, beyond the Node:
- machine vs board time: the simulated machine runs on its own clock,
  `(time.time() - machine_epoch) * speed` (epoch default: start of this process), so a board
  reset does not restart the machine's run/stop schedule; pass the same --machine-epoch to
  a restarted process (power cut) to keep the machine's time running through it. The board's
  uptime (ticks_ms) restarts at every boot.
- stimulus: a named profile, a profile dict (--profile-json, firmware.sensors.sim.PROFILES
  keys, optional "phase_s"), or --profile-file: a JSON profile re-read whenever the file
  changes (the shaker table's signal generator; write it with a rename).
- reset: the 'reboot' command's machine.reset() reboots the board in-process: a new Node on
  the same flash, RAM lost, reset cause 'soft'. The pty stays open (a USB-UART bridge).
- watchdog (--wdt-ms): machine.WDT stand-in; if the firmware does not feed it for wdt_ms of
  board time the board resets with cause 'watchdog' (the main loop is interrupted wherever it
  is, e.g. in a `bench {hang_s}` spin).
"""

import argparse
import json
import os
import sys
import threading
import time

from firmware import ota
from firmware.fsio import VfsFS
from firmware.host import make_node
from firmware.host.clock import RealClock
from firmware.sensors.sim import PROFILES
from firmware.transports.serial import SerialTransport
from protocol.frames import RESET_CAUSES


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
    """(master_fd, slave_fd, slave_path); `link` gets a symlink to the slave path."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    if link:
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(path, link)
    return master, slave, path


class BoardReset(BaseException):
    """Raised out of the node loop to reboot the board. A BaseException: the Node's own
    `except Exception` must not swallow it, just as it cannot stop a real reset."""

    def __init__(self, cause):
        super().__init__(cause)
        self.cause = cause


def soft_reset():
    """machine.reset() of the virtual board."""
    raise BoardReset("soft")


class VirtualWDT:
    """machine.WDT stand-in. feed() stamps wall time; a monitor thread interrupts the main
    thread (KeyboardInterrupt) once no feed came for timeout_ms of board time."""

    def __init__(self, timeout_ms, speed=1.0):
        self.timeout_ms = timeout_ms
        self.timeout_s = timeout_ms / 1000.0 / speed
        self.last = time.monotonic()
        self.feeds = 0
        self.fired = False
        self._stop = threading.Event()

    def feed(self):
        self.last = time.monotonic()
        self.feeds += 1

    def start(self):
        threading.Thread(target=self._monitor, daemon=True).start()

    def stop(self):
        self._stop.set()

    def _monitor(self):
        import _thread

        while not self._stop.wait(0.005):
            if time.monotonic() - self.last > self.timeout_s:
                self.fired = True
                _thread.interrupt_main()
                return


class MachineClock:
    """The simulated machine's time: (wall - epoch) * speed seconds, independent of boards."""

    def __init__(self, epoch=None, speed=1.0):
        self.epoch = time.time() if epoch is None else epoch
        self.speed = speed

    def seconds(self):
        return (time.time() - self.epoch) * self.speed


# Keys a profile dict may leave out.
PROFILE_DEFAULTS = {
    "tones": [],
    "noise_g": 0.002,
    "impulses": None,
    "schedule": None,
    "growth": [0.0, 0.0],
    "temp_c": [20.0, 30.0],
}


class Stimulus:
    """The machine profile: fixed (name or dict), or a JSON file re-read when it changes."""

    def __init__(self, profile="healthy", path=None):
        self.path = path
        self.phase_s = None  # None: make_node's default
        self.profile = self._split(profile) if isinstance(profile, dict) else profile
        self._key = None
        self.check()

    def _split(self, data):
        data = dict(PROFILE_DEFAULTS, **data)
        phase = data.pop("phase_s", None)
        if phase is not None:
            self.phase_s = phase
        return data

    def check(self):
        """True if the file changed (and was read): apply profile/phase_s to the sensor."""
        if not self.path:
            return False
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        key = (st.st_mtime_ns, st.st_size)
        if key == self._key:
            return False
        try:
            with open(self.path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return False  # half-written: try again on the next loop
        self._key = key
        self.profile = self._split(data)
        return True

    def apply(self, sensor):
        sensor.profile = PROFILES[self.profile] if isinstance(self.profile, str) else self.profile
        if self.phase_s is not None:
            sensor.phase_s = self.phase_s


def run_vboard(
    node_id,
    profile="healthy",
    flash_dir=None,
    speed=1.0,
    link=None,
    seconds=None,
    config=None,
    out=None,
    *,
    profile_file=None,
    machine_epoch=None,
    wdt_ms=0,
    reset_cause="power_on",
    transport_factory=SerialTransport,
):
    """Run the board until `seconds` of wall time passed (None: for ever). Returns the last
    Node. `profile`: a PROFILES name or a profile dict; `transport_factory(stream)` builds
    the serial transport (a subclass may log the wire)."""
    if flash_dir is None:
        raise ValueError("flash_dir is required")
    master, slave, path = open_pty(link)
    transport = transport_factory(PtyStream(master))
    transport.name = "serial"
    machine = MachineClock(machine_epoch, speed)
    stim = Stimulus(profile, profile_file)
    label = profile if isinstance(profile, str) else "custom"
    print(
        json.dumps({"pty": path, "node": node_id, "profile": label, "pid": os.getpid()}),
        file=out or sys.stdout,
        flush=True,
    )
    cause = reset_cause
    first = True
    node = None
    t_end = None if seconds is None else time.monotonic() + seconds
    try:
        while t_end is None or time.monotonic() < t_end:
            clock = RealClock(speed)  # the board's uptime restarts at every boot
            wdt = VirtualWDT(wdt_ms, speed) if wdt_ms else None
            # main.py's slot choice (firmware/ota.py): count a trial boot, roll back after
            # too many (the host runs its own code whatever the slot; the table is real)
            ota.boot_select(VfsFS(str(flash_dir)))
            node = make_node(
                node_id,
                stim.profile,
                transport,
                clock,
                flash_dir,
                config=config if first else None,  # config.json is written once (deploy)
                reset_cause=cause,
                wdt=wdt,
                wdt_ms=wdt_ms or 8000,
                reset=soft_reset,
                machine_s=machine.seconds,
                phase_s=stim.phase_s,
            )
            first = False
            if wdt is not None:
                wdt.start()
            try:
                while t_end is None or time.monotonic() < t_end:
                    if stim.check():
                        stim.apply(node.hw_sensor)
                    delay = node.poll(clock.ticks_ms())
                    clock.sleep_ms(max(1, min(delay, 20 * speed)))
                break
            except BoardReset as e:
                cause = e.cause
            except KeyboardInterrupt:  # delivered by the watchdog's monitor thread
                if wdt is None or not wdt.fired:
                    raise
                cause = "watchdog"
            finally:
                if wdt is not None:
                    wdt.stop()
            transport.deframer.reset()  # RAM is gone: a partial inbound frame with it
            transport.inbound.clear()
    finally:
        os.close(master)
        os.close(slave)
    return node


def main(argv=None, transport_factory=SerialTransport):
    ap = argparse.ArgumentParser(prog="firmware.host.vboard")
    ap.add_argument("--node", required=True)
    ap.add_argument("--profile", default="healthy", choices=sorted(PROFILES))
    ap.add_argument("--profile-json", help="a sim profile dict (PROFILES keys, opt. phase_s)")
    ap.add_argument("--profile-file", help="JSON sim profile, re-read whenever it changes")
    ap.add_argument("--flash-dir", required=True)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--link")
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--config-json")
    ap.add_argument("--machine-epoch", type=float, help="unix time of machine time 0")
    ap.add_argument("--wdt-ms", type=int, default=0, help="arm a watchdog (board ms)")
    ap.add_argument("--reset-cause", default="power_on", choices=RESET_CAUSES)
    a = ap.parse_args(argv)
    cfg = json.loads(a.config_json) if a.config_json else None
    profile = json.loads(a.profile_json) if a.profile_json else a.profile
    run_vboard(
        a.node,
        profile,
        a.flash_dir,
        a.speed,
        a.link,
        a.seconds,
        cfg,
        profile_file=a.profile_file,
        machine_epoch=a.machine_epoch,
        wdt_ms=a.wdt_ms,
        reset_cause=a.reset_cause,
        transport_factory=transport_factory,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
