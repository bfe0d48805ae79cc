"""MQTT topic scheme. Every node publishes and subscribes only under its own node topics.

kizashi/v1/node/<node_id>/data    node -> gateway  reports and events      QoS 1
kizashi/v1/node/<node_id>/birth   node -> gateway  birth frame on connect   QoS 1
kizashi/v1/node/<node_id>/death   broker -> gateway  last will (death frame) QoS 1
kizashi/v1/node/<node_id>/cmd     gateway -> node  commands                 QoS 1
kizashi/v1/node/<node_id>/ack     gateway -> node  acks releasing stored frames QoS 1
kizashi/v1/gateway/<gw_id>/state  gateway state (not retained): "online" / "offline"
"""

PREFIX = "kizashi/v1"
NODE_LEAVES = ("data", "birth", "death", "cmd", "ack")
NODE_PUBLISHES = ("data", "birth", "death")
NODE_SUBSCRIBES = ("cmd", "ack")


def node_topic(node_id: str, leaf: str) -> str:
    if leaf not in NODE_LEAVES:
        raise ValueError("unknown topic leaf " + leaf)
    return PREFIX + "/node/" + node_id + "/" + leaf


def gateway_state_topic(gateway_id: str) -> str:
    return PREFIX + "/gateway/" + gateway_id + "/state"


def node_wildcard(leaf: str) -> str:
    """Gateway subscription for one leaf across all nodes."""
    return PREFIX + "/node/+/" + leaf


def parse_node_topic(topic: str) -> "tuple[str, str] | None":
    """'kizashi/v1/node/n1/data' -> ('n1', 'data'); None for anything else."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] + "/" + parts[1] != PREFIX or parts[2] != "node":
        return None
    if parts[4] not in NODE_LEAVES or not parts[3]:
        return None
    return parts[3], parts[4]
