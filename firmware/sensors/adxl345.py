"""ADXL345 over I2C or SPI: full resolution (3.9 mg/LSB), FIFO in stream mode, drained in
bursts of up to 32 entries. The sampling path allocates nothing: one preallocated 6-byte
buffer per entry (the FIFO releases an entry only after a 6-byte multi-byte read)."""

from micropython import const

_DEVID = const(0x00)
_BW_RATE = const(0x2C)
_POWER_CTL = const(0x2D)
_DATA_FORMAT = const(0x31)
_DATAX0 = const(0x32)
_FIFO_CTL = const(0x38)
_FIFO_STATUS = const(0x39)
_ID = const(0xE5)
_TIMEOUT_MS = const(200)

# output data rate (Hz) -> BW_RATE code
_RATE_CODES = {3200: 0x0F, 1600: 0x0E, 800: 0x0D, 400: 0x0C, 200: 0x0B, 100: 0x0A}


class ADXL345:
    name = "adxl345"
    lsb_g = 0.0039
    full_scale = 4095  # full resolution at +-16 g: 13-bit samples, -4096..4095
    RATES = (3200, 1600, 800, 400, 200, 100)

    def __init__(self, i2c=None, spi=None, cs=None, addr=0x53, ticks_ms=None, ticks_diff=None):
        self.i2c = i2c
        self.spi = spi
        self.cs = cs
        self.addr = addr
        self._b6 = bytearray(6)
        self._b1 = bytearray(1)
        self._cmd = bytearray(1)
        self._w = bytearray(2)
        if ticks_ms is None:
            from time import ticks_diff, ticks_ms
        self._ticks = ticks_ms
        self._diff = ticks_diff
        if self._read(_DEVID) != _ID:
            raise OSError("ADXL345 not found")

    def _read(self, reg):
        if self.i2c is not None:
            self.i2c.readfrom_mem_into(self.addr, reg, self._b1)
        else:
            self._cmd[0] = 0x80 | reg
            self.cs(0)
            self.spi.write(self._cmd)
            self.spi.readinto(self._b1)
            self.cs(1)
        return self._b1[0]

    def _write(self, reg, value):
        if self.i2c is not None:
            self._b1[0] = value
            self.i2c.writeto_mem(self.addr, reg, self._b1)
        else:
            self._w[0] = reg
            self._w[1] = value
            self.cs(0)
            self.spi.write(self._w)
            self.cs(1)

    def _entry(self):
        if self.i2c is not None:
            self.i2c.readfrom_mem_into(self.addr, _DATAX0, self._b6)
        else:
            self._cmd[0] = 0xC0 | _DATAX0  # read, multi-byte
            self.cs(0)
            self.spi.write(self._cmd)
            self.spi.readinto(self._b6)
            self.cs(1)

    def configure(self, rate_hz):
        self._write(_POWER_CTL, 0x00)  # standby while configuring
        self._write(_BW_RATE, _RATE_CODES[rate_hz])
        self._write(_DATA_FORMAT, 0x0B)  # full resolution, +-16 g
        self._write(_FIFO_CTL, 0x00)  # bypass clears the FIFO
        self._write(_FIFO_CTL, 0x80)  # stream mode
        self._write(_POWER_CTL, 0x08)  # measure

    def read_window(self, bx, by, bz, n):
        i = 0
        b = self._b6
        last = self._ticks()
        while i < n:
            k = self._read(_FIFO_STATUS) & 0x3F
            if k == 0:
                if self._diff(self._ticks(), last) > _TIMEOUT_MS:
                    return False
                continue
            last = self._ticks()
            while k and i < n:
                self._entry()
                x = b[0] | (b[1] << 8)
                y = b[2] | (b[3] << 8)
                z = b[4] | (b[5] << 8)
                bx[i] = x - 65536 if x & 0x8000 else x
                by[i] = y - 65536 if y & 0x8000 else y
                bz[i] = z - 65536 if z & 0x8000 else z
                i += 1
                k -= 1
        return True

    def temperature(self):
        return None
