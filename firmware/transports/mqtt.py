"""MQTT transport: Wi-Fi check, connect with a last will (the death frame), subscriptions to
the node's cmd and ack topics, reconnect with exponential backoff and jitter."""

from firmware.clock import ticks_add, ticks_diff
from protocol import topics

BACKOFF_MIN_MS = 1000
BACKOFF_MAX_MS = 60000


class MqttTransport:
    def __init__(self, node_id, client_factory, wlan=None, seed=1):
        self.node_id = node_id
        self.factory = client_factory  # () -> MQTTClient
        self.wlan = wlan
        self.client = None
        self.inbound = []
        self.will = None
        self._up = False
        self._next_try = None
        self._backoff = BACKOFF_MIN_MS
        self._last_ping = 0
        self._rnd = seed & 0xFFFFFFFF or 1
        self.connects = 0
        self.failures = 0

    def set_will(self, payload):
        self.will = payload

    def connected(self):
        return self._up

    def _jitter(self, span):
        x = self._rnd
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._rnd = x
        return x % (span + 1)

    def _on_msg(self, topic, msg):
        if len(self.inbound) < 32:  # bounded: a flood cannot exhaust RAM
            self.inbound.append(bytes(msg))

    def _fail(self, now):
        self._up = False
        self.failures += 1
        if self.client is not None:
            self.client.close()
        self.client = None
        delay = self._backoff
        self._backoff = min(self._backoff * 2, BACKOFF_MAX_MS)
        self._next_try = ticks_add(now, delay + self._jitter(delay // 2))

    def rssi(self):
        """The Wi-Fi signal in dBm, or None (no Wi-Fi, not associated, or the port cannot
        say: status("rssi") raises ValueError on ports without it)."""
        w = self.wlan
        if w is None:
            return None
        try:
            if not w.isconnected():
                return None
            v = w.status("rssi")
        except (OSError, ValueError, TypeError):
            return None
        if isinstance(v, int) and -127 <= v <= 0:
            return v
        return None

    def poll(self, now):
        c = self.client
        if self._up and c is not None:
            try:
                for _ in range(4):
                    if c.check_msg() is None:
                        break
                if ticks_diff(now, self._last_ping) > 30000:
                    c.ping()
                    self._last_ping = now
            except Exception:
                self._fail(now)
            return
        if self._next_try is not None and ticks_diff(now, self._next_try) < 0:
            return
        if self.wlan is not None and not self.wlan.isconnected():
            self._next_try = ticks_add(now, 1000)
            return
        try:
            c = self.factory()
            c.set_callback(self._on_msg)
            if self.will is not None:
                c.set_last_will(topics.node_topic(self.node_id, "death"), self.will, False, 1)
            c.connect()
            self.client = c
            c.subscribe(topics.node_topic(self.node_id, "cmd"), 1)
            c.subscribe(topics.node_topic(self.node_id, "ack"), 1)
            self._up = True
            self._backoff = BACKOFF_MIN_MS
            self._last_ping = now
            self.connects += 1
        except Exception:
            self._fail(now)

    def send(self, leaf, payload):
        c = self.client
        if not self._up or c is None:
            return False
        try:
            c.publish(topics.node_topic(self.node_id, leaf), payload, False, 1)
            return True
        except Exception:
            self._up = False
            if self.client is not None:
                self.client.close()
            self.client = None
            self._next_try = None
            return False
