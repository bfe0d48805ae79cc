"""CPython stand-ins for MicroPython's `micropython`, `machine` and `network` modules, so the
board modules import unchanged on the host. Installed into sys.modules only when missing.
Importable by MicroPython too (no `types` there): the VM tests drive the node through
firmware.host, and a VM without `machine` gets these stand-ins."""

import sys


class _Module:
    """A module object where `types` is missing: MicroPython's import returns whatever
    sys.modules holds, and `from m import x` is an attribute read."""

    def __init__(self, name):
        self.__name__ = name


def _module(name):
    try:
        import types
    except ImportError:
        return _Module(name)
    return types.ModuleType(name)


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self._v = value or 0

    def __call__(self, v=None):
        if v is None:
            return self._v
        self._v = v
        return None

    value = __call__


class I2C:
    """A bus with devices: dict addr -> object with read(reg, n) / write(reg, bytes)."""

    def __init__(self, id=0, scl=None, sda=None, freq=400000, devices=None):
        self.devices = devices or {}

    def scan(self):
        return sorted(self.devices)

    def readfrom_mem_into(self, addr, reg, buf):
        data = self.devices[addr].read(reg, len(buf))
        buf[: len(data)] = data

    def writeto_mem(self, addr, reg, buf):
        self.devices[addr].write(reg, bytes(buf))


class SPI:
    def __init__(
        self,
        id=0,
        baudrate=1000000,
        polarity=0,
        phase=0,
        sck=None,
        mosi=None,
        miso=None,
        device=None,
    ):
        self.device = device
        self._reg = 0
        self._read = False

    def write(self, buf):
        b = bytes(buf)
        self._read = bool(b[0] & 0x80)
        self._reg = b[0] & 0x3F
        if not self._read and len(b) > 1:
            self.device.write(self._reg, b[1:])

    def readinto(self, buf):
        data = self.device.read(self._reg, len(buf))
        buf[: len(data)] = data


class WDT:
    """Records feeds; `expired(now_ms)` tells whether the board would have reset."""

    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.feeds = 0

    def feed(self):
        self.feeds += 1


PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
_reset_cause = PWRON_RESET


def reset_cause():
    return _reset_cause


def unique_id():
    return b"\xde\xad\xbe\xef\x00\x01"


def reset():
    raise SystemExit("machine.reset()")


def _const(x):
    return x


class WLAN:
    STA_IF = 0

    def __init__(self, iface=0):
        self._active = False
        self._up = False
        self.rssi = -61  # what status("rssi") answers while connected (tests set it)

    def active(self, v=None):
        if v is None:
            return self._active
        self._active = v
        return None

    def connect(self, ssid=None, key=None):
        self._up = True

    def isconnected(self):
        return self._up

    def disconnect(self):
        self._up = False

    def status(self, param=None):
        if param == "rssi":
            if not self._up:
                raise OSError("not connected")  # as the ports do when not associated
            return self.rssi
        return 3 if self._up else 0


def install():
    if "micropython" not in sys.modules:
        try:
            import micropython  # noqa: F401  (a real one, e.g. inside the VM)
        except ImportError:
            m = _module("micropython")
            m.const = _const
            sys.modules["micropython"] = m
    if "machine" not in sys.modules:
        m = _module("machine")
        for name in ("Pin", "I2C", "SPI", "WDT", "reset_cause", "unique_id", "reset"):
            setattr(m, name, globals()[name])
        for name in ("PWRON_RESET", "HARD_RESET", "WDT_RESET", "DEEPSLEEP_RESET", "SOFT_RESET"):
            setattr(m, name, globals()[name])
        sys.modules["machine"] = m
    if "network" not in sys.modules:
        n = _module("network")
        n.WLAN = WLAN
        n.STA_IF = 0
        sys.modules["network"] = n
