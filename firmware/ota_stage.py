"""Over-the-air updates, the staging half (firmware/ota.py has the slot table, the boot
choice and the update command): manifest checks, streaming SHA-256, the signature check and
`Stager`. Imported only when a build arrives, so a node that is not being updated does not
hold this code in its heap (bench.ota_cost).
"""

import hashlib
from array import array

from firmware.ota import MANIFEST, MAX_FILES, MAX_TOTAL, READ_CHUNK, SLOT_DIRS, file_size, slot_path


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


class _Scan:
    """The manifest's JSON read in place (json.loads would build every string and list of a
    3.9 KB manifest at once, about 12 KB in a 32-bit heap): whitespace, strings without
    escapes, non-negative integers, objects and arrays (other keys' values are skipped)."""

    def __init__(self, data):
        self.d = data
        self.i = 0

    def ws(self):
        d, i = self.d, self.i
        while i < len(d) and d[i] in b" \t\r\n":
            i += 1
        self.i = i
        if i >= len(d):
            raise ValueError("manifest_json")
        return d[i]

    def eat(self, c):
        if self.ws() != c:
            raise ValueError("manifest_json")
        self.i += 1

    def more(self, close):
        """After a value in an array or object: True at a comma, False at the close."""
        c = self.ws()
        self.i += 1
        if c == 44:  # ,
            return True
        if c != close:
            raise ValueError("manifest_json")
        return False

    def span(self):
        """A string's (start, end) in the data."""
        self.eat(34)  # "
        a = self.i
        d = self.d
        i = a
        while i < len(d) and d[i] != 34:
            if d[i] == 92 or d[i] < 32:  # no escapes, no control characters
                raise ValueError("manifest_json")
            i += 1
        if i >= len(d):
            raise ValueError("manifest_json")
        self.i = i + 1
        return a, i

    def text(self):
        a, b = self.span()
        return str(memoryview(self.d)[a:b], "utf-8")

    def number(self):
        c = self.ws()
        d, i, n = self.d, self.i, 0
        if not 48 <= c <= 57:
            return None
        while i < len(d) and 48 <= d[i] <= 57 and n <= MAX_TOTAL:
            n = n * 10 + d[i] - 48
            i += 1
        self.i = i
        return n

    def skip(self):
        c = self.ws()
        if c == 34:
            self.span()
        elif c in b"[{":
            self.i += 1
            close = 93 if c == 91 else 125
            if self.ws() == close:
                self.i += 1
                return
            while True:
                if c == 123:
                    self.span()
                    self.eat(58)
                self.skip()
                if not self.more(close):
                    return
        elif self.number() is None:
            for w in (b"true", b"false", b"null"):
                if self.d[self.i : self.i + len(w)] == w:
                    self.i += len(w)
                    return
            raise ValueError("manifest_json")

    def digest(self, out, o):
        """64 hex characters -> 32 bytes at out[o:o + 32]."""
        a, b = self.span()
        if b - a != 64:
            raise ValueError("manifest_sha256")
        d = self.d
        for k in range(64):
            c = d[a + k] | 32  # lower case
            v = c - 48 if 48 <= c <= 57 else c - 87 if 97 <= c <= 102 else -1
            if v < 0:
                raise ValueError("manifest_sha256")
            out[o + (k >> 1)] = ((out[o + (k >> 1)] << 4) | v) & 0xFF


class Files:
    """The manifest's file list, compact (a path string each, sizes and SHA-256 digests in
    flat buffers: about 0.1 KB a file). `files[i]` -> (path, size, digest bytes)."""

    def __init__(self, n=0):
        self.paths = []
        self.sizes = array("I", bytes(4 * n))
        self.digests = bytearray(32 * n)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        if not 0 <= i < len(self.paths):
            raise IndexError(i)
        return self.paths[i], self.sizes[i], bytes(self.digests[32 * i : 32 * i + 32])

    def __iter__(self):
        for i in range(len(self.paths)):
            yield self[i]


def _entry(sc, files):
    """One ["path", size, "sha256 hex"] appended to `files`."""
    if sc.ws() != 91:
        raise ValueError("manifest_entry")
    sc.i += 1
    if sc.ws() != 34:
        raise ValueError("manifest_path")
    path = sc.text()
    if (
        not (path.startswith("firmware/") or path.startswith("protocol/"))
        or not (path.endswith(".mpy") or path.endswith(".py"))
        or ".." in path
        or "//" in path
        or len(path) > 64
    ):
        raise ValueError("manifest_path")
    sc.eat(44)
    size = sc.number()
    if size is None or size > MAX_TOTAL:
        raise ValueError("manifest_size")
    sc.eat(44)
    if sc.ws() != 34:
        raise ValueError("manifest_sha256")
    n = len(files.paths)
    if n >= len(files.sizes):
        raise ValueError("manifest_files")
    sc.digest(files.digests, 32 * n)
    if sc.more(93):
        raise ValueError("manifest_entry")
    files.sizes[n] = size
    files.paths.append(path)


def parse_manifest(data):
    """Manifest bytes -> (version, Files) or raises ValueError(reason)."""
    if isinstance(data, str):
        data = data.encode()
    sc = _Scan(data)
    sc.eat(123)  # {
    version = None
    files = None
    if sc.ws() == 125:
        sc.i += 1
    else:
        while True:
            key = sc.text()
            sc.eat(58)  # :
            c = sc.ws()
            if key == "version":
                if c != 34:
                    raise ValueError("manifest_version")
                version = sc.text()
            elif key == "files":
                if c != 91:
                    raise ValueError("manifest_files")
                files = Files(min(MAX_FILES, data.count(b"[") - 1))  # entries, at most
                sc.i += 1
                if sc.ws() == 93:
                    sc.i += 1
                else:
                    while True:
                        _entry(sc, files)
                        if not sc.more(93):
                            break
            else:
                sc.skip()
            if not sc.more(125):
                break
    while sc.i < len(data) and data[sc.i] in b" \t\r\n":
        sc.i += 1
    if sc.i != len(data):
        raise ValueError("manifest_json")
    if version is None:
        raise ValueError("manifest_version")
    if not files:
        raise ValueError("manifest_files")
    total = 0
    for i in range(len(files)):
        total += files.sizes[i]
    if total > MAX_TOTAL:
        raise ValueError("manifest_too_big")
    return version, files


def _copy(fs, src, dst):
    """Copy a file READ_CHUNK bytes at a time (no whole-file buffer) where the fs can seek."""
    if not hasattr(fs, "read_at"):
        fs.write(dst, fs.read(src))
        return
    fs.write(dst, b"")
    off = 0
    while True:
        part = fs.read_at(src, off, READ_CHUNK)
        if not part:
            return
        fs.append(dst, part)
        off += len(part)


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
        self.files = Files()
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
        self._next = 0  # progress: the first file that may not be complete

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
            self.files = Files()
            return
        self.slot = slot
        self._mid = signed_message(data)
        self._sig = sig

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
            return None
        self.slot = slot
        self.version, self.files = version, files
        self._mid, self._sig = mid, signature
        self.fs.remove(self._p(MANIFEST))  # the slot is incomplete from here on
        self.fs.remove(self._p(PENDING_SIG))  # a note is complete once its signature is there
        # Files an earlier build left in the slot are not removed here (40 removals cost the
        # heap as much as the rest of `begin`): a stale file is either the size and SHA-256
        # the manifest says (then it is the right file) or fails the check, is removed and
        # sent again.
        if hasattr(self.fs, "mkdir"):
            self.fs.mkdir(SLOT_DIRS[slot])
        self.fs.write(self._p(PENDING_MAN), manifest)
        self.fs.write(self._p(PENDING_SIG), signature)
        self._reset_checks()
        return None

    def progress(self):
        if self.slot is None:
            return None
        sizes = self.files.sizes
        paths = self.files.paths
        i = self._next  # the files before it are all on flash
        while i < len(paths):
            size = sizes[i]
            have = file_size(self.fs, self._p(paths[i]))
            if have < size or (size == 0 and have < 0) or have > size:
                return i, max(have, 0) if have <= size else 0
            i += 1
            self._next = i
        return len(paths), 0

    def chunk(self, index, offset, data):
        if self.slot is None:
            return "no_update"
        if not 0 <= index < len(self.files):
            return "bad_index"
        path = self.files.paths[index]
        size = self.files.sizes[index]
        name = self._p(path)
        have = max(file_size(self.fs, name), 0)
        stale = have > size  # left by an earlier build: written over from the start
        if offset != (0 if stale else have):
            return "offset:" + str(0 if stale else have)  # resume from here
        if offset + len(data) > size:
            return "too_long"
        if hasattr(self.fs, "mkdir") and "/" in path:
            self.fs.mkdir(self._p(path.rsplit("/", 1)[0]))
        if index <= self._ck:  # a file checked (or being checked) changes: check it again
            self._ck = index
            self._h = None
            self.checked = False
        if index < self._next:
            self._next = index
        if stale:
            self.fs.write(name, data)
        else:
            self.fs.append(name, data)
        return None

    def poll(self):
        """One slice of the checks; True once the signature and every file are good."""
        if self.slot is None:
            return False
        if self.checked:
            return True
        if self.sig_ok is None:
            if self._verify is None:  # its own slice: the verifier's import (a few KB)
                self._verify = _verifier(self.key, self._mid, self._sig)
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
                if file_size(self.fs, name) != size:
                    return False  # not all there yet
                self._h = hashlib.sha256()
                self._ho = 0
            part = _read_part(self.fs, name, self._ho) if self._ho < size else b""
            if part:
                self._h.update(part)
                self._ho += len(part)
                continue
            good = self._h.digest() == digest and self._ho == size
            self._h = None
            if not good:
                self.fs.remove(name)  # sent again from the start
                self._bad = path
                self._next = min(self._next, self._ck)
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
        _copy(self.fs, self._p(PENDING_MAN), self._p(MANIFEST))
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
        self.files = Files()
        self._mid = None
        self._reset_checks()
