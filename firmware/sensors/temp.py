"""Temperature sources. The report's temperature should be the bearing's: a DS18B20 probe on
the bearing housing when one is fitted (node.json `temp_probe_pin`), else the best the board
has (the MPU-6050's die, or the board's own die temperature: neither is the bearing's).

Every source has the same interface:
    name                 the birth frame's `temp_source`: ds18b20, sensor, board, none
    step(now_ms)         once per window; must not block (a probe conversion runs meanwhile)
    value()              degC or None (no reading: TEMP_NONE on the wire)
    fault                None, or why a source that should read does not (the node raises
                         a `temp_fault` event when it appears and `temp_ok` when it clears)
"""


class BoardTemp:
    """The board's own die temperature: RP2040 ADC channel 4, ESP32 esp32.mcu_temperature()."""

    name = "board"
    fault = None

    def __init__(self, kind):
        self.kind = kind
        self._adc = None
        if kind == "rp2040_adc4":
            from machine import ADC

            self._adc = ADC(4)

    def step(self, now_ms):
        pass

    def value(self):
        try:
            if self._adc is not None:
                v = self._adc.read_u16() * 3.3 / 65535
                return 27.0 - (v - 0.706) / 0.001721
            if self.kind == "esp32_mcu":
                import esp32

                f = getattr(esp32, "mcu_temperature", None)  # S2/S3/C3 builds only
                if f is not None:
                    return float(f())
                return (esp32.raw_temperature() - 32) / 1.8  # classic ESP32, degF
        except (OSError, AttributeError):
            pass
        return None

    read = value  # the callable form older callers pass as Node(temp=...)


class SensorTemp:
    """The accelerometer's own temperature (MPU-6050 die); `sim` in bench mode."""

    name = "sensor"
    fault = None

    def __init__(self, sensor):
        self.sensor = sensor

    def step(self, now_ms):
        pass

    def value(self):
        return self.sensor.temperature()


class NoTemp:
    name = "none"
    fault = None

    def step(self, now_ms):
        pass

    def value(self):
        return None


# DS18B20 at its default 12-bit resolution: a conversion takes at most 750 ms.
CONVERSION_MS = 750
POWER_ON_C = 85.0  # the scratchpad's reset value: a probe that lost power, not a reading


class DS18B20Temp:
    """A DS18B20 on a 1-Wire bus, through MicroPython's ds18x20 driver (`ds`: DS18X20).

    Non-blocking: each step() reads the conversion the previous step started (at least
    CONVERSION_MS earlier, else it waits for the next step) and starts the next one, so a
    window never waits the 750 ms. Any bus error (no presence pulse, CRC error, no probe
    found) or the power-on value gives no reading and `fault` says why.
    """

    name = "ds18b20"

    def __init__(self, ds, ticks_diff):
        self.ds = ds
        self._diff = ticks_diff
        self.rom = None
        self._started = None  # ticks_ms of the running conversion, None: none running
        self._value = None
        self.fault = None

    def step(self, now_ms):
        try:
            if self.rom is None:
                roms = self.ds.scan()
                if not roms:
                    self._fail("no_probe")
                    return
                self.rom = roms[0]
            if self._started is not None:
                if self._diff(now_ms, self._started) < CONVERSION_MS:
                    return  # still converting: keep the last reading one more window
                t = self.ds.read_temp(self.rom)
                if t is None or t == POWER_ON_C:
                    self._fail("power_on_value")
                else:
                    self._value = t
                    self.fault = None
            self.ds.convert_temp()
            self._started = now_ms
        except Exception as e:  # OneWireError (no presence), "CRC error", OSError
            self._fail("crc" if "CRC" in str(e) else "bus")
            self.rom = None  # scan again next time: the probe may have been replaced

    def _fail(self, why):
        self._value = None
        self._started = None
        self.fault = why

    def value(self):
        return self._value
