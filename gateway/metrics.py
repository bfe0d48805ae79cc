"""A small metrics registry and its Prometheus text rendering.

`REGISTRY` is the process-wide registry the gateway writes to; `render_metrics()` returns the
Prometheus text exposition (format 0.0.4). The web app mounts it at /metrics.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

__all__ = ["METRICS", "REGISTRY", "Metrics", "render", "render_metrics"]

Labels = tuple[tuple[str, str], ...]

# name -> (type, help). Every metric the gateway emits is declared here (and in GATEWAY.md).
METRICS: dict[str, tuple[str, str]] = {
    "kizashi_frames_in_total": ("counter", "Payloads submitted to the pipeline, by transport."),
    "kizashi_frames_accepted_total": ("counter", "Frames that passed validation and de-dup."),
    "kizashi_frames_stored_total": ("counter", "Frames committed to the store."),
    "kizashi_frames_rejected_total": ("counter", "Payloads rejected, by reason."),
    "kizashi_frames_duplicate_total": ("counter", "Frames already stored (replays, resends)."),
    "kizashi_seq_gaps_total": ("counter", "Sequence gaps detected (after the reorder grace)."),
    "kizashi_frames_lost_total": ("counter", "Frames given up as lost (node overflow)."),
    "kizashi_resend_requests_total": ("counter", "Resend commands sent to nodes."),
    "kizashi_time_commands_total": ("counter", "Time commands sent to nodes."),
    "kizashi_notify_sent_total": ("counter", "Health events delivered to the webhook."),
    "kizashi_notify_failures_total": ("counter", "Webhook deliveries that failed (retried)."),
    "kizashi_clock_step_frames_total": (
        "counter",
        "Live frames stamped with their receive time because the node's clock had just stepped.",
    ),
    "kizashi_acks_sent_total": ("counter", "Acks sent to nodes."),
    "kizashi_ack_lag_seconds": (
        "gauge",
        "Receive-to-ack time of the oldest frame of the last batch.",
    ),
    "kizashi_queue_depth": ("gauge", "Frames accepted but not yet committed."),
    "kizashi_store_commit_seconds": ("histogram", "Time to commit one batch."),
    "kizashi_batch_frames": ("gauge", "Frames in the last committed batch."),
    "kizashi_link_up": ("gauge", "1 while a link (MQTT, serial port) is connected."),
    "kizashi_link_reconnects_total": ("counter", "Link (re)connection attempts."),
    "kizashi_serial_rejected_total": ("counter", "Serial chunks rejected by the deframer."),
    "kizashi_store_errors_total": ("counter", "Failed commits (retried)."),
    "kizashi_task_restarts_total": ("counter", "Supervised task restarts, by task."),
}

BUCKETS: Sequence[float] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def _labels(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _fmt_labels(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = labels + extra
    if not items:
        return ""
    esc = (
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in items
    )
    return "{" + ",".join(esc) + "}"


def _num(v: float) -> str:
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if float(v).is_integer():
        return str(int(v))
    return repr(float(v))


class Metrics:
    """Thread-safe counters, gauges and histograms keyed by name and labels."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[Labels, float]] = {}
        self._hist: dict[str, dict[Labels, list[float]]] = {}

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = _labels(labels)
        with self._lock:
            series = self._values.setdefault(name, {})
            series[key] = series.get(key, 0.0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values.setdefault(name, {})[_labels(labels)] = value

    def observe(self, name: str, value: float, **labels: str) -> None:
        key = _labels(labels)
        with self._lock:
            h = self._hist.setdefault(name, {}).get(key)
            if h is None:
                h = [0.0] * (len(BUCKETS) + 2)  # buckets..., sum, count
                self._hist[name][key] = h
            for i, b in enumerate(BUCKETS):
                if value <= b:
                    h[i] += 1
            h[-2] += value
            h[-1] += 1

    def get(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values.get(name, {}).get(_labels(labels), 0.0)

    def total(self, name: str) -> float:
        """Sum over all label sets of a counter."""
        with self._lock:
            return sum(self._values.get(name, {}).values())

    def reset(self) -> None:
        with self._lock:
            self._values.clear()
            self._hist.clear()

    def render(self) -> str:
        out: list[str] = []
        with self._lock:
            names = sorted(set(self._values) | set(self._hist) | set(METRICS))
            for name in names:
                kind, help_text = METRICS.get(name, ("untyped", name))
                out.append(f"# HELP {name} {help_text}")
                out.append(f"# TYPE {name} {kind}")
                for labels, v in sorted(self._values.get(name, {}).items()):
                    out.append(f"{name}{_fmt_labels(labels)} {_num(v)}")
                for labels, h in sorted(self._hist.get(name, {}).items()):
                    for i, b in enumerate(BUCKETS):
                        out.append(
                            f"{name}_bucket{_fmt_labels(labels, (('le', _num(b)),))} {_num(h[i])}"
                        )
                    inf = _fmt_labels(labels, (("le", "+Inf"),))
                    out.append(f"{name}_bucket{inf} {_num(h[-1])}")
                    out.append(f"{name}_sum{_fmt_labels(labels)} {_num(h[-2])}")
                    out.append(f"{name}_count{_fmt_labels(labels)} {_num(h[-1])}")
        return "\n".join(out) + "\n"


REGISTRY = Metrics()


def render_metrics(registry: Metrics | None = None) -> str:
    """Prometheus text of `registry` (default: the process-wide REGISTRY)."""
    return (registry or REGISTRY).render()


render = render_metrics  # the name fleet_web.ops looks up
