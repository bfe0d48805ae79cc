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

Manifest (JSON, signed as sent; checked in ota_stage.py): {"version": "0.2.0", "files": [[path, size, sha256 hex],
...]}; paths under firmware/ or protocol/, ending .mpy or .py, at most MAX_FILES, at most
MAX_TOTAL bytes together. Chunks are small (the caller's frames, a few hundred bytes): the
heap never holds more than one chunk and the hash state.
"""

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


TRIAL_S = 600  # a build on trial must reach the gateway within this long, else roll back
MANIFEST_PART = "ota_manifest.part"
MAX_MANIFEST = 4096


def file_size(fs, name):
    """Bytes in a file (-1 if absent), without reading it where the fs can tell."""
    if hasattr(fs, "size"):
        return fs.size(name)
    data = fs.read(name)
    return -1 if data is None else len(data)


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
        self._busy_step = False
        self.trial = self.table.state == TRIAL

    def _stager(self):
        if self.stager is None:  # the staging code is loaded only when it is needed
            from firmware.ota_stage import Stager

            self.stager = Stager(self.fs, self.table, self.key)
        return self.stager

    def command(self, args):
        """-> reason or None; `self.detail` holds what cmd_ok reports. `commit` returning
        None means: reboot into the new build."""
        self.detail = {}
        self._busy_step = True  # this loop step did update work: no check slice in it
        try:
            return self._command(args)
        finally:
            if self.stager is not None and self.stager.slot is None:
                self._drop()  # no build in progress: the staging code leaves the heap

    def _command(self, args):
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
                if off == 0:
                    self.fs.write(MANIFEST_PART, b"")
                have = max(file_size(self.fs, MANIFEST_PART), 0)
                if off != have:
                    return "offset:" + str(have)
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
            if op == "commit":  # `verifying` while the checks still run (poll): ask again
                why = st.commit(wait=False)
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

    def _drop(self):
        """Unload the staging code and the verifier (imported again by the next update), so
        the steady-state heap is what it was before the update (docs/FIRMWARE.md)."""
        self.stager = None
        import sys

        import firmware

        for name in ("ota_stage", "ed25519"):
            sys.modules.pop("firmware." + name, None)
            if hasattr(firmware, name):
                delattr(firmware, name)

    def busy(self):
        """A build's checks are running: the node's loop should poll again at once."""
        st = self.stager
        return st is not None and st.slot is not None and st.sig_ok is not False and not st.checked

    def poll(self, uptime_ms):
        """Each loop step: a slice of the update's checks; True when the trial time ran out
        (the table now names the previous build: the caller resets the board)."""
        st = self.stager
        if self._busy_step:  # a command ran in this step: the next slice waits a step
            self._busy_step = False
        elif st is not None and st.slot is not None:
            st.poll()
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
