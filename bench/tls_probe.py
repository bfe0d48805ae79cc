# Runs on the MicroPython unix port (bench/tls_cost.py starts it): the firmware's own TLS
# MQTT connect (firmware/transports/tls.py + umqtt) to the site broker, verifying its
# certificate against the site CA, then a publish. gc.mem_alloc() is read around each step;
# the connection is held open HOLD_MS after the publish so that a heap profiler sees the
# steady state of an open connection. argv: repo root, ident JSON. Prints one JSON line.
import gc
import json
import sys
import time

HOLD_MS = 400

sys.path.insert(0, sys.argv[1])
gc.collect()
base = gc.mem_alloc()
from firmware.transports.tls import tls_wrapper  # noqa: E402
from firmware.transports.umqtt import MQTTClient  # noqa: E402

with open(sys.argv[2]) as f:
    m = json.load(f)
gc.collect()
code = gc.mem_alloc() - base
start = gc.mem_alloc()
wrap = tls_wrapper(m["ca"])  # the SSLContext with the site CA parsed into it
gc.collect()
context = gc.mem_alloc() - start
c = MQTTClient(m["id"], m["host"], m["port"], m["id"], m["password"], socket_timeout=5, tls=wrap)
gc.collect()
before = gc.mem_alloc()
gc.disable()  # nothing the handshake allocates is reclaimed: an upper bound of its peak
c.connect()
handshake = gc.mem_alloc() - before
gc.enable()
gc.collect()
open_conn = gc.mem_alloc() - before
c.publish(m["topic"].encode(), b"tls-heap", qos=1)
gc.collect()
published = gc.mem_alloc() - before
time.sleep_ms(HOLD_MS)
c.disconnect()
gc.collect()
closed = gc.mem_alloc() - before
print(
    json.dumps(
        {
            "code": code,
            "context": context,
            "handshake": handshake,
            "open": open_conn,
            "published": published,
            "closed": closed,
        }
    )
)
