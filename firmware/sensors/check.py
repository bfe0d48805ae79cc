"""Is a window a vibration signal at all? A real accelerometer always shows some noise and
stays within its range; a window where an axis never changes (flat: a stuck or disconnected
sensor, an I2C bus returning the same bytes) or sits at the sensor's full-scale limit
(saturated: a sensor hit beyond its range, a broken part reporting its rail) describes no
vibration, and the node must not report features of it.

Cost: one min/max pass per axis with the feature kernels (viper on the boards); the rail
count below runs only when an axis reaches a rail (rare on a healthy machine).
"""

from array import array

# An axis is saturated when at least 1/RAIL_SHARE of its samples sit at a full-scale rail:
# a single clipped impact gives the report's `saturated` flag, not a fault.
RAIL_SHARE = 16


class WindowCheck:
    def __init__(self, kern):
        self.k = kern  # firmware.kernels or its viper twin: sum_min_max(buf, n, out)
        self._out = array("i", [0, 0, 0])

    def fault(self, bx, by, bz, n, full_scale):
        """None for a plausible window, else the reason: 'flat' or 'saturated'."""
        why = self._axis(bx, n, full_scale)
        if why is None:
            why = self._axis(by, n, full_scale)
        if why is None:
            why = self._axis(bz, n, full_scale)
        return why

    def _axis(self, buf, n, fs):
        o = self._out
        self.k.sum_min_max(buf, n, o)
        lo = o[1]
        hi = o[2]
        if lo == hi:
            return "flat"
        if hi < fs and lo > -fs - 1:
            return None
        at_rail = 0
        for i in range(n):
            x = buf[i]
            if x >= fs or x <= -fs - 1:
                at_rail += 1
        return "saturated" if at_rail * RAIL_SHARE >= n else None
