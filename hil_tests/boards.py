"""One board interface, two implementations: the virtual board (a separate process on a pty)
and a real board on a serial port. Tests only use `Board`.

    board.start(config=..., stimulus=...)   boot with this config and stimulus
    board.bench                             the gateway side (frames, acks, commands)
    board.birth                             the latest birth frame seen
    board.command(name, args)               send a command, return its answer event
    board.reset()                           'reboot' command, wait for the next birth
    board.power_cut()                       virtual only: SIGKILL, restart on the same flash
    board.inject_hang()                     `bench {hang_s}`: the loop stops feeding the WDT
    board.set_stimulus(stim)                shaker table / bench-mode simulated sensor
    board.sim(seconds)                      wall seconds for `seconds` of board time
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from firmware import config as fwconfig
from hil_tests.bench import Bench
from hil_tests.stimulus import Stimulus

ROOT = Path(__file__).resolve().parents[1]
NODE_ID = "hil01"


class NotSupported(Exception):
    """The board cannot do this (the test skips, naming the reason)."""


class Board:
    kind = "abstract"
    speed = 1.0

    def __init__(self, node_id: str = NODE_ID) -> None:
        self.node_id = node_id
        self.bench = Bench(node_id)
        self.birth: dict[str, Any] | None = None
        self.config: dict[str, Any] = {}

    # time ------------------------------------------------------------
    def sim(self, seconds: float) -> float:
        """Wall seconds that `seconds` of simulated (board) time take."""
        return seconds / self.speed

    def timeout(self, sim_seconds: float, slack: float = 3.0) -> float:
        return self.sim(sim_seconds) + slack

    def sleep_sim(self, seconds: float) -> None:
        time.sleep(self.sim(seconds))

    # commands ------------------------------------------------------------
    def command(self, name: str, args: dict[str, Any], timeout_sim: float = 10.0, **kw: Any):
        m = self.bench.mark()
        cid = self.bench.command(name, args, **kw)
        return self.bench.wait_answer(m, cid, self.timeout(timeout_sim))

    def wait_birth(self, mark: int, timeout: float) -> dict[str, Any]:
        f = self.bench.wait_frame(mark, lambda f: f["kind"] == "birth", timeout, "birth frame")
        self.birth = f
        return f

    def reset(self) -> dict[str, Any]:
        m = self.bench.mark()
        ans = self.command("reboot", {})
        if ans["code"] != "cmd_ok":
            raise AssertionError(f"reboot refused: {ans}")
        return self.wait_birth(m, self.timeout(30))

    # interface to implement --------------------------------------------------
    def start(self, config: dict[str, Any] | None = None, stimulus: Stimulus | None = None):
        raise NotImplementedError

    def stop(self) -> None:
        self.bench.shutdown()

    def power_cut(self, off_s: float = 0.2) -> dict[str, Any]:
        raise NotSupported("power cut needs a relay on the board's supply (not wired)")

    def inject_hang(self, hang_s: int = 60) -> None:
        """The firmware's bench hang: after `cmd_ok` the loop spins `hang_s` without feeding
        the watchdog, which resets the board (bench mode only: a stimulus must be in force or
        no accelerometer fitted). Wait for the reset with `wait_birth`."""
        ans = self.command("bench", {"hang_s": hang_s})
        if ans["code"] != "cmd_ok":
            raise AssertionError(f"bench hang_s refused: {ans}")

    def set_stimulus(self, stim: Stimulus) -> None:
        raise NotImplementedError

    def tx_log(self) -> set[bytes] | None:
        """Every payload the board sent, if the board can tell (virtual board only)."""
        return None

    def rx_log(self) -> list[bytes] | None:
        return None

    def describe(self) -> str:
        return self.kind


class VirtualBoard(Board):
    """`python -m hil_tests.vboard_ext` (the firmware's vboard plus a wire log) or the stock
    `python -m firmware.host.vboard`, on a pty opened with pyserial like a real port."""

    kind = "virtual"

    def __init__(
        self,
        workdir: Path | None = None,
        speed: float = 20.0,
        wdt_ms: int = 0,
        module: str = "hil_tests.vboard_ext",
        node_id: str = NODE_ID,
    ) -> None:
        super().__init__(node_id)
        self._own = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="kizashi-hil-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.flash = self.dir / "flash"
        self.stim_file = self.dir / "stimulus.json"
        self.wire_log = self.dir / "wire.log"
        self.speed = speed
        self.wdt_ms = wdt_ms
        self.module = module
        self.proc: subprocess.Popen[str] | None = None
        self.pty: str | None = None
        self.epoch = time.time()
        self.starts = 0

    def describe(self) -> str:
        return f"virtual ({self.module}, speed x{self.speed:g})"

    def _spawn(self, config: dict[str, Any] | None) -> None:
        cmd = [
            sys.executable,
            "-m",
            self.module,
            "--node",
            self.node_id,
            "--flash-dir",
            str(self.flash),
            "--speed",
            str(self.speed),
        ]
        if config:
            cmd += ["--config-json", json.dumps(config)]
        cmd += ["--profile-file", str(self.stim_file), "--machine-epoch", repr(self.epoch)]
        if self.wdt_ms:
            cmd += ["--wdt-ms", str(self.wdt_ms)]
        if self.module == "hil_tests.vboard_ext":
            cmd += ["--wire-log", str(self.wire_log)]
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"virtual board did not start: {err[-2000:]}")
        self.pty = json.loads(line)["pty"]
        self.starts += 1

    def start(self, config: dict[str, Any] | None = None, stimulus: Stimulus | None = None):
        self.config = dict(config or {})
        if stimulus is not None:
            self.set_stimulus(stimulus)
        self.epoch = time.time()
        m = self.bench.mark()
        self._spawn(self.config)
        assert self.pty is not None
        self.bench.open(self.pty)
        return self.wait_birth(m, 15.0)

    def set_stimulus(self, stim: Stimulus) -> None:
        tmp = self.stim_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(stim.profile()))
        os.replace(tmp, self.stim_file)

    def machine_time(self) -> float:
        return (time.time() - self.epoch) * self.speed

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        if self.proc is not None:
            for s in (self.proc.stdout, self.proc.stderr):
                if s is not None:
                    s.close()
        self.proc = None

    def power_cut(self, off_s: float = 0.2) -> dict[str, Any]:
        """SIGKILL mid-whatever (RAM lost, flash as it was), then power on again."""
        self._kill()
        self.bench.close_port()  # the USB port disappears with the board
        time.sleep(off_s)
        m = self.bench.mark()
        self._spawn(None)  # config.json is on the flash already
        assert self.pty is not None
        self.bench.open(self.pty)
        return self.wait_birth(m, 15.0)

    def inject_hang(self, hang_s: int = 60) -> None:
        if not self.wdt_ms:
            raise NotSupported("hang injection needs a virtual board with --wdt-ms")
        super().inject_hang(hang_s)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _log(self, direction: str) -> list[bytes]:
        if not self.wire_log.exists():
            return []
        out = []
        for line in self.wire_log.read_text().splitlines():
            d, _, h = line.partition(" ")
            if d == direction and h:
                out.append(bytes.fromhex(h))
        return out

    def tx_log(self) -> set[bytes] | None:
        return set(self._log("tx")) if self.module == "hil_tests.vboard_ext" else None

    def rx_log(self) -> list[bytes] | None:
        return self._log("rx") if self.module == "hil_tests.vboard_ext" else None

    def stop(self) -> None:
        super().stop()
        self._kill()
        if self._own:
            shutil.rmtree(self.dir, ignore_errors=True)


class RealBoard(Board):
    """A board on a serial port, flashed once per session with firmware.deploy and driven in
    bench mode (no accelerometer fitted: the firmware falls back to its simulated sensor).

    Config per test is applied by a `config` command carrying every key (DEFAULTS merged with
    the test's overrides), so a test never inherits the previous test's config. The stimulus
    is a `bench` command (`Stimulus.bench_args()`: its first tone only). The watchdog is the
    board's own (`wdt_ms` 8000 on every board in firmware/boards.py): the `wdt_ms` a test asks
    of a virtual board is not applied here.
    """

    kind = "real"

    def __init__(self, port: str, node_id: str = NODE_ID, deploy: bool = True) -> None:
        super().__init__(node_id)
        self.port = port
        self.deploy = deploy
        self.deployed = False

    def describe(self) -> str:
        return f"real board on {self.port}"

    def _deploy(self) -> None:
        node_file = Path(tempfile.mkdtemp(prefix="kizashi-hil-")) / "node.json"
        # A HIL board is a bench: its stimulus is the simulated sensor (firmware bench mode).
        ident = {"node_id": self.node_id, "transport": "serial", "bench": True}
        node_file.write_text(json.dumps(ident))
        cmd = [sys.executable, "-m", "firmware.deploy", "flash", "--port", self.port]
        cmd += ["--node", self.node_id, "--node-file", str(node_file)]
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"deploy failed ({r.returncode}): {r.stdout}\n{r.stderr}")
        self.deployed = True

    def mpremote(self, *args: str, timeout: float = 30) -> None:
        cmd = [sys.executable, "-m", "mpremote", "connect", self.port, *args]
        subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=True)

    def start(self, config: dict[str, Any] | None = None, stimulus: Stimulus | None = None):
        if self.deploy and not self.deployed:
            self._deploy()
        if self.bench.ser is not None:
            self.bench.close_port()  # mpremote needs the port
        self.mpremote("soft-reset")
        m = self.bench.mark()
        self.bench.open(self.port, timeout=20)
        birth = self.wait_birth(m, 30.0)
        self.config = dict(config or {})
        full = {k: v for k, v in fwconfig.DEFAULTS.items() if k not in fwconfig.REBOOT_KEYS}
        full.update(self.config)
        if full != {k: v for k, v in fwconfig.DEFAULTS.items() if k not in fwconfig.REBOOT_KEYS}:
            ans = self.command("config", full)
            if ans["code"] != "cmd_ok":
                raise RuntimeError(f"config refused by the board: {ans['detail']}")
        if stimulus is not None:
            self.set_stimulus(stimulus)
        return birth

    def set_stimulus(self, stim: Stimulus) -> None:
        args = stim.bench_args()
        ans = self.command("bench", args)
        if ans["code"] != "cmd_ok":
            raise AssertionError(
                f"the board refused the bench stimulus ({ans['detail'].get('why')}): {args}; "
                "is the flashed firmware older than firmware/stimulus.py (--no-deploy)?"
            )

    def wait_birth(self, mark: int, timeout: float) -> dict[str, Any]:
        """The next birth, across a board reset (reboot command, watchdog): a native USB CDC
        port (e.g. a Pico's) goes away with the reset; reopen it once it is back. Behind a
        USB-UART bridge the port stays: the birth simply arrives."""
        deadline = time.monotonic() + timeout
        while not self.bench.port_lost.wait(0.1):
            if self.bench.since(mark, "birth"):
                return super().wait_birth(mark, 1.0)
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.1f} s waiting for a birth frame")
        self.bench.close_port()
        self.bench.open(self.port, timeout=max(1.0, deadline - time.monotonic()))
        return super().wait_birth(mark, max(1.0, deadline - time.monotonic()))
