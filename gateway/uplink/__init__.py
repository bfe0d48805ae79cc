"""Forwarding what a site gateway committed to the central fleet server (docs/FLEET.md).

`forwarder.Forwarder` runs in the site gateway: it reads its store after per-stream watermarks
and publishes to the central broker (MQTT, QoS 1, persistent session). `central.CentralApplier`
runs in the fleet server: it applies each message idempotently into the central store and
answers with the watermark it holds, which the site then stores as its own. The store is the
queue; the broker only carries messages.
"""

from gateway.uplink.config import UplinkConfig

__all__ = ["UplinkConfig"]
