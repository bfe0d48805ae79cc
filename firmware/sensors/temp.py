"""The board's own temperature source: RP2040 ADC channel 4, ESP32 esp32.mcu_temperature()."""


class BoardTemp:
    def __init__(self, kind):
        self.kind = kind
        self._adc = None
        if kind == "rp2040_adc4":
            from machine import ADC

            self._adc = ADC(4)

    def read(self):
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
