"""MPU-6050 over I2C: accelerometer at up to 1 kHz through its 1024-byte FIFO, +-2 g
(16384 LSB/g), and its die temperature. Allocation-free bursts of up to 32 samples."""

from micropython import const

_SMPLRT_DIV = const(0x19)
_CONFIG = const(0x1A)
_ACCEL_CONFIG = const(0x1C)
_FIFO_EN = const(0x23)
_TEMP_OUT_H = const(0x41)
_USER_CTRL = const(0x6A)
_PWR_MGMT_1 = const(0x6B)
_FIFO_COUNTH = const(0x72)
_FIFO_R_W = const(0x74)
_WHO_AM_I = const(0x75)
_BURST = const(32)
_TIMEOUT_MS = const(200)


class MPU6050:
    name = "mpu6050"
    lsb_g = 1.0 / 16384
    full_scale = 32767  # +-2 g
    RATES = (1000, 500, 250, 200, 125, 100)

    def __init__(self, i2c, addr=0x68, ticks_ms=None, ticks_diff=None):
        self.i2c = i2c
        self.addr = addr
        self._b1 = bytearray(1)
        self._b2 = bytearray(2)
        self._burst = bytearray(6 * _BURST)
        self._mv = memoryview(self._burst)
        # One preallocated view per burst length: no slicing (allocation) while sampling.
        self._views = [self._mv[: 6 * k] for k in range(_BURST + 1)]
        if ticks_ms is None:
            from time import ticks_diff, ticks_ms
        self._ticks = ticks_ms
        self._diff = ticks_diff
        self.i2c.readfrom_mem_into(addr, _WHO_AM_I, self._b1)
        if self._b1[0] != 0x68:
            raise OSError("MPU-6050 not found")

    def _write(self, reg, value):
        self._b1[0] = value
        self.i2c.writeto_mem(self.addr, reg, self._b1)

    def configure(self, rate_hz):
        self._write(_PWR_MGMT_1, 0x01)  # wake, PLL on X gyro
        self._write(_CONFIG, 0x01)  # DLPF 184 Hz: gyro output rate 1 kHz
        self._write(_SMPLRT_DIV, 1000 // rate_hz - 1)
        self._write(_ACCEL_CONFIG, 0x00)  # +-2 g
        self._write(_USER_CTRL, 0x04)  # FIFO reset
        self._write(_USER_CTRL, 0x40)  # FIFO enable
        self._write(_FIFO_EN, 0x08)  # accelerometer into the FIFO

    def read_window(self, bx, by, bz, n):
        i = 0
        b = self._burst
        last = self._ticks()
        while i < n:
            self.i2c.readfrom_mem_into(self.addr, _FIFO_COUNTH, self._b2)
            k = ((self._b2[0] << 8) | self._b2[1]) // 6
            if k == 0:
                if self._diff(self._ticks(), last) > _TIMEOUT_MS:
                    return False
                continue
            last = self._ticks()
            if k > _BURST:
                k = _BURST
            if k > n - i:
                k = n - i
            self.i2c.readfrom_mem_into(self.addr, _FIFO_R_W, self._views[k])
            j = 0
            while j < 6 * k:
                x = (b[j] << 8) | b[j + 1]
                y = (b[j + 2] << 8) | b[j + 3]
                z = (b[j + 4] << 8) | b[j + 5]
                bx[i] = x - 65536 if x & 0x8000 else x
                by[i] = y - 65536 if y & 0x8000 else y
                bz[i] = z - 65536 if z & 0x8000 else z
                i += 1
                j += 6
        return True

    def temperature(self):
        self.i2c.readfrom_mem_into(self.addr, _TEMP_OUT_H, self._b2)
        raw = (self._b2[0] << 8) | self._b2[1]
        if raw & 0x8000:
            raw -= 65536
        return raw / 340.0 + 36.53
