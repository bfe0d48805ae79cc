"""Over-the-air updates, the staging half (firmware/ota.py has the slot table, the boot
choice and the update command): manifest checks, streaming SHA-256, the signature check and
`Stager`. Imported only when a build arrives, so a node that is not being updated does not
hold this code in its heap (bench.ota_cost).
"""

import hashlib
import json

from firmware.ota import MANIFEST, MAX_FILES, MAX_TOTAL, READ_CHUNK, SLOT_DIRS, slot_path


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
