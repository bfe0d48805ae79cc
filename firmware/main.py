"""Board entry point (copied to the board as main.py): build the node from boards.py,
node.json and config.json, then run the cooperative loop under a global exception handler.
A crash saves nothing and resets: the counters on flash are at most one save interval old.

No accelerometer found at boot gives NoSensor: the node runs and reports `sensor_fault`; it
never falls back to the simulation. The simulated sensor runs only when node.json says
`"bench": true`. A DS18B20 on the pin node.json names (`temp_probe_pin`) is the temperature
source; without one, the MPU-6050's die or the board's own."""

import machine

from firmware import boards
from firmware.clock import BoardClock
from firmware.fsio import VfsFS
from firmware.node import Node

_CAUSES = {
    getattr(machine, "PWRON_RESET", -1): "power_on",
    getattr(machine, "HARD_RESET", -2): "hard",
    getattr(machine, "WDT_RESET", -3): "watchdog",
    getattr(machine, "SOFT_RESET", -4): "soft",
    getattr(machine, "DEEPSLEEP_RESET", -5): "deep_sleep",
}


def reset_cause():
    try:
        return _CAUSES.get(machine.reset_cause(), "unknown")
    except AttributeError:
        return "unknown"


def make_sensor(b, clock, bench):
    """The accelerometer on the board's bus, the simulation in bench mode, else NoSensor."""
    if bench:
        from firmware.sensors.sim import SimSensor

        return SimSensor("healthy", now_s=lambda: clock.ticks_ms() / 1000)
    from machine import I2C, SPI, Pin

    from firmware.clock import ticks_diff

    if b["spi"] is not None:
        s = b["spi"]
        try:
            from firmware.sensors.adxl345 import ADXL345

            spi = SPI(
                s["id"],
                baudrate=s["baud"],
                polarity=1,
                phase=1,
                sck=Pin(s["sck"]),
                mosi=Pin(s["mosi"]),
                miso=Pin(s["miso"]),
            )
            return ADXL345(
                spi=spi,
                cs=Pin(s["cs"], Pin.OUT, value=1),
                ticks_ms=clock.ticks_ms,
                ticks_diff=ticks_diff,
            )
        except OSError:
            pass
    c = b["i2c"]
    try:
        i2c = I2C(c["id"], scl=Pin(c["scl"]), sda=Pin(c["sda"]), freq=c["freq"])
        found = i2c.scan()
        if 0x53 in found:
            from firmware.sensors.adxl345 import ADXL345

            return ADXL345(i2c=i2c, ticks_ms=clock.ticks_ms, ticks_diff=ticks_diff)
        if 0x68 in found:
            from firmware.sensors.mpu6050 import MPU6050

            return MPU6050(i2c, ticks_ms=clock.ticks_ms, ticks_diff=ticks_diff)
    except OSError:  # a bus that fails outright: no sensor either
        pass
    from firmware.sensors.none import NoSensor  # never invent a signal

    return NoSensor()


def make_temp(b, ident, sensor, clock):
    """The temperature source: a DS18B20 probe if node.json names its pin, else the
    accelerometer's die (MPU-6050, or the simulation in bench mode), else the board's die."""
    from firmware.sensors import temp

    pin = ident.get("temp_probe_pin")
    if pin is not None:
        import ds18x20
        import onewire
        from machine import Pin

        from firmware.clock import ticks_diff

        return temp.DS18B20Temp(ds18x20.DS18X20(onewire.OneWire(Pin(pin))), ticks_diff)
    if sensor.name in ("mpu6050", "sim"):
        return temp.SensorTemp(sensor)
    if b["temp"] in ("rp2040_adc4", "esp32_mcu"):
        return temp.BoardTemp(b["temp"])
    return temp.NoTemp()


def make_transport(b, ident):
    if b["network"] == "serial" or ident.get("transport") == "serial":
        from firmware.transports.serial import SerialTransport, UsbConsole

        u = b["uart"]
        if u is not None and ident.get("serial") == "uart":
            from machine import UART, Pin

            return SerialTransport(
                UART(u["id"], u["baud"], tx=Pin(u["tx"]), rx=Pin(u["rx"]))
            ), "serial"
        return SerialTransport(UsbConsole()), "serial"
    import network

    from firmware.transports.mqtt import MqttTransport
    from firmware.transports.umqtt import MQTTClient

    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    w = ident.get("wifi") or {}
    wlan.connect(w.get("ssid"), w.get("password"))  # returns at once; the transport waits
    m = ident["mqtt"]
    tls = None
    port = m["port"]
    if m.get("tls") and m.get("ca") and m.get("tls_port"):  # opt-in: `node add --tls`
        from firmware.transports.tls import tls_wrapper

        tls = tls_wrapper(m["ca"])
        port = m["tls_port"]

    def factory():
        return MQTTClient(
            m.get("client_id") or ident["node_id"],
            m["host"],
            port,
            m.get("user"),
            m.get("password"),
            keepalive=60,
            socket_timeout=3,
            tls=tls,
        )

    seed = int.from_bytes(machine.unique_id(), "little")
    return MqttTransport(ident["node_id"], factory, wlan, seed), "mqtt"


def main():
    from firmware import config, heap

    b = boards.get()
    fs = VfsFS("")
    ident = config.load_identity(fs)
    clock = BoardClock()
    cause = reset_cause()
    wdt = machine.WDT(timeout=min(b["wdt_ms"], boards.RP2040_WDT_MAX_MS))
    bench = ident.get("bench") is True
    sensor = make_sensor(b, clock, bench)
    transport, tname = make_transport(b, ident)
    node = Node(
        ident["node_id"],
        sensor,
        transport,
        clock,
        fs,
        board=boards.detect(),
        wdt=wdt,
        reset_cause=cause,
        temp=make_temp(b, ident, sensor, clock),
        reset=machine.reset,
        transport_name=tname,
        wdt_ms=b["wdt_ms"],
        bench=bench,
        heap=heap.measure,
    )
    while True:
        clock.sleep_ms(node.poll(clock.ticks_ms()))


def run():
    try:
        main()
    except Exception as e:  # global handler: log, then let the watchdog-safe reset happen
        import sys

        sys.print_exception(e)
        machine.reset()


# On a board, importing this module (the board's main.py does) runs the node. On the host,
# tests import it for make_sensor/make_temp with the host stand-ins, and nothing runs.
if boards.detect() != "host":
    run()
