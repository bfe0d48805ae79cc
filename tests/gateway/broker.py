"""Start a private mosquitto on a free loopback port for one test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Broker:
    def __init__(self, workdir: Path, port: int, extra: str = "allow_anonymous true\n") -> None:
        self.port = port
        self.workdir = workdir
        self.conf = workdir / f"mosquitto-{port}.conf"
        self.log = workdir / f"mosquitto-{port}.log"
        self.conf.write_text(
            f"listener {port} 127.0.0.1\nuser root\npersistence false\n"
            f"log_dest file {self.log}\nlog_type all\n" + extra
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)])
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        "mosquitto exited: " + self.log.read_text()[-2000:]
                    ) from None
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
