"""Over-the-air updates, gateway side: the fleet key, signed builds, and sending one build to
one node through the ingest pipeline's commands (firmware/ota.py is the node's side).

- Fleet key: an Ed25519 key pair in the gateway's secrets (`fleet_ed25519.json`, mode 0600,
  created on first use; the `cryptography` package signs). Nodes hold only the public key
  (node.json `fleet_key`, hex): nothing a node carries can sign a build.
- `make_build(src_dir, version, key)`: every `firmware/` and `protocol/` file (.mpy or .py)
  under `src_dir` (the mpy-cross build of firmware.deploy) with its size and SHA-256 in a
  JSON manifest; the fleet key signs the manifest's SHA-256 (the node hashes the manifest
  with its C hashlib and checks Ed25519 over those 32 bytes: one SHA-512 block in Python
  instead of one per 128 bytes of manifest, docs/FIRMWARE.md).
- `UpdateSender(pipeline, node_id, build)`: `await run()` sends the manifest, `begin`, the
  files in chunks and `commit`, one command in flight, each answered by the node (`cmd_ok` /
  `cmd_refused`); a lost command or answer is sent again after `answer_timeout_s`, a refusal
  `offset:<n>` continues from where the node's flash is (a broken link or a node reset in
  the middle resumes; the node keeps what it has); a commit answered `verifying` (the node's
  checks still run, a slice per loop) is asked again after `verify_poll_s`. After the commit
  it waits for the node's birth from the new slot and its `update_ok` (confirmed), or a birth
  from another slot (rolled back). Result in `state` / `reason`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = ["Build", "UpdateSender", "fleet_key", "fleet_public_key", "make_build"]

FLEET_KEY_FILE = "fleet_ed25519.json"
CHUNK = 192  # bytes of file data per command: the frame stays far below 512 bytes


def fleet_key(secrets_dir: Path) -> Ed25519PrivateKey:
    """The fleet's signing key, created on first use (mode 0600)."""
    path = secrets_dir / FLEET_KEY_FILE
    if path.exists():
        seed = bytes.fromhex(json.loads(path.read_text())["seed"])
        return Ed25519PrivateKey.from_private_bytes(seed)
    secrets_dir.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"seed": seed.hex()}, f)
    return key


def fleet_public_key(secrets_dir: Path) -> bytes:
    return fleet_key(secrets_dir).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Build:
    version: str
    manifest: bytes
    signature: bytes
    files: tuple[tuple[str, bytes], ...]


def signed_digest(manifest: bytes) -> bytes:
    """What the fleet key signs: the manifest's SHA-256 (the node hashes the manifest with its C
    hashlib and runs one SHA-512 block in Python, not one per 128 bytes of manifest)."""
    return hashlib.sha256(manifest).digest()


def make_build(src_dir: Path, version: str, key: Ed25519PrivateKey) -> Build:
    files = sorted(
        (p.relative_to(src_dir).as_posix(), p.read_bytes())
        for top in ("firmware", "protocol")
        for p in (src_dir / top).rglob("*")
        if p.suffix in (".mpy", ".py") and p.is_file()
    )
    if not files:
        raise ValueError(f"no firmware/ or protocol/ files under {src_dir}")
    manifest = json.dumps(
        {
            "version": version,
            "files": [[name, len(data), hashlib.sha256(data).hexdigest()] for name, data in files],
        },
        separators=(",", ":"),
    ).encode()
    return Build(version, manifest, key.sign(signed_digest(manifest)), tuple(files))


class CommandQueue(Protocol):
    observers: list[Callable[[dict[str, Any], bool], None]]

    def queue_command(
        self, node_id: str, name: str, args: dict[str, Any], boot_id: int = 0
    ) -> int | None: ...


class UpdateFailed(Exception):
    pass


def _put(index: int) -> Callable[[int, bytes], dict[str, Any]]:
    def make(off: int, data: bytes) -> dict[str, Any]:
        return {"op": "put", "i": index, "off": off, "d": data}

    return make


class UpdateSender:
    """See the module docstring. Runs on the pipeline's event loop."""

    def __init__(
        self,
        pipeline: CommandQueue,
        node_id: str,
        build: Build,
        chunk: int = CHUNK,
        answer_timeout_s: float = 10.0,
        attempts: int = 30,
        confirm_timeout_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        verify_poll_s: float = 1.0,
        verify_polls: int = 300,
    ) -> None:
        self.pipeline = pipeline
        self.node_id = node_id
        self.build = build
        self.chunk = chunk
        self.answer_timeout_s = answer_timeout_s
        self.attempts = attempts
        self.confirm_timeout_s = confirm_timeout_s
        self.verify_poll_s = verify_poll_s
        self.verify_polls = verify_polls  # the node verifies in a few s; this is ample
        self.clock = clock
        self.state = "idle"  # sending, committed, confirmed, rolled_back, failed
        self.reason = ""
        self.target_slot: int | None = None
        self.commands = 0
        self.resends = 0
        self._waiting: dict[int, asyncio.Future[tuple[str, dict[str, Any]]]] = {}
        self._births: asyncio.Queue[int | None] = asyncio.Queue()
        self._confirmed = asyncio.Event()
        pipeline.observers.append(self.observe)

    def observe(self, f: dict[str, Any], live: bool) -> None:
        if f["node"] != self.node_id:
            return
        if f["kind"] == "birth":
            if live:
                slot = f["info"].get("slot")
                self._births.put_nowait(slot if isinstance(slot, int) else None)
            return
        code = f.get("code")
        detail = f.get("detail") or {}
        if code == "update_ok":
            self._confirmed.set()
        elif code in ("cmd_ok", "cmd_refused") and detail.get("name") == "update":
            fut = self._waiting.pop(detail.get("cmd", -1), None)
            if fut is not None and not fut.done():
                fut.set_result((str(code), dict(detail)))

    async def _call(self, args: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """(ok, detail) of the node's answer; sent again when no answer comes."""
        for attempt in range(self.attempts):
            cid = self.pipeline.queue_command(self.node_id, "update", args)
            if cid is None:
                raise UpdateFailed("not_encodable")
            self.commands += 1
            self.resends += attempt > 0
            fut: asyncio.Future[tuple[str, dict[str, Any]]] = (
                asyncio.get_running_loop().create_future()
            )
            self._waiting[cid] = fut
            try:
                async with asyncio.timeout(self.answer_timeout_s):
                    code, detail = await fut
            except TimeoutError:
                self._waiting.pop(cid, None)
                continue
            return code == "cmd_ok", detail
        raise UpdateFailed("no_answer")

    async def _send_bytes(self, data: bytes, make: Callable[[int, bytes], dict[str, Any]]) -> None:
        off = 0
        while off < len(data):
            part = data[off : off + self.chunk]
            ok, detail = await self._call(make(off, part))
            if ok:
                off += len(part)
                continue
            why = str(detail.get("why", ""))
            if why.startswith("offset:"):
                off = int(why[7:])  # the node's flash is elsewhere: go on from there
                continue
            raise UpdateFailed(why or "refused")

    async def run(self) -> str:
        self.state = "sending"
        try:
            await self._stage()
            await self._await_result()
        except UpdateFailed as e:
            self.state, self.reason = "failed", str(e)
        return self.state

    async def _stage(self) -> None:
        b = self.build
        await self._send_bytes(b.manifest, lambda off, d: {"op": "man", "off": off, "d": d})
        for _ in range(3):  # a file that fails its SHA-256 at commit is sent again
            ok, detail = await self._call({"op": "begin", "sig": b.signature})
            if not ok:
                raise UpdateFailed(str(detail.get("why", "refused")))
            self.target_slot = detail.get("to")
            first = int(detail.get("file", 0))
            for i in range(first, len(b.files)):
                await self._send_bytes(b.files[i][1], _put(i))
            while not self._births.empty():  # births before the commit say nothing of it
                self._births.get_nowait()
            self._confirmed.clear()
            ok, detail = await self._call({"op": "commit"})
            for _ in range(self.verify_polls):
                if ok or detail.get("why") != "verifying":
                    break
                await asyncio.sleep(self.verify_poll_s)
                ok, detail = await self._call({"op": "commit"})
            if ok:
                self.state = "committed"
                return
            why = str(detail.get("why", ""))
            if not why.startswith("sha256:") and why != "incomplete":
                raise UpdateFailed(why or "refused")
        raise UpdateFailed("files_keep_failing")

    async def _await_result(self) -> None:
        end = self.clock() + self.confirm_timeout_s
        while True:
            left = end - self.clock()
            if left <= 0:
                raise UpdateFailed("no_confirmation")
            try:
                async with asyncio.timeout(left):
                    slot = await self._births.get()
            except TimeoutError:
                raise UpdateFailed("no_confirmation") from None
            if slot != self.target_slot:
                self.state, self.reason = "rolled_back", f"running slot {slot}"
                return
            try:
                async with asyncio.timeout(max(0.0, end - self.clock())):
                    await self._confirmed.wait()
            except TimeoutError:
                continue  # the next birth says whether it rolled back
            self.state = "confirmed"
            return
