"""Over-the-air updates, the staging half (firmware/ota.py has the slot table, the boot
choice and the update command): manifest checks, streaming SHA-256, the signature check and
`Stager`. Imported only when a build arrives, so a node that is not being updated does not
hold this code in its heap (bench.ota_cost).
"""

import hashlib
import json

from firmware.ota import MANIFEST, MAX_FILES, MAX_TOTAL, READ_CHUNK, SLOT_DIRS, slot_path


SLICE_UNITS = 1  # signature work per poll (ed25519.Verify units: a scalar bit, a block)
SLICE_READS = 4  # file reads (READ_CHUNK bytes each) hashed per poll
PENDING_MAN = "pending.man"  # in the staging slot: the build being received, for a resume
PENDING_SIG = "pending.sig"


def signed_message(manifest):
    """What the fleet key signs: the manifest's SHA-256 (32 bytes). The node hashes the
    manifest with the C hashlib and verifies Ed25519 over 32 bytes: one SHA-512 block in
    Python instead of one per 128 bytes of manifest (docs/FIRMWARE.md)."""
    return hashlib.sha256(manifest).digest()


def _verifier(key, message, signature):
    """Imported only when a build arrives (and dropped after, ota.NodeUpdater): a node that
    is not being updated does not hold the verifier's code (bench.ota_cost)."""
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


def _read_part(fs, name, off):
    if hasattr(fs, "read_at"):
        return fs.read_at(name, off, READ_CHUNK)
    data = fs.read(name) or b""
    return data[off : off + READ_CHUNK]


class Stager:
    """Receives one build into the staging slot; see the module docstring.

    begin(manifest, signature) -> reason | None   (starts over unless it is the same build)
    progress() -> (file index, offset)            (what to send next; resumable after a reset)
    chunk(index, offset, data) -> reason | None   (data for file `index` at `offset`)
    poll()                                        (the checks, one slice per call)
    commit(wait) -> reason | None                 (all verified: the table names the slot)

    The checks run in `poll` slices (signature first, then each complete file's SHA-256), so
    no call holds the node's loop for long; `commit(wait=False)` answers `verifying` until
    they are done. Memory: the parsed file list and the check state (about 0.2 KB per file
    and 1 KB, docs/FIRMWARE.md); the manifest itself stays on flash.
    """

    def __init__(self, fs, table, public_key):
        self.fs = fs
        self.table = table
        self.key = public_key
        self.slot = None
        self.files = []
        self.version = ""
        self._mid = None  # the manifest's SHA-256 (what is signed)
        self._sig = None
        self._reset_checks()
        self._resume()

    def _reset_checks(self):
        self._verify = None
        self.sig_ok = None
        self._ck = 0  # next file to check
        self._h = None  # its SHA-256 so far
        self._ho = 0
        self._bad = None  # a file that failed its check (removed: it is sent again)
        self.checked = False  # the signature and every file are good

    def _p(self, name):
        return slot_path(self.slot, name)

    def _resume(self):
        slot = self.table.staging_slot()
        if slot is None:
            return
        sig = self.fs.read(slot_path(slot, PENDING_SIG))
        if sig is None:
            return
        if self.fs.read(slot_path(slot, MANIFEST)) is not None:
            # a cut between the table switch and the clean-up: that build is complete and
            # its slot has run since; the note is stale
            self.fs.remove(slot_path(slot, PENDING_SIG))
            self.fs.remove(slot_path(slot, PENDING_MAN))
            return
        data = self.fs.read(slot_path(slot, PENDING_MAN))
        if len(sig) != 64 or not data:
            return
        try:
            self.version, self.files = parse_manifest(data)
        except ValueError:
            self.files = []
            return
        self.slot = slot
        self._mid = signed_message(data)
        self._sig = sig
        self._verify = _verifier(self.key, self._mid, sig)

    def begin(self, manifest, signature):
        slot = self.table.staging_slot()
        if slot is None:
            return "busy_trial"
        if len(signature) != 64:
            return "bad_signature"
        if isinstance(manifest, str):
            manifest = manifest.encode()
        try:
            version, files = parse_manifest(manifest)
        except ValueError as e:
            return str(e.args[0]) if e.args else "manifest"
        mid = signed_message(manifest)
        signature = bytes(signature)
        if self.slot == slot and self._mid == mid:  # the same build again: resume
            if self._sig != signature:  # another signature for it: check that one
                self.fs.write(self._p(PENDING_SIG), signature)
                self._sig = signature
                self._reset_checks()
                self._verify = _verifier(self.key, mid, signature)
            return None
        self.slot = slot
        self.version, self.files = version, files
        self._mid, self._sig = mid, signature
        self.fs.remove(self._p(MANIFEST))  # the slot is incomplete from here on
        self.fs.remove(self._p(PENDING_SIG))  # a note is complete once its signature is there
        for path, _, _ in files:
            self.fs.remove(self._p(path))
        if hasattr(self.fs, "mkdir"):
            self.fs.mkdir(SLOT_DIRS[slot])
        self.fs.write(self._p(PENDING_MAN), manifest)
        self.fs.write(self._p(PENDING_SIG), signature)
        self._reset_checks()
        self._verify = _verifier(self.key, mid, signature)
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
        if index <= self._ck:  # a file checked (or being checked) changes: check it again
            self._ck = index
            self._h = None
            self.checked = False
        self.fs.append(self._p(path), data)
        return None

    def poll(self):
        """One slice of the checks; True once the signature and every file are good."""
        if self.slot is None:
            return False
        if self.checked:
            return True
        if self.sig_ok is None:
            if self._verify is None:
                return False
            self.sig_ok = self._verify.step(SLICE_UNITS)
            if self.sig_ok is not None:
                self._verify = None  # the verifier's numbers go with it
            return False
        if not self.sig_ok:
            return False
        for _ in range(SLICE_READS):
            if self._ck >= len(self.files):
                self.checked = True
                return True
            path, size, digest = self.files[self._ck]
            name = self._p(path)
            if self._h is None:
                if self._size(name) != size:
                    return False  # not all there yet
                self._h = hashlib.sha256()
                self._ho = 0
            part = _read_part(self.fs, name, self._ho) if self._ho < size else b""
            if part:
                self._h.update(part)
                self._ho += len(part)
                continue
            good = _hex(self._h.digest()) == digest and self._ho == size
            self._h = None
            if not good:
                self.fs.remove(name)  # sent again from the start
                self._bad = path
                return False
            self._ck += 1
        self.checked = self._ck >= len(self.files)
        return self.checked

    def commit(self, wait=True):
        """wait=False (the node's command): `verifying` while the checks still run."""
        if self.slot is None:
            return "no_update"
        p = self.progress()
        if self._bad is not None and (p is None or p[0] < len(self.files)):
            bad, self._bad = self._bad, None
            return "sha256:" + bad
        if p is None or p[0] < len(self.files):
            return "incomplete"
        self._bad = None
        while not self.poll():
            if self.sig_ok is False:
                self.abandon()
                return "bad_signature"
            if self._bad is not None:
                bad, self._bad = self._bad, None
                return "sha256:" + bad
            if not wait:
                return "verifying"
        # the slot is complete once its manifest is there; then the table names it
        self.fs.write(self._p(MANIFEST), self.fs.read(self._p(PENDING_MAN)))
        self.table.switch(self.slot)
        self.fs.remove(self._p(PENDING_SIG))
        self.fs.remove(self._p(PENDING_MAN))
        self.slot = None
        return None

    def abandon(self):
        """Forget the build (a bad signature: nothing of it can be trusted)."""
        if self.slot is not None:
            self.fs.remove(self._p(PENDING_SIG))
            self.fs.remove(self._p(PENDING_MAN))
        self.slot = None
        self.files = []
        self._mid = None
        self._reset_checks()
