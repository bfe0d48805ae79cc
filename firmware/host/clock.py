"""An injectable clock: simulated milliseconds that tests and the demo advance at will."""

_MASK = (1 << 30) - 1


class FakeClock:
    def __init__(self, start_ms=0, epoch_s=1_700_000_000):
        self.ms = start_ms  # unwrapped simulated milliseconds
        self.epoch_s = epoch_s  # wall time at ms == 0 (for time sync in the demo)

    def ticks_ms(self):
        return self.ms & _MASK

    def seconds(self):
        return self.ms / 1000.0

    def wall_s(self):
        return self.epoch_s + self.ms // 1000

    def advance(self, ms):
        self.ms += int(ms)

    def sleep_ms(self, ms):
        self.advance(ms)


class RealClock:
    """Wall-clock ticks, optionally sped up (virtual board)."""

    def __init__(self, speed=1.0):
        import time

        self._t = time
        self._t0 = time.monotonic()
        self.speed = speed
        self.epoch_s = int(time.time())

    def seconds(self):
        return (self._t.monotonic() - self._t0) * self.speed

    def ticks_ms(self):
        return int(self.seconds() * 1000) & _MASK

    def sleep_ms(self, ms):
        self._t.sleep(ms / 1000.0 / self.speed)
