"""A minimal MQTT 3.1.1 client with the umqtt.simple API (connect, publish, subscribe,
check_msg, ping, disconnect, set_callback, set_last_will), plus a socket timeout on every
blocking step so a dead link raises OSError instead of hanging past the watchdog.

`socket_mod` is injectable so host tests can substitute a fake socket.
"""

import struct


class MQTTException(Exception):
    pass


class MQTTClient:
    def __init__(
        self,
        client_id,
        server,
        port=1883,
        user=None,
        password=None,
        keepalive=60,
        socket_timeout=5,
        socket_mod=None,
        tls=None,
    ):
        if socket_mod is None:
            import socket as socket_mod
        self._socket = socket_mod
        self.client_id = client_id
        self.server = server
        self.port = port
        self.user = user
        self.pswd = password
        self.keepalive = keepalive
        self.timeout = socket_timeout
        # tls(sock, server) -> sock: wraps the connected socket (firmware.main.tls_wrapper
        # verifies the broker against the site CA); None = plain MQTT
        self.tls = tls
        self.sock = None
        self.cb = None
        self.pid = 0
        self.lw_topic = None
        self.lw_msg = None
        self.lw_qos = 0
        self.lw_retain = False

    def _send_str(self, s):
        if isinstance(s, str):
            s = s.encode()
        self.sock.write(struct.pack("!H", len(s)))
        self.sock.write(s)

    def _read(self, n):
        data = self.sock.read(n)
        if not data or len(data) != n:
            raise OSError(-1)  # peer closed or timed out
        return data

    def _recv_len(self):
        n = 0
        sh = 0
        while True:
            b = self._read(1)[0]
            n |= (b & 0x7F) << sh
            if not b & 0x80:
                return n
            sh += 7
            if sh > 21:
                raise MQTTException("bad length")

    def set_callback(self, f):
        self.cb = f

    def set_last_will(self, topic, msg, retain=False, qos=0):
        self.lw_topic = topic
        self.lw_msg = msg
        self.lw_qos = qos
        self.lw_retain = retain

    def connect(self, clean_session=True):
        addr = self._socket.getaddrinfo(self.server, self.port)[0][-1]
        self.sock = self._socket.socket()
        self.sock.settimeout(self.timeout)
        try:
            self.sock.connect(addr)
            if self.tls is not None:
                self.sock = self.tls(self.sock, self.server)
        except OSError:
            self.sock.close()
            self.sock = None
            raise
        premsg = bytearray(b"\x10\0\0\0\0\0")
        msg = bytearray(b"\x04MQTT\x04\x02\0\0")
        sz = 10 + 2 + len(self.client_id)
        msg[6] = clean_session << 1
        if self.user:
            sz += 2 + len(self.user) + 2 + len(self.pswd or "")
            msg[6] |= 0xC0
        if self.keepalive:
            msg[7] |= self.keepalive >> 8
            msg[8] |= self.keepalive & 0xFF
        if self.lw_topic:
            sz += 2 + len(self.lw_topic) + 2 + len(self.lw_msg)
            msg[6] |= 0x4 | (self.lw_qos & 0x1) << 3 | (self.lw_qos & 0x2) << 3
            msg[6] |= self.lw_retain << 5
        i = 1
        while sz > 0x7F:
            premsg[i] = (sz & 0x7F) | 0x80
            sz >>= 7
            i += 1
        premsg[i] = sz
        # the byte after the length is the high byte (0) of the protocol name's length
        self.sock.write(bytes(premsg[: i + 2]))
        self.sock.write(bytes(msg))
        self._send_str(self.client_id)
        if self.lw_topic:
            self._send_str(self.lw_topic)
            self._send_str(self.lw_msg)
        if self.user:
            self._send_str(self.user)
            self._send_str(self.pswd or "")
        resp = self._read(4)
        if resp[0] != 0x20 or resp[1] != 0x02:
            raise MQTTException("bad connack")
        if resp[3] != 0:
            raise MQTTException(resp[3])
        return resp[2] & 1

    def disconnect(self):
        if self.sock is None:
            return
        try:
            self.sock.write(b"\xe0\0")
        except OSError:
            pass
        self.close()

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def ping(self):
        self.sock.write(b"\xc0\0")

    def publish(self, topic, msg, retain=False, qos=0):
        pkt = bytearray(b"\x30\0\0\0")
        pkt[0] |= qos << 1 | retain
        sz = 2 + len(topic) + len(msg)
        if qos > 0:
            sz += 2
        i = 1
        while sz > 0x7F:
            pkt[i] = (sz & 0x7F) | 0x80
            sz >>= 7
            i += 1
        pkt[i] = sz
        self.sock.write(bytes(pkt[: i + 1]))
        self._send_str(topic)
        if qos > 0:
            self.pid = self.pid % 65535 + 1
            pid = self.pid
            self.sock.write(struct.pack("!H", pid))
        self.sock.write(msg)
        if qos == 1:
            while True:
                op = self.wait_msg()
                if op == 0x40:
                    sz = self._read(1)
                    rcv = self._read(2)
                    if (rcv[0] << 8 | rcv[1]) == pid:
                        return

    def subscribe(self, topic, qos=0):
        pkt = bytearray(b"\x82\0\0\0")
        self.pid = self.pid % 65535 + 1
        pid = self.pid
        sz = 2 + 2 + len(topic) + 1
        pkt[1] = sz
        struct.pack_into("!H", pkt, 2, pid)
        self.sock.write(bytes(pkt))
        self._send_str(topic)
        self.sock.write(bytes((qos,)))
        while True:
            op = self.wait_msg()
            if op == 0x90:
                resp = self._read(4)
                if resp[3] == 0x80:
                    raise MQTTException(resp[3])
                return

    def wait_msg(self):
        """One packet: a PUBLISH goes to the callback; other opcodes are returned."""
        res = self.sock.read(1)
        if res is None:
            return None
        if res == b"":
            raise OSError(-1)
        if res == b"\xd0":  # PINGRESP
            self._read(1)
            return None
        op = res[0]
        if op & 0xF0 != 0x30:
            return op
        sz = self._recv_len()
        topic_len = self._read(2)
        topic_len = (topic_len[0] << 8) | topic_len[1]
        topic = self._read(topic_len)
        sz -= topic_len + 2
        pid = 0
        if op & 6:
            pid = self._read(2)
            pid = pid[0] << 8 | pid[1]
            sz -= 2
        msg = self._read(sz) if sz else b""
        if self.cb is not None:
            self.cb(topic, msg)
        if op & 6 == 2:
            pkt = bytearray(b"\x40\x02\0\0")
            struct.pack_into("!H", pkt, 2, pid)
            self.sock.write(bytes(pkt))
        return op

    def check_msg(self):
        """Non-blocking: handle one pending packet if any."""
        self.sock.setblocking(False)
        try:
            return self.wait_msg()
        except OSError as e:
            if e.args and e.args[0] in (11, 35, 115):  # EAGAIN / EWOULDBLOCK
                return None
            raise
        finally:
            if self.sock is not None:
                self.sock.settimeout(self.timeout)
