"""Over-the-air application updates: two slots, a signed manifest, a trial boot, rollback.

What is updated: the application files (`firmware/`, `protocol/` as .mpy or .py), never the
MicroPython image. Where: slot 1 is the directory `ota1/`, slot 2 `ota2/`; slot 0 is the
build flashed over USB at the root of the file system (the factory slot, never written over
the air). Which slot boots is decided by the slot table: two CRC-protected records written
alternately (the same A/B scheme as persist.py), so a power cut while it is written leaves
the previous record in force. A slot's files are written and verified completely (every
file's SHA-256 against the manifest, the manifest's Ed25519 signature against the fleet key)
before the table names it, and a slot being written is never the one running nor the one to
fall back to: a cut at any byte of any step leaves the node booting the old or the new build,
never a mix.

Trial boot: the table names the new slot with state TRIAL. Each boot in trial counts a try;
after `MAX_TRIES` boots without confirmation (a crash loop, a watchdog loop) or when the node
has not confirmed within its trial time (the caller's `trial_expired`), the table goes back to
the previous slot and counts a rollback. The node confirms once the new build has reached the
gateway (birth and a report acked).

Manifest (JSON, signed as sent): {"version": "0.2.0", "files": [[path, size, sha256 hex],
...]}; paths under firmware/ or protocol/, ending .mpy or .py, at most MAX_FILES, at most
MAX_TOTAL bytes together. Chunks are small (the caller's frames, a few hundred bytes): the
heap never holds more than one chunk and the hash state.
"""

import hashlib
import json
import struct

from protocol.crc32 import crc32

MAGIC = 0x4F4B  # "KO"
FMT = "<HBBBBBBIII"  # magic, version, active, previous, state, tries, pad, gen, rollbacks, updates
BODY = struct.calcsize(FMT)
SIZE = BODY + 4
TABLE = ("ota_a.bin", "ota_b.bin")
SLOT_DIRS = ("", "ota1", "ota2")
CONFIRMED = 0
TRIAL = 1
MAX_TRIES = 3
MAX_FILES = 48
MAX_TOTAL = 256 * 1024
MANIFEST = "manifest.json"
READ_CHUNK = 512


class Table:
    """The slot table record and its A/B storage."""

    def __init__(self, fs):
        self.fs = fs
        self.active = 0
        self.previous = 0
        self.state = CONFIRMED
        self.tries = 0
        self.gen = 0
        self.rollbacks = 0
        self.updates = 0
        self._slot = -1  # table file holding the newest valid record
        self.load()

    def load(self):
        best = None
        for i in range(2):
            r = self._unpack(self.fs.read(TABLE[i]))
            if r is not None and (best is None or r[7] > best[7]):
                best = r
                self._slot = i
        if best is not None:
            _, _, self.active, self.previous, self.state, self.tries, _, self.gen = best[:8]
            self.rollbacks, self.updates = best[8], best[9]

    @staticmethod
    def _unpack(data):
        if data is None or len(data) != SIZE:
            return None
        body = data[:BODY]
        if struct.unpack("<I", data[BODY:])[0] != crc32(body):
            return None
        v = struct.unpack(FMT, body)
        if v[0] != MAGIC or v[1] != 1 or v[2] > 2 or v[3] > 2:
            return None
        return v

    def save(self):
        """Write the record to the table file not holding the newest one. May raise (a cut)."""
        gen = self.gen + 1
        body = struct.pack(
            FMT, MAGIC, 1, self.active, self.previous, self.state, self.tries, 0, gen,
            self.rollbacks, self.updates,
        )  # fmt: skip
        target = 1 if self._slot == 0 else 0
        self.fs.write(TABLE[target], body + struct.pack("<I", crc32(body)))
        self.gen = gen
        self._slot = target

    # ---- transitions
    def switch(self, slot):
        """Boot `slot` next, on trial."""
        self.previous = self.active
        self.active = slot
        self.state = TRIAL
        self.tries = 0
        self.updates += 1
        self.save()

    def rollback(self):
        self.active = self.previous
        self.state = CONFIRMED
        self.tries = 0
        self.rollbacks += 1
        self.save()

    def confirm(self):
        if self.state == TRIAL:
            self.state = CONFIRMED
            self.tries = 0
            self.save()

    def staging_slot(self):
        """The slot an update may be written to: neither running nor the fallback, and never
        while the running build is on trial (its fallback is still needed). None if busy."""
        if self.state == TRIAL:
            return None
        return 2 if self.active == 1 else 1


def slot_path(slot, name):
    d = SLOT_DIRS[slot]
    return d + "/" + name if d else name


def boot_select(fs):
    """At boot, before the application is imported: count a trial boot, roll back after
    MAX_TRIES, and return (slot directory, Table). The caller puts the directory first on
    sys.path ("" = the factory build at the root). A slot without its manifest (only possible
    if the table was edited by hand) falls back to the factory build."""
    t = Table(fs)
    if t.state == TRIAL:
        if t.tries >= MAX_TRIES:
            t.rollback()
        else:
            t.tries += 1
            t.save()
    if t.active and fs.read(slot_path(t.active, MANIFEST)) is None:
        t.active = 0
    return SLOT_DIRS[t.active], t


def _verifier(key, message, signature):
    """Imported only when a build arrives: the verifier's code and SHA-512 constants (about
    10 KB of heap, bench.ota_cost) are not held by a node that is not being updated."""
    from firmware import ed25519

    return ed25519.Verify(key, message, signature)


def parse_manifest(data):
    """Manifest bytes -> (version, files) or raises ValueError(reason)."""
    try:
        m = json.loads(data)
    except ValueError:
        raise ValueError("manifest_json")
    if not isinstance(m, dict) or not isinstance(m.get("version"), str):
        raise ValueError("manifest_version")
    files = m.get("files")
    if not isinstance(files, list) or not 1 <= len(files) <= MAX_FILES:
        raise ValueError("manifest_files")
    total = 0
    out = []
    for f in files:
        if not isinstance(f, list) or len(f) != 3:
            raise ValueError("manifest_entry")
        path, size, digest = f
        if (
            not isinstance(path, str)
            or not (path.startswith("firmware/") or path.startswith("protocol/"))
            or not (path.endswith(".mpy") or path.endswith(".py"))
            or ".." in path
            or "//" in path
            or len(path) > 64
        ):
            raise ValueError("manifest_path")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_TOTAL:
            raise ValueError("manifest_size")
        if not isinstance(digest, str) or len(digest) != 64:
            raise ValueError("manifest_sha256")
        total += size
        out.append((path, size, digest.lower()))
    if total > MAX_TOTAL:
        raise ValueError("manifest_too_big")
    return m["version"], out


def _hex(b):
    return "".join("%02x" % x for x in b)


def file_sha256(fs, name):
    """Streaming SHA-256 of a file (READ_CHUNK bytes at a time when the fs can seek)."""
    h = hashlib.sha256()
    if hasattr(fs, "read_at"):
        off = 0
        while True:
            part = fs.read_at(name, off, READ_CHUNK)
            if not part:
                break
            h.update(part)
            off += len(part)
    else:
        data = fs.read(name)
        if data:
            h.update(data)
    return _hex(h.digest())


class Stager:
    """Receives one build into the staging slot; see the module docstring.

    begin(manifest, signature) -> reason | None   (starts over unless it is the same build)
    progress() -> (file index, offset)            (what to send next; resumable after a reset)
    chunk(index, offset, data) -> reason | None   (data for file `index` at `offset`)
    poll(bits)                                    (advances the signature check in slices)
    commit() -> reason | None                     (all verified: the table names the slot)
    """

    def __init__(self, fs, table, public_key):
        self.fs = fs
        self.table = table
        self.key = public_key
        self.slot = None
        self.files = []
        self.version = ""
        self._verify = None
        self.sig_ok = None
        self._resume()

    def _p(self, name):
        return slot_path(self.slot, name)

    def _resume(self):
        slot = self.table.staging_slot()
        if slot is None:
            return
        data = self.fs.read(slot_path(slot, "pending.json"))
        if not data:
            return
        if self.fs.read(slot_path(slot, MANIFEST)) is not None:
            # a cut between the table switch and the clean-up: that build is complete and
            # its slot has run since; the note is stale
            self.fs.remove(slot_path(slot, "pending.json"))
            return
        try:
            doc = json.loads(data)
            self.slot = slot
            self.version, self.files = parse_manifest(doc["manifest"])
            self._manifest = doc["manifest"]
            self._sig = bytes(int(doc["sig"][i : i + 2], 16) for i in range(0, 128, 2))
            self._verify = _verifier(self.key, self._manifest.encode(), self._sig)
        except (ValueError, KeyError, TypeError):
            self.slot = None
            self.files = []

    def begin(self, manifest, signature):
        slot = self.table.staging_slot()
        if slot is None:
            return "busy_trial"
        if len(signature) != 64:
            return "bad_signature"
        if isinstance(manifest, bytes):
            manifest = manifest.decode()
        try:
            version, files = parse_manifest(manifest)
        except ValueError as e:
            return str(e.args[0]) if e.args else "manifest"
        if self.slot == slot and getattr(self, "_manifest", None) == manifest:
            return None  # the same build again: resume where it stopped
        self.slot = slot
        self.version, self.files = version, files
        self._manifest = manifest
        self._sig = bytes(signature)
        self.fs.remove(self._p(MANIFEST))  # the slot is incomplete from here on
        for path, _, _ in files:
            self.fs.remove(self._p(path))
        if hasattr(self.fs, "mkdir"):
            self.fs.mkdir(SLOT_DIRS[slot])
        doc = {"manifest": manifest, "sig": _hex(self._sig)}
        self.fs.write(self._p("pending.json"), json.dumps(doc).encode())
        self._verify = _verifier(self.key, manifest.encode(), self._sig)
        self.sig_ok = None
        return None

    def _size(self, name):
        if hasattr(self.fs, "size"):
            return self.fs.size(name)
        data = self.fs.read(name)
        return -1 if data is None else len(data)

    def progress(self):
        if self.slot is None:
            return None
        for i, (path, size, _) in enumerate(self.files):
            have = self._size(self._p(path))
            if have < size or (size == 0 and have < 0):
                return i, max(have, 0)
        return len(self.files), 0

    def chunk(self, index, offset, data):
        if self.slot is None:
            return "no_update"
        if not 0 <= index < len(self.files):
            return "bad_index"
        path, size, _ = self.files[index]
        have = max(self._size(self._p(path)), 0)
        if offset != have:
            return "offset:" + str(have)  # resume from here
        if offset + len(data) > size:
            return "too_long"
        if hasattr(self.fs, "mkdir") and "/" in path:
            self.fs.mkdir(self._p(path.rsplit("/", 1)[0]))
        self.fs.append(self._p(path), data)
        return None

    def poll(self, bits=8):
        if self._verify is not None and self.sig_ok is None:
            self.sig_ok = self._verify.step(bits)
        return self.sig_ok

    def commit(self):
        if self.slot is None:
            return "no_update"
        p = self.progress()
        if p is None or p[0] < len(self.files):
            return "incomplete"
        while self.poll(256) is None:
            pass
        if not self.sig_ok:
            return "bad_signature"
        for path, size, digest in self.files:
            if self._size(self._p(path)) != size or file_sha256(self.fs, self._p(path)) != digest:
                self.fs.remove(self._p(path))  # sent again from the start
                return "sha256:" + path
        self.fs.write(self._p(MANIFEST), self._manifest.encode())  # the slot is complete
        self.table.switch(self.slot)
        self.fs.remove(self._p("pending.json"))
        self.slot = None
        return None


TRIAL_S = 600  # a build on trial must reach the gateway within this long, else roll back
MANIFEST_PART = "ota_manifest.part"
MAX_MANIFEST = 4096


def _u(args, key, hi=0xFFFFFFFF):
    v = args.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= hi:
        raise ValueError("bad_args:" + key)
    return v


def _b(args, key):
    v = args.get(key)
    if not isinstance(v, (bytes, bytearray)):
        raise ValueError("bad_args:" + key)
    return bytes(v)


class NodeUpdater:
    """The node's side of the `update` command (docs/FIRMWARE.md), trial confirmation and
    the trial timer. `fleet_key`: the fleet's Ed25519 public key (node.json `fleet_key`, hex);
    without it every update is refused (`no_fleet_key`)."""

    def __init__(self, fs, fleet_key=None):
        self.fs = fs
        self.table = Table(fs)
        self.key = fleet_key
        self.stager = None
        self.detail = {}
        self.trial = self.table.state == TRIAL

    def _stager(self):
        if self.stager is None:
            self.stager = Stager(self.fs, self.table, self.key)
        return self.stager

    def command(self, args):
        """-> reason or None; `self.detail` holds what cmd_ok reports. `commit` returning
        None means: reboot into the new build."""
        self.detail = {}
        try:
            op = args.get("op")
            if self.key is None:
                return "no_fleet_key"
            if op == "status":
                self._status()
                return None
            if op == "man":
                off = _u(args, "off", MAX_MANIFEST)
                data = _b(args, "d")
                have = self.fs.read(MANIFEST_PART) or b""
                if off == 0:
                    have = b""
                    self.fs.write(MANIFEST_PART, b"")
                if off != len(have):
                    return "offset:" + str(len(have))
                if off + len(data) > MAX_MANIFEST:
                    return "manifest_too_big"
                self.fs.append(MANIFEST_PART, data)
                return None
            st = self._stager()
            if op == "begin":
                why = st.begin(self.fs.read(MANIFEST_PART) or b"", _b(args, "sig"))
                if why is None:
                    self._status()
                return why
            if op == "put":
                return st.chunk(_u(args, "i", MAX_FILES), _u(args, "off", MAX_TOTAL), _b(args, "d"))
            if op == "commit":
                while st.poll(256) is None:
                    pass
                why = st.commit()
                if why is None:
                    self.fs.remove(MANIFEST_PART)
                return why
            return "bad_args:op"
        except ValueError as e:
            return str(e.args[0]) if e.args else "bad_args"
        except OSError:
            return "flash_error"

    def _status(self):
        t = self.table
        d = {"slot": t.active, "trial": t.state, "rollbacks": t.rollbacks}
        st = self._stager()  # after a reset: the build noted on flash, if any (resume)
        if st.slot is not None:
            p = st.progress()
            d["ver"] = st.version[:16]
            d["to"] = st.slot
            d["file"], d["off"] = p if p is not None else (0, 0)
        self.detail = d

    def poll(self, uptime_ms):
        """Each loop step: a slice of a pending signature check; True when the trial time
        ran out (the table now names the previous build: the caller resets the board)."""
        st = self.stager
        if st is not None and st.slot is not None:
            st.poll(8)
        if self.trial and uptime_ms >= TRIAL_S * 1000:
            self.trial = False
            self.table.rollback()
            return True
        return False

    def confirm(self):
        """The build on trial reached the gateway (birth and a report acked)."""
        if self.trial:
            self.trial = False
            self.table.confirm()
            return True
        return False
