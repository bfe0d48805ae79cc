"""Over-the-air update slots (firmware/ota.py) and Ed25519 verification (firmware/ed25519.py):
signed manifests, resumable staging, trial boot and rollback, and a power cut at every byte
of every write leaving a node that boots the old or the new build, never a mix."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os

import pytest

from firmware import ed25519, ota, ota_stage
from firmware.host import MemFS, PowerCut
from tests.firmware.ed25519_sign import public_key, sign, sign_manifest
from tests.support.micropython_vm import run_in_micropython

# RFC 8032 section 7.1, tests 1-3: (secret key, public key, message, signature)
RFC_VECTORS = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701"
        "cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d"
        "0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f7609"
        "84dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]
SEED = bytes(range(32))
KEY = public_key(SEED)
FACTORY = {"firmware/node.py": b"factory node", "protocol/frames.py": b"factory frames"}


def test_constants_are_derived_from_their_definitions() -> None:
    from math import isqrt

    p = ed25519.P
    assert -121665 * pow(121666, p - 2, p) % p == ed25519.D
    assert pow(2, (p - 1) // 4, p) == ed25519.SQRT_M1 and ed25519.SQRT_M1**2 % p == p - 1
    assert 4 * pow(5, p - 2, p) % p == ed25519.BY  # the base point: y = 4/5, x even
    x = ed25519.BX
    y = ed25519.BY
    assert x % 2 == 0 and (-(x * x) + y * y - 1 - ed25519.D * x * x * y * y) % p == 0
    primes = [n for n in range(2, 410) if all(n % q for q in range(2, isqrt(n) + 1))][:80]
    m = 2**64 - 1

    def cube_root(n: int) -> int:
        r = 1 << (n.bit_length() // 3 + 1)  # above the root; Newton's steps come down
        while True:
            s = (2 * r + n // (r * r)) // 3
            if s >= r:
                return r
            r = s

    words = [isqrt(q << 128) & m for q in primes[:8]] + [cube_root(q << 192) & m for q in primes]
    assert b"".join(w.to_bytes(8, "big") for w in words) == ed25519._KB


def test_sha512_and_rfc8032_vectors() -> None:
    for n in (0, 1, 111, 112, 127, 128, 129, 300, 1000):
        m = os.urandom(n)
        assert ed25519.sha512(m) == hashlib.sha512(m).digest()
    s = ed25519.Sha512()
    for part in (b"a" * 100, b"b" * 200, b"", b"c"):  # streamed in pieces
        s.update(part)
    assert s.digest() == hashlib.sha512(b"a" * 100 + b"b" * 200 + b"c").digest()
    for sk, pk, msg, sig in RFC_VECTORS:
        key, m, sg = bytes.fromhex(pk), bytes.fromhex(msg), bytes.fromhex(sig)
        assert public_key(bytes.fromhex(sk)) == key and sign(bytes.fromhex(sk), m) == sg
        assert ed25519.verify(key, m, sg)
        for i in (0, 31, 32, 40, 63):  # R or S changed
            bad = bytearray(sg)
            bad[i] ^= 1
            assert not ed25519.verify(key, m, bytes(bad))
        assert not ed25519.verify(key, m + b"x", sg)
        assert not ed25519.verify(KEY, m, sg)
        assert not ed25519.verify(key, m, sg[:32] + ed25519.L.to_bytes(32, "little"))
    assert not ed25519.verify(b"\xff" * 32, b"", bytes.fromhex(RFC_VECTORS[0][3]))  # no point
    for n in (0, 32, 95, 96, 200, 5000):  # the gateway's signer, messages of every block count
        m = os.urandom(n)
        assert ed25519.verify(KEY, m, sign(SEED, m))
    v = ed25519.Verify(KEY, b"m", sign(SEED, b"m"))
    slices = 0
    while v.step(8) is None:
        slices += 1
    # 2 setup units, 1 block, 253 doublings and about 190 additions, 8 units a slice
    assert v.result is True and 45 < slices < 65, slices


def test_ed25519_in_the_micropython_vm() -> None:
    msg = hashlib.sha256(b"manifest").digest()
    sig = sign(SEED, msg)
    long = bytes(range(256)) * 2
    code = f"""
import gc
from firmware import ed25519 as e
gc.collect()
def run(key, msg, sig):
    v = e.Verify(key, msg, sig)
    return v
out = []
for msg, sig in (({msg!r}, {sig!r}), (b"other", {sig!r}), ({long!r}, {sign(SEED, long)!r})):
    v = run({KEY!r}, msg, sig)
    gc.collect()
    while v.step(4) is None:
        gc.collect()
    out.append(v.result)
print(out[0], out[1], out[2], e.sha512({long!r}) == {hashlib.sha512(long).digest()!r})
"""
    assert run_in_micropython(code, fuel=100_000_000_000).stdout.split() == [
        "True",
        "False",
        "True",
        "True",
    ]


def build(version: str, n: int = 3, size: int = 150) -> tuple[dict[str, bytes], str, bytes]:
    files = {
        f"firmware/m{i}.mpy": (version.encode() + bytes([i])) * (size // (len(version) + 1))
        for i in range(n)
    }
    manifest = json.dumps(
        {
            "version": version,
            "files": [[p, len(d), hashlib.sha256(d).hexdigest()] for p, d in files.items()],
        }
    )
    return files, manifest, sign_manifest(SEED, manifest.encode())


def send(st: ota_stage.Stager, files: dict[str, bytes], chunk: int = 64) -> None:
    """What the gateway does: ask where to go on, send chunks from there."""
    paths = list(files)
    while True:
        p = st.progress()
        assert p is not None
        i, off = p
        if i >= len(paths):
            return
        data = files[paths[i]][off : off + chunk]
        assert st.chunk(i, off, data) is None


def booted_build(fs: MemFS) -> dict[str, bytes]:
    """The files the node runs after booting from this flash."""
    d, _ = ota.boot_select(fs)
    names = FACTORY if d == "" else [p for p, _, _ in ota_stage.parse_manifest(
        fs.read(d + "/" + ota.MANIFEST))[1]]  # fmt: skip
    return {p: fs.read(d + "/" + p if d else p) for p in names}  # type: ignore[misc]


def test_update_trial_confirm_and_rollback() -> None:
    fs = MemFS(dict(FACTORY))
    table = ota.Table(fs)
    files, manifest, sig = build("0.2.0")
    st = ota_stage.Stager(fs, table, KEY)
    assert st.begin(manifest, sig) is None
    assert st.commit() == "incomplete"
    send(st, files)
    assert st.chunk(0, 0, b"x") == "offset:150"
    assert st.commit() is None
    assert (table.active, table.state, table.updates) == (1, ota.TRIAL, 1)
    assert booted_build(fs) == files  # trial boot 1
    t = ota.Table(fs)
    assert t.tries == 1 and ota_stage.Stager(fs, t, KEY).begin(manifest, sig) == "busy_trial"
    t.confirm()
    for _ in range(5):
        assert booted_build(fs) == files  # confirmed: stays
    # The next update goes to the other slot; three boots without confirmation roll it back.
    files2, manifest2, sig2 = build("0.3.0")
    st = ota_stage.Stager(fs, ota.Table(fs), KEY)
    assert st.begin(manifest2, sig2) is None and st.slot == 2
    send(st, files2)
    assert st.commit() is None
    for _ in range(ota.MAX_TRIES):
        assert booted_build(fs) == files2
    assert booted_build(fs) == files  # rolled back to 0.2.0
    t = ota.Table(fs)
    assert (t.active, t.state, t.rollbacks, t.updates) == (1, ota.CONFIRMED, 1, 2)


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda m, s: (m, s[:10] + bytes([s[10] ^ 1]) + s[11:]), "bad_signature"),
        (lambda m, s: (m.replace("0.2.0", "0.2.1"), s), "bad_signature"),
        (lambda m, s: (m.replace("firmware/m0", "../boot/m0"), s), "manifest_path"),
        (lambda m, s: ("{", s), "manifest_json"),
    ],
)
def test_tampered_builds_are_refused(mutate, why: str) -> None:  # type: ignore[no-untyped-def]
    fs = MemFS(dict(FACTORY))
    files, manifest, sig = build("0.2.0")
    manifest, sig = mutate(manifest, sig)
    st = ota_stage.Stager(fs, ota.Table(fs), KEY)
    r = st.begin(manifest, sig)
    if r is None:
        send(st, files)
        r = st.commit()
    assert r == why
    assert booted_build(fs) == FACTORY


def test_a_corrupted_file_is_refused_and_sent_again() -> None:
    fs = MemFS(dict(FACTORY))
    files, manifest, sig = build("0.2.0")
    st = ota_stage.Stager(fs, ota.Table(fs), KEY)
    st.begin(manifest, sig)
    bad = dict(files)
    bad["firmware/m1.mpy"] = b"X" + files["firmware/m1.mpy"][1:]
    send(st, bad)
    assert st.commit() == "sha256:firmware/m1.mpy"
    assert st.progress() == (1, 0) and booted_build(fs) == FACTORY
    send(st, files)
    assert st.commit() is None and booted_build(fs) == files


def _full_update(fs: MemFS, files: dict[str, bytes], manifest: str, sig: bytes) -> None:
    st = ota_stage.Stager(fs, ota.Table(fs), KEY)
    assert st.begin(manifest, sig) is None
    send(st, files)
    assert st.commit() is None


def test_power_cut_at_every_byte_of_an_update() -> None:
    files, manifest, sig = build("0.2.0", n=2, size=60)
    probe = MemFS(dict(FACTORY))
    _full_update(probe, files, manifest, sig)
    total = probe.written
    outcomes = set()
    for cut in range(total + 1):
        fs = MemFS(dict(FACTORY), cut_at=cut)
        with contextlib.suppress(PowerCut):
            _full_update(fs, files, manifest, sig)
        after = fs.survivor()
        running = booted_build(after)
        assert running in (FACTORY, files), cut  # old or new, never a mix
        outcomes.add("new" if running == files else "old")
        if running == FACTORY:  # the gateway resumes the same build after the reboot
            st = ota_stage.Stager(after, ota.Table(after), KEY)
            assert st.begin(manifest, sig) is None
            send(st, files)
            assert st.commit() is None, cut
            assert booted_build(after) == files
    assert outcomes == {"old", "new"}


def test_power_cut_at_every_byte_of_trial_boots_and_rollback() -> None:
    fs = MemFS(dict(FACTORY))
    files, manifest, sig = build("0.2.0", n=1, size=30)
    _full_update(fs, files, manifest, sig)
    base = dict(fs.files)

    def boots(f: MemFS) -> None:
        for _ in range(ota.MAX_TRIES + 2):
            ota.boot_select(f)

    probe = MemFS(dict(base))
    boots(probe)
    for cut in range(probe.written + 1):
        f = MemFS(dict(base), cut_at=cut)
        with contextlib.suppress(PowerCut):
            boots(f)
        after = f.survivor()
        assert booted_build(after) in (FACTORY, files), cut
        t = ota.Table(after)
        assert t.rollbacks <= 1 and t.tries <= ota.MAX_TRIES


# ---------------------------------------------------------------- the node's update command

NODE_FAST = {"window": 256, "window_s": 5, "report_s": 5, "alarm_report_s": 5}


def _node(fs: MemFS, tr: object, clock: object, resets: list[int]) -> object:
    from firmware.host import make_node

    return make_node(
        "pump-1", "healthy", tr, clock, fs, config=NODE_FAST, reset=lambda: resets.append(1)
    )


def _answers(tr: object) -> list[dict]:  # type: ignore[type-arg]
    from protocol import frames

    out = []
    for _, p in tr.outbox:  # type: ignore[attr-defined]
        f = frames.decode(p)
        if f["kind"] == "event" and f["code"] in ("cmd_ok", "cmd_refused", "update_ok"):
            out.append(f)
    return out


def test_update_over_the_command_then_confirm_and_a_rollback() -> None:
    from firmware.host import FakeClock, QueueTransport
    from protocol import frames

    node_json = {"node_id": "pump-1", "transport": "serial", "fleet_key": KEY.hex()}
    fs = MemFS({**FACTORY, "node.json": json.dumps(node_json).encode()})
    clock, tr, resets = FakeClock(), QueueTransport(), []
    node = _node(fs, tr, clock, resets)
    cid = [100]

    def cmd(**args: object) -> dict:  # type: ignore[type-arg]
        cid[0] += 1
        tr.inbound.append(frames.encode_command("pump-1", 0, cid[0], 0, "update", args))
        n = len(_answers(tr))
        for _ in range(3):
            node.poll(clock.ticks_ms())  # type: ignore[attr-defined]
            clock.advance(10)
        got = _answers(tr)[n:]
        assert got and got[0]["detail"].get("cmd") == cid[0], got[0]["detail"]
        return got[0]

    def commit() -> str:
        """The gateway's commit: asked again while the node answers `verifying` (its checks
        run a slice per poll)."""
        for _ in range(200):
            r = cmd(op="commit")
            if r["detail"].get("why") != "verifying":
                return str(r["code"])
        raise AssertionError("still verifying")

    files, manifest, sig = build("0.2.0", n=2, size=300)
    m = manifest.encode()
    for off in range(0, len(m), 200):
        assert cmd(op="man", off=off, d=m[off : off + 200])["code"] == "cmd_ok"
    assert cmd(op="begin", sig=sig)["detail"]["file"] == 0
    assert cmd(op="commit")["detail"]["why"] == "incomplete"
    for i, data in enumerate(files.values()):
        for off in range(0, len(data), 256):
            assert cmd(op="put", i=i, off=off, d=data[off : off + 256])["code"] == "cmd_ok"
    r = cmd(op="put", i=0, off=0, d=b"x")
    assert r["detail"]["why"] == "offset:300"  # where to resume
    st = cmd(op="status")["detail"]
    assert (st["file"], st["ver"], st["slot"]) == (2, "0.2.0", 0)
    assert cmd(op="commit")["detail"]["why"] == "verifying"  # the checks run a slice a poll
    polls = 0
    while node.updater.busy():  # type: ignore[attr-defined]
        node.poll(clock.ticks_ms())  # type: ignore[attr-defined]
        polls += 1
    assert 0 < polls < 500  # what is left of ~450 signature units and the file reads
    assert commit() == "cmd_ok"
    clock.advance(2500)
    node.poll(clock.ticks_ms())  # type: ignore[attr-defined]
    assert resets == [1]

    # The board restarts into the new slot, on trial; birth and a report acked confirm it.
    d, _ = ota.boot_select(fs)
    assert d == "ota1"
    tr2 = QueueTransport()
    node = _node(fs, tr2, clock, resets)
    for _ in range(40):
        node.poll(clock.ticks_ms())  # type: ignore[attr-defined]
        clock.advance(250)
    # the last birth: frames the old build left in the flash ring are sent first
    birth = [f for f in (frames.decode(p) for _, p in tr2.outbox) if f["kind"] == "birth"][-1]
    assert birth["info"]["slot"] == 1
    last = frames.decode(tr2.outbox[-1][1])
    tr2.inbound.append(frames.encode_ack("pump-1", last["boot"], last["seq"], 0))
    node.poll(clock.ticks_ms())  # type: ignore[attr-defined]
    assert [f["code"] for f in _answers(tr2) if f["boot"] == birth["boot"]] == ["update_ok"]
    assert ota.Table(fs).state == ota.CONFIRMED

    # A second build that never reaches the gateway rolls back after the trial time.
    files2, manifest2, sig2 = build("0.3.0", n=1, size=100)
    tr, node = tr2, node
    m = manifest2.encode()
    assert cmd(op="man", off=0, d=m[:200])["code"] == "cmd_ok"
    for off in range(200, len(m), 200):
        cmd(op="man", off=off, d=m[off : off + 200])
    assert cmd(op="begin", sig=sig2)["code"] == "cmd_ok"
    data = next(iter(files2.values()))
    assert cmd(op="put", i=0, off=0, d=data)["code"] == "cmd_ok"
    assert commit() == "cmd_ok"
    assert ota.boot_select(fs)[0] == "ota2"
    tr3, resets = QueueTransport(online=False), []
    node = _node(fs, tr3, clock, resets)
    for _ in range(ota.TRIAL_S + 5):
        node.poll(clock.ticks_ms())  # type: ignore[attr-defined]
        clock.advance(1000)
        if resets:
            break
    assert resets == [1]
    assert ota.boot_select(fs)[0] == "ota1"
    t = ota.Table(fs)
    assert (t.rollbacks, t.updates, t.state) == (1, 2, ota.CONFIRMED)


def test_update_needs_the_fleet_key_and_a_good_signature() -> None:
    up = ota.NodeUpdater(MemFS(dict(FACTORY)))
    assert up.command({"op": "status"}) == "no_fleet_key"
    up = ota.NodeUpdater(MemFS(dict(FACTORY)), KEY)
    files, manifest, _ = build("0.2.0", n=1, size=40)
    assert up.command({"op": "man", "off": 0, "d": manifest.encode()}) is None
    assert up.command({"op": "begin", "sig": sign_manifest(bytes(32), manifest.encode())}) is None
    assert up.command({"op": "put", "i": 0, "off": 0, "d": next(iter(files.values()))}) is None
    assert up.command({"op": "commit"}) == "verifying"
    while up.busy():
        up.poll(0)
    assert up.command({"op": "commit"}) == "bad_signature"
    assert up.stager is None  # the build is abandoned and the staging code unloaded
    assert up.command({"op": "commit"}) == "no_update"
    assert up.command({"op": "put", "i": "0", "off": 0, "d": b""}) == "bad_args:i"
    assert up.command({"op": "nope"}) == "bad_args:op"


def test_boot_stub_runs_the_chosen_slot(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The root main.py that firmware.deploy writes, run in a fresh interpreter on a flash
    directory whose table names slot 1: it imports the slot's firmware.main, not the root's."""
    import shutil
    import subprocess
    import sys

    from firmware.deploy import BOOT_STUB
    from firmware.fsio import VfsFS
    from firmware.host import stubs  # noqa: F401  (machine stand-ins for the host)

    repo = os.path.dirname(os.path.dirname(ota.__file__))
    flash = tmp_path / "flash"
    for pkg in ("firmware", "protocol"):
        shutil.copytree(os.path.join(repo, pkg), flash / pkg)
    (flash / "firmware" / "main.py").write_text("print('root build')\n")
    slot = flash / "ota1"
    shutil.copytree(flash / "firmware", slot / "firmware")
    shutil.copytree(flash / "protocol", slot / "protocol")
    (slot / "firmware" / "main.py").write_text("print('slot 1 build')\n")
    (slot / ota.MANIFEST).write_text("{}")
    t = ota.Table(VfsFS(str(flash)))
    t.switch(1)
    (flash / "main.py").write_text(BOOT_STUB)
    run = subprocess.run(
        [sys.executable, "-I", "-c", "import sys; sys.path.insert(0, '.'); import main"],
        cwd=flash,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.stdout.strip() == "slot 1 build", run.stderr
    assert ota.Table(VfsFS(str(flash))).tries == 1
