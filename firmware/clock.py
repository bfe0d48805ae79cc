"""Tick arithmetic (identical to MicroPython's: a 2**30 ms period) and the board clock.

Every firmware module measures time through ticks_diff/ticks_add on millisecond ticks that
the caller passes in, so host runs can inject an accelerated clock (firmware.host.FakeClock).
"""

_PERIOD = 1 << 30
_HALF = _PERIOD >> 1
_MASK = _PERIOD - 1


def ticks_add(t, delta):
    return (t + delta) & _MASK


def ticks_diff(a, b):
    return ((a - b + _HALF) & _MASK) - _HALF


class BoardClock:
    def __init__(self):
        import time

        self._time = time

    def ticks_ms(self):
        return self._time.ticks_ms() & _MASK

    def sleep_ms(self, ms):
        self._time.sleep_ms(ms)
