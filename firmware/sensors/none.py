"""The accelerometer that is not there: boot found no sensor on the bus (loose cable, dead
part). The node runs on it so that it can say so: every window is a sensor fault, reports
carry the `sensor_fault` flag and no vibration values. It never invents a signal."""


class NoSensor:
    name = "none"
    lsb_g = 0.0039  # unused: no window is ever computed
    full_scale = 32767
    RATES = (3200, 1600, 800, 400, 200, 100)  # any config stays loadable

    def configure(self, rate_hz):
        pass

    def read_window(self, bx, by, bz, n):
        return False

    def temperature(self):
        return None
