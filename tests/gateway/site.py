"""A Kizashi site laid out as on Debian: broker files in a mosquitto-group setgid directory,
Debian's mosquitto.conf shape (include_dir conf.d), the broker started as root so that it
drops to the `mosquitto` user before reading its password files, exactly as systemd runs it."""

from __future__ import annotations

import contextlib
import grp
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.mosquitto import MOSQUITTO, free_port
from gateway.provision import node_main


@dataclass
class Site:
    root: Path
    secrets: Path
    broker_dir: Path
    conf: Path
    log: Path
    tls_port: int
    node_port: int
    gateway_port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def ca(self) -> Path:
        return self.broker_dir / "ca.crt"

    def start_broker(self) -> None:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                for port in (self.tls_port, self.node_port, self.gateway_port):
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise RuntimeError(f"mosquitto exited: {err} {self.log_text()}") from None
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start: " + self.log_text())

    def reload(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(1)  # SIGHUP, as `systemctl reload mosquitto`
        time.sleep(0.5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


@contextlib.contextmanager
def debian_site() -> Iterator[Site]:
    """Lay out the site (under /tmp, every parent readable like /etc), run broker-config as
    the README says, yield (the broker not started yet); remove it all afterwards."""
    root = Path(tempfile.mkdtemp(prefix="kz-site-", dir="/tmp"))
    os.chmod(root, 0o755)
    try:
        etc = root / "etc" / "mosquitto"
        (etc / "conf.d").mkdir(parents=True)
        for d in (root / "etc", etc, etc / "conf.d"):
            os.chmod(d, 0o755)
        bdir = etc / "kizashi"  # README: install -d -o kizashi -g mosquitto -m 2750 ...
        bdir.mkdir()
        with contextlib.suppress(KeyError):
            os.chown(bdir, -1, grp.getgrnam("mosquitto").gr_gid)
        os.chmod(bdir, 0o2750)
        logdir = root / "log"
        logdir.mkdir()
        with contextlib.suppress(KeyError):
            shutil.chown(logdir, "mosquitto")  # the Debian unit's ExecStartPre does this
        secrets = root / "var" / "lib" / "kizashi" / "secrets"
        site = Site(
            root,
            secrets,
            bdir,
            etc / "mosquitto.conf",
            logdir / "mosquitto.log",
            free_port(),
            free_port(),
            free_port(),
        )
        # Debian's /etc/mosquitto/mosquitto.conf, with paths moved under root.
        site.conf.write_text(
            f"persistence false\nlog_dest file {site.log}\nlog_type all\n"
            f"connection_messages true\ninclude_dir {etc / 'conf.d'}\n"
        )
        rc = node_main(
            [
                "--secrets",
                str(secrets),
                "broker-config",
                "--address",
                "127.0.0.1",  # stands in for the LAN address
                "--tls-port",
                str(site.tls_port),
                "--node-port",
                str(site.node_port),
                "--gateway-port",
                str(site.gateway_port),
                "--broker-dir",
                str(bdir),
            ]
        )
        assert rc == 0
        (etc / "conf.d" / "kizashi.conf").symlink_to(bdir / "kizashi.conf")
        yield site
    finally:
        with contextlib.suppress(NameError):
            site.stop()
        shutil.rmtree(root, ignore_errors=True)
