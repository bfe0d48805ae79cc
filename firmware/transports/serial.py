"""Framed serial transport (protocol.serial_framing: COBS + CRC-32 + 0x00) over any stream
with read(n) -> bytes | None, write(b) -> int | None and optionally any() -> int (a
machine.UART, the USB console adapter below, or a host pseudo-terminal)."""

from protocol.serial_framing import Deframer, encode_frame


class SerialTransport:
    def __init__(self, stream, chunk=256):
        self.stream = stream
        self.deframer = Deframer()
        self.inbound = []
        self.chunk = chunk
        self.write_errors = 0

    def set_will(self, payload):
        pass  # the gateway notices a silent serial link itself

    def connected(self):
        return True

    def poll(self, now):
        s = self.stream
        for _ in range(8):
            n = s.any() if hasattr(s, "any") else self.chunk
            if not n:
                return
            data = s.read(n if n < self.chunk else self.chunk)
            if not data:
                return
            for payload in self.deframer.feed(data):
                if len(self.inbound) < 32:
                    self.inbound.append(payload)

    def send(self, leaf, payload):
        try:
            frame = encode_frame(payload)
            n = self.stream.write(frame)
        except OSError:
            self.write_errors += 1
            return False
        if n is not None and n != len(frame):
            self.write_errors += 1
            return False
        return True


class UsbConsole:
    """Pico USB CDC (sys.stdin/stdout) as a stream; the REPL must be detached (main.py)."""

    def __init__(self):
        import select
        import sys

        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(self._in, select.POLLIN)

    def any(self):
        return 1 if self._poll.poll(0) else 0

    def read(self, n):
        return self._in.read(1)

    def write(self, b):
        return self._out.write(b)
