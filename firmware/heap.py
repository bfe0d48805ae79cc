"""How much heap the node has: free bytes and the largest block one allocation can take.

Measured once at boot for the birth frame (the gateway's nodes page shows both): a node
whose largest block shrinks from boot to boot is fragmenting. MicroPython has no call for
the largest free block, so it is found by bisection on trial allocations (about 12 tries,
a few milliseconds); every trial is released by a collection at once.
"""

import gc

STEP = 256  # resolution of the largest-block figure (bytes)


def measure():
    """(free_bytes, largest_block_bytes), or (0, 0) where gc cannot tell (CPython)."""
    gc.collect()
    mem_free = getattr(gc, "mem_free", None)
    if mem_free is None:  # CPython: no MicroPython heap to describe
        return 0, 0
    free = mem_free()
    lo = 0
    hi = free
    while hi - lo > STEP:
        mid = (lo + hi) // 2
        try:
            b = bytearray(mid)
            del b  # garbage now: the collection below returns it
            lo = mid
        except MemoryError:
            hi = mid
        gc.collect()
    return free, lo
