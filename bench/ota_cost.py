"""Cost of verifying a signed update on a node: Ed25519 (firmware/ed25519.py, plain Python)
and SHA-256 of the files (MicroPython's C hashlib), in the MicroPython VM, converted to RP2040
time like bench.firmware_cost (10^6 integer adds = 8 s on an RP2040 at 125 MHz).

    .venv/bin/python -m bench.ota_cost

Prints one JSON line. The verification runs in slices of 8 scalar bits with gc.collect() at
top level between them, as the node's loop would run it (the VM traps when its collector runs
with objects held only on the stack); the fuel of the same number of bare collections is
subtracted. Caveat: big-integer multiplication on the RP2040's Cortex-M0+ (no 32x32->64
multiply) may cost relatively more than in the VM, so read the figure as a lower bound within
a factor of a few.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.firmware.ed25519_sign import public_key, sign
from tests.support.micropython_vm import run_in_micropython

RP2040_S_PER_ADD = 8.0 / 1e6
SEED = bytes(range(32))


def fuel(code: str) -> int:
    return run_in_micropython(code).fuel_used


def main() -> int:
    key = public_key(SEED)
    msg = b'{"version": "0.2.0", "files": []}'
    sig = sign(SEED, msg)
    base = (
        "import gc, hashlib\nfrom firmware import ed25519 as e\ne._consts()\ngc.collect()\n"
        f"key = {key!r}\nmsg = {msg!r}\nsig = {sig!r}\n"
    )
    verify = (
        "v = e.Verify(key, msg, sig)\ngc.collect()\nlive = gc.mem_alloc()\n"
        "while v.step(8) is None:\n    gc.collect()\nassert v.result\n"
    )
    bare = "for _ in range(33):\n    gc.collect()\n"
    f_verify = fuel(base + verify) - fuel(base + bare)
    live = run_in_micropython(
        base + "gc.collect()\nb = gc.mem_alloc()\n" + verify + "print(live - b)\n"
    ).stdout.strip()
    imp = run_in_micropython(
        "import gc\ngc.collect()\na = gc.mem_alloc()\nfrom firmware import ota\ngc.collect()\n"
        "b = gc.mem_alloc()\nfrom firmware import ota_stage, ed25519\ned25519._consts()\n"
        "gc.collect()\nprint(b - a, gc.mem_alloc() - b)\n"
    ).stdout.split()
    kb = 64
    sha = "h = hashlib.sha256()\nblk = bytes(512)\nfor _ in range({n}):\n    h.update(blk)\n"
    f_sha_kb = (fuel(base + sha.format(n=kb * 2)) - fuel(base + sha.format(n=0))) / kb
    loop = "def add(k):\n    s = 0\n    for i in range(k):\n        s += i\n    return s\n"
    f_add = (fuel(loop + "add(200000)\n") - fuel(loop + "add(0)\n")) / 200000
    s_per_fuel = RP2040_S_PER_ADD / f_add
    out = {
        "fuel_ed25519_verify": f_verify,
        "rp2040_s_ed25519_verify": round(f_verify * s_per_fuel, 2),
        "rp2040_ms_per_slice_of_8_bits": round(f_verify * s_per_fuel / 32 * 1000, 1),
        "heap_live_bytes_during_verify": int(live),
        "heap_bytes_ota_module_from_source": int(imp[0]),
        "heap_bytes_staging_and_ed25519_with_constants": int(imp[1]),
        "fuel_sha256_per_kb": round(f_sha_kb),
        "rp2040_ms_sha256_per_100kb": round(f_sha_kb * 100 * s_per_fuel * 1000, 1),
        "fuel_per_int_add_iteration": round(f_add, 2),
        "assumption": "rp2040_s = fuel * 8e-6 / fuel_per_int_add_iteration (facts.md)",
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
