"""Transports give the node a small interface:

poll(now_ms) -> None        keep the link (reconnect, read inbound); never blocks longer
                            than its socket timeout
connected() -> bool
send(leaf, payload) -> bool  leaf is a protocol.topics leaf ('data' or 'birth')
inbound: list of payload bytes (acks and commands), consumed by the node
set_will(payload) -> None    death frame for MQTT; ignored by serial
"""
