"""Everything that differs between boards, in one place.

wdt_ms      watchdog timeout (RP2040 hardware maximum 8388 ms)
network     'wifi' (MQTT) or 'serial'
i2c/spi     bus ids and pins of the accelerometer
temp        the board's own temperature source (sensors/temp.py)
uart        serial transport (None = USB CDC console)
"""

BOARDS = {
    "esp32": {
        "wdt_ms": 8000,
        "network": "wifi",
        "i2c": {"id": 0, "scl": 22, "sda": 21, "freq": 400000},
        "spi": {"id": 2, "sck": 18, "mosi": 23, "miso": 19, "cs": 5, "baud": 5000000},
        "temp": "esp32_mcu",
        "uart": None,
    },
    "picow": {
        "wdt_ms": 8000,
        "network": "wifi",
        "i2c": {"id": 0, "scl": 5, "sda": 4, "freq": 400000},
        "spi": {"id": 0, "sck": 18, "mosi": 19, "miso": 16, "cs": 17, "baud": 5000000},
        "temp": "rp2040_adc4",
        "uart": None,
    },
    "pico": {
        "wdt_ms": 8000,
        "network": "serial",
        "i2c": {"id": 0, "scl": 5, "sda": 4, "freq": 400000},
        "spi": {"id": 0, "sck": 18, "mosi": 19, "miso": 16, "cs": 17, "baud": 5000000},
        "temp": "rp2040_adc4",
        "uart": {"id": 0, "tx": 0, "rx": 1, "baud": 115200},
    },
    "host": {
        "wdt_ms": 8000,
        "network": "injected",
        "i2c": None,
        "spi": None,
        "temp": "sim",
        "uart": None,
    },
}
RP2040_WDT_MAX_MS = 8388


def detect():
    """Board name from the running firmware (sys.platform, machine name)."""
    import sys

    if sys.platform == "esp32":
        return "esp32"
    if sys.platform == "rp2":
        import os

        return "picow" if "Pico W" in os.uname().machine else "pico"
    return "host"


def get(name=None):
    return BOARDS[name or detect()]
