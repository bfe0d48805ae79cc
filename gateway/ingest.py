"""The ingest pipeline: validate, de-duplicate, batch-commit, then ack; gaps, losses, clocks.

Transport-independent. A link calls `submit(raw, source, node_hint)` from the event loop
thread (or `submit_threadsafe` from any thread); `source` is the link's name, which is where
the acks and commands for that node go (`Link.send`). `run()` commits a batch when 1000 frames
are pending or the oldest pending frame is 1 s old, and sends acks only after the commit. Right
after the commit of a full batch (a burst) whatever is pending goes at once: the tail of a burst
is not held back for the 1 s; at low rates (no full batch) the rule above alone applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.decode import Decoder
from gateway.links import Link
from gateway.logs import RateLimitedLog
from gateway.metrics import REGISTRY, Metrics
from gateway.seqtrack import ClockTracker, Range, ResendRequest, SeqTracker
from gateway.store.api import (
    BirthRecord,
    EventRecord,
    FrameRecord,
    NodeStatus,
    SeqState,
    Store,
    WriteBatch,
)
from gateway.wire import FLAG_CLOCK_UNSYNCED, encode_ack, encode_command

log = logging.getLogger(__name__)

__all__ = ["IngestPipeline", "PipelineConfig"]


@dataclass(frozen=True)
class PipelineConfig:
    batch_max: int = 1000  # commit when this many frames are pending ...
    batch_interval_s: float = 1.0  # ... or when the oldest pending frame is this old
    max_pending: int = 100_000  # beyond this, frames are rejected ("overload"); nodes resend
    reorder_grace_s: float = 2.0  # a hole must persist this long before it is a gap
    resend_timeout_s: float = 5.0  # wait this long for a resend before asking again
    resend_max_attempts: int = 3  # then the missing frames are marked lost
    resend_per_s: float = 20.0  # global rate limit of resend commands
    clock_tolerance_s: float = 5.0  # a synced node clock further off than this is corrected
    clock_step_s: float = 300.0  # a live frame this far from the offset means the clock stepped
    time_command_interval_s: float = 600.0  # at most one 'time' command per node per interval
    housekeeping_s: float = 0.5
    boots_kept: int = 4  # sequence trackers kept in memory per node
    commit_retry_s: float = 1.0
    # --- limits against one misbehaving (or hostile) node, issue 15
    max_pending_per_node: int = 2000  # one node's share of the pending batch ("node_overload")
    max_future_s: float = 600.0  # a frame time further ahead than this takes its receive time
    event_rate_per_s: float = 0.2  # events stored per node: token bucket rate ...
    event_burst: int = 30  # ... and size; excess events are acked, counted and summarised
    event_summary_s: float = 60.0  # at most one `events_suppressed` event per node this often
    max_seq_jump: int = 1_000_000  # a missing seq range larger than this is a discontinuity
    # A bench or demo gateway: nodes on the simulated sensor are expected. Otherwise a birth
    # naming sensor `sim` raises the gateway event `simulated_sensor` (its data are invented).
    bench: bool = False


@dataclass
class NodeState:
    node_id: str
    boot_id: int = -1
    last_seen: float = 0.0
    online: bool = False
    dropped: int = 0
    frames_received: int = 0
    frames_lost: int = 0
    gaps: int = 0
    last_time_cmd: float = 0.0
    clock_unsynced: bool = False  # from the node's last report (other kinds carry no flags)
    clocks: dict[int, ClockTracker] = field(default_factory=dict)
    event_tokens: float = -1.0  # -1: a full bucket on first use
    event_refill: float = 0.0
    events_suppressed: int = 0  # since the last summary event
    suppressed_codes: dict[str, int] = field(default_factory=dict)
    last_summary: float = 0.0

    def offset(self) -> float | None:
        c = self.clocks.get(self.boot_id)
        return None if c is None else c.offset


class _Batch:
    __slots__ = (
        "births", "events", "first_by_node", "first_recv", "frames", "keys", "nodes", "per_node",
    )  # fmt: skip

    def __init__(self) -> None:
        self.frames: list[FrameRecord] = []
        self.events: list[EventRecord] = []
        self.births: list[BirthRecord] = []
        self.keys: set[tuple[str, int]] = set()
        self.nodes: set[str] = set()
        self.per_node: dict[str, int] = {}  # frames pending per node (fair admission)
        self.first_recv: float | None = None
        self.first_by_node: dict[str, float] = {}  # receive time of each node's oldest frame

    def empty(self) -> bool:
        return not (self.frames or self.events or self.births or self.keys or self.nodes)


class IngestPipeline:
    """See the module docstring and docs/GATEWAY.md (Ingest pipeline)."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics | None = None,
        config: PipelineConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.metrics = metrics or REGISTRY
        self.config = config or PipelineConfig()
        self.clock = clock
        self.decoder = Decoder(self.metrics)
        self.links: dict[str, Link] = {}
        self.routes: dict[str, str] = {}  # node -> link name of its latest frame
        self.trackers: dict[tuple[str, int], SeqTracker] = {}
        self.nodes: dict[str, NodeState] = {}
        self._batch = _Batch()
        self._wake = asyncio.Event()
        self._stopping = False
        self._flush_lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cmd_id = int(time.time()) & 0xFFFFFFF
        self._resend_tokens = self.config.resend_per_s
        self._resend_refill = time.monotonic()
        self._pending_cmds: list[tuple[str, str, bytes]] = []  # node, leaf, payload
        self._reack: set[tuple[str, int]] = set()
        self._log = RateLimitedLog(log)
        self._n_in: dict[str, int] = {}
        self._n_accepted = 0
        self._send_wake = asyncio.Event()
        self.committed_batches = 0
        # Can the store commit? (for /healthz and the watchdog): monotonic times of the last
        # successful commit and of the first failure of the current failing streak.
        self.last_commit_ok = time.monotonic()
        self.failing_since: float | None = None
        self.last_commit_error = ""
        self.allowed_nodes: dict[str, frozenset[str]] = {}  # link name -> node ids it may carry
        self._burst = False  # the last commit was a full batch: commit the rest without waiting
        self.stored = 0
        # Called with each accepted birth and event frame (parsed, `live`): gateway.node_config
        # follows births and command answers this way. Reports never reach them.
        self.observers: list[Callable[[dict[str, Any], bool], None]] = []
        self._restore()

    # ------------------------------------------------------------ setup
    def _restore(self) -> None:
        for info in self.store.nodes():
            st = self._node(info.node_id)
            st.boot_id = info.boot_id if info.boot_id is not None else -1
            st.dropped = info.dropped
            st.frames_received = info.frames_received
            st.frames_lost = info.frames_lost
            st.gaps = info.gaps
            st.last_seen = info.last_seen or 0.0
        for s in self.store.load_seq_states():
            self.trackers[(s.node_id, s.boot_id)] = SeqTracker.restore(s)
            st = self._node(s.node_id)
            st.boot_id = max(st.boot_id, s.boot_id)
        self._trim_boots()

    def add_link(self, link: Link) -> None:
        """Register a link. A link with `allowed_nodes` (a serial port bound to its node ids)
        may only carry frames of those nodes: others are refused as `unbound_node`."""
        self.links[link.name] = link
        allowed = getattr(link, "allowed_nodes", None)
        if allowed:
            self.allowed_nodes[link.name] = frozenset(allowed)

    def _node(self, node_id: str) -> NodeState:
        st = self.nodes.get(node_id)
        if st is None:
            st = self.nodes[node_id] = NodeState(node_id)
        return st

    # ------------------------------------------------------------ intake
    @property
    def pending(self) -> int:
        return len(self._batch.frames)

    def submit_threadsafe(self, raw: bytes, source: str, node_hint: str | None = None) -> None:
        """From a reader thread: hand the payload to the loop running `run()`."""
        if self._loop is None:
            raise RuntimeError("pipeline not running")
        self._loop.call_soon_threadsafe(self.submit, raw, source, node_hint)

    def submit(self, raw: bytes, source: str, node_hint: str | None = None) -> bool:
        """Validate and queue one payload; False if it was rejected or a duplicate.

        Call from the event loop thread. Never raises on bad input.
        """
        self._n_in[source] = self._n_in.get(source, 0) + 1
        pending = len(self._batch.frames)
        if pending >= self.config.max_pending:
            self.decoder.reject("overload", source)
            return False
        if self.failing_since is not None and pending >= self.config.batch_max:
            # The store cannot commit: hold no more than one batch in memory (the retry then
            # never grows into one giant transaction); nodes keep the rest and resend it.
            self.decoder.reject("store_unavailable", source)
            return False
        frame = self.decoder.decode(raw, source)
        if frame is None:
            return False
        try:
            return self._accept(frame, bytes(raw), source, node_hint)
        except Exception:  # a bug in one frame's handling must not stop the gateway
            log.exception("frame handling failed", extra={"source": source})
            self.decoder.reject("internal", source)
            return False

    def _accept(self, f: dict[str, Any], raw: bytes, source: str, hint: str | None) -> bool:
        node = f["node"]
        if hint is not None and hint != node:
            self.decoder.reject("topic_mismatch", source, f"{hint} != {node}")
            return False
        allowed = self.allowed_nodes.get(source)
        if allowed is not None and node not in allowed:
            self.decoder.reject("unbound_node", source, node)
            return False
        if self._batch.per_node.get(node, 0) >= self.config.max_pending_per_node:
            # One node's flood cannot fill the batch and starve the others' acks: its excess
            # is refused unacked (the node keeps it and resends).
            self.decoder.reject("node_overload", source, node)
            return False
        kind = f["kind"]
        now = self.clock()
        st = self._node(node)
        if kind == "death":
            return self._death(st, f, now)
        if kind not in ("report", "birth", "event"):
            self.decoder.reject("unexpected_kind", source, kind)
            return False
        boot = f["boot"]
        seq = f["seq"]
        key = (node, boot)
        tr = self.trackers.get(key)
        if tr is None:
            known = [b for (n, b) in self.trackers if n == node]
            if known and boot < min(known) and len(known) >= self.config.boots_kept:
                self.decoder.reject("stale_boot", source, f"{node} boot {boot}")
                return False
            tr = self.trackers[key] = SeqTracker(node, boot, touched=now)
            if boot > st.boot_id:
                st.boot_id = boot
                self._trim_boots()
        self.routes[node] = source
        live = seq > tr.max_seq
        lost_before = tr.is_lost(seq) if seq <= tr.max_seq else False
        if not tr.accept(seq, now):
            self.metrics.inc("kizashi_frames_duplicate_total")
            if seq <= tr.acked:
                self._reack.add(key)
                self._wake.set()
            return False
        if lost_before and not tr.in_jump(seq):
            st.frames_lost = max(0, st.frames_lost - 1)
        b = self._batch
        b.keys.add(key)
        b.nodes.add(node)
        pending = b.per_node.get(node, 0)
        b.per_node[node] = pending + 1
        if not pending:
            b.first_by_node[node] = now
        if b.first_recv is None:
            b.first_recv = now
        st.last_seen = now
        st.online = True
        st.frames_received += 1
        node_time = f["time"]
        clock = st.clocks.get(boot)
        if clock is None:
            clock = st.clocks[boot] = ClockTracker(step_s=self.config.clock_step_s)
        if live:
            clock.add(now, node_time)
        if live and not clock.agrees(now, node_time):
            # The node's clock has just stepped (a time command, NTP) and the tracker has not
            # confirmed the new offset yet: the receive time is right to within the latency,
            # the old offset could be decades off.
            ts = now
            self.metrics.inc("kizashi_clock_step_frames_total")
        else:
            ts = self._corrected(st, clock, f, now, node_time, boot)
        if ts > now + self.config.max_future_s:
            # A time far ahead (a bad clock, a forged frame stamped 2106) would hold the
            # asset's latest state and alarms for good: the receive time is the best bound.
            self.metrics.inc("kizashi_frames_future_time_total")
            self._log.warning(
                "future:" + node, "frame time ahead of receive time, using receive time",
                node=node, ahead_s=round(ts - now),
            )  # fmt: skip
            ts = now
        if kind == "event" and not self._take_event_token(st, now):
            # Over the node's event budget: acked like any stored frame (it is accounted for),
            # not stored; counted and summarised in one `events_suppressed` event.
            self._suppress(st, f["code"])
            for observe in self.observers:  # command answers still reach their followers
                observe(f, live)
            return True
        rec: FrameRecord
        if kind == "report":
            dropped = f["dropped"]
            if dropped > tr.dropped:
                st.dropped += dropped - tr.dropped
                tr.dropped = dropped
            acc = f["acc_rms_mg"]
            vel = f["vel_rms_mm_s_x100"]
            rec = FrameRecord(
                node,
                boot,
                seq,
                kind,
                node_time,
                now,
                ts,
                raw,
                f["flags"],
                dropped,
                f["runtime_s"],
                f["starts"],
                (acc[0], acc[1], acc[2]),
                (vel[0], vel[1], vel[2]),
                f["peak_mg"],
                f["kurtosis_x100"],
                f["temp_c_x10"],
                not live,
            )
        else:
            rec = FrameRecord(node, boot, seq, kind, node_time, now, ts, raw, backfilled=not live)
            if kind == "birth":
                b.births.append(BirthRecord(node, boot, ts, dict(f["info"])))
                if live and isinstance(f["info"].get("rssi_dbm"), int):
                    self.metrics.set("kizashi_node_rssi_dbm", f["info"]["rssi_dbm"], node=node)
                if f["info"]["sensor"] == "sim" and not self.config.bench and live:
                    self._gateway_event(
                        now, node, boot, "simulated_sensor", {"bench": f["info"].get("bench")}
                    )
            else:
                b.events.append(EventRecord(ts, node, f["code"], dict(f["detail"]), boot, seq))
                rssi = f["detail"].get("rssi_dbm")
                if live and f["code"] == "wifi_rssi" and isinstance(rssi, int):
                    self.metrics.set("kizashi_node_rssi_dbm", rssi, node=node)
            for observe in self.observers:
                observe(f, live)
        b.frames.append(rec)
        self._n_accepted += 1
        if len(b.frames) >= self.config.batch_max:
            self._wake.set()
        return True

    def _corrected(
        self,
        st: NodeState,
        clock: ClockTracker,
        f: dict[str, Any],
        now: float,
        node_time: int,
        boot: int,
    ) -> float:
        off = clock.offset
        if off is None:  # a backfilled frame of a boot never seen live: best guess
            off = st.offset()
        if "flags" in f:
            st.clock_unsynced = bool(f["flags"] & FLAG_CLOCK_UNSYNCED)
        unsynced = st.clock_unsynced
        if off is None:
            return now if unsynced else float(node_time)
        if unsynced or abs(off) > self.config.clock_tolerance_s:
            if now - st.last_time_cmd >= self.config.time_command_interval_s and boot == st.boot_id:
                st.last_time_cmd = now
                self._queue_command(st.node_id, boot, "time", {"t": int(now)})
                self.metrics.inc("kizashi_time_commands_total")
                self._gateway_event(
                    now, st.node_id, boot, "clock_offset",
                    {"offset_s": round(off, 3), "unsynced": unsynced},
                )  # fmt: skip
            return node_time + off
        return float(node_time)

    def _take_event_token(self, st: NodeState, now: float) -> bool:
        """Per-node token bucket over event frames (event_rate_per_s, event_burst)."""
        cfg = self.config
        if st.event_tokens < 0:
            st.event_tokens, st.event_refill = float(cfg.event_burst), now
        refill = max(0.0, now - st.event_refill) * cfg.event_rate_per_s
        st.event_tokens = min(float(cfg.event_burst), st.event_tokens + refill)
        st.event_refill = now
        if st.event_tokens >= 1.0:
            st.event_tokens -= 1.0
            return True
        return False

    def _suppress(self, st: NodeState, code: str) -> None:
        st.events_suppressed += 1
        if code in st.suppressed_codes or len(st.suppressed_codes) < 8:
            st.suppressed_codes[code] = st.suppressed_codes.get(code, 0) + 1
        self.metrics.inc("kizashi_events_suppressed_total")

    def _summarise_suppressed(self, now: float) -> None:
        for st in self.nodes.values():
            if st.events_suppressed and now - st.last_summary >= self.config.event_summary_s:
                self._gateway_event(
                    now, st.node_id, st.boot_id, "events_suppressed",
                    {"count": st.events_suppressed, **st.suppressed_codes},
                )  # fmt: skip
                self._batch.nodes.add(st.node_id)
                self._log.warning(
                    "flood:" + st.node_id, "node over its event budget",
                    node=st.node_id, suppressed=st.events_suppressed,
                )  # fmt: skip
                st.events_suppressed = 0
                st.suppressed_codes = {}
                st.last_summary = now

    def _gateway_event(
        self, now: float, node: str, boot: int, code: str, detail: dict[str, Any]
    ) -> None:
        """An event the gateway raises about a node (stored with source 'gateway')."""
        self._batch.events.append(EventRecord(now, node, code, detail, boot, None, "gateway"))

    def _death(self, st: NodeState, f: dict[str, Any], now: float) -> bool:
        if not st.online and st.boot_id == f["boot"]:
            self.metrics.inc("kizashi_frames_duplicate_total")
            return False
        st.online = False
        self._batch.nodes.add(st.node_id)
        if not self._take_event_token(st, now):
            # A node alternating death and report frames would raise a `death` event each time:
            # they share its event budget (the online state still follows).
            self._suppress(st, "death")
            return True
        self._gateway_event(now, st.node_id, f["boot"], "death", {})
        return True

    def _trim_boots(self) -> None:
        by_node: dict[str, list[int]] = {}
        for n, b in self.trackers:
            by_node.setdefault(n, []).append(b)
        for n, boots in by_node.items():
            for b in sorted(boots)[: -self.config.boots_kept]:
                del self.trackers[(n, b)]
                if n in self.nodes:
                    self.nodes[n].clocks.pop(b, None)

    # ------------------------------------------------------------ commands
    def _queue_command(self, node: str, boot: int, name: str, args: dict[str, Any]) -> int | None:
        self._cmd_id = (self._cmd_id + 1) & 0xFFFFFFFF
        try:
            payload = encode_command(node, boot, self._cmd_id, int(self.clock()), name, args)
        except ValueError as e:  # ProtocolError: a command the protocol refuses is a bug here
            log.error("command not encodable", extra={"node": node, "cmd": name, "error": str(e)})
            return None
        self._pending_cmds.append((node, "cmd", payload))
        self._send_wake.set()
        return self._cmd_id

    def queue_command(
        self, node_id: str, name: str, args: dict[str, Any], boot_id: int = 0
    ) -> int | None:
        """Queue a command for the sender task (event loop thread). Returns its command id,
        which the node's cmd_ok / cmd_refused event carries as `cmd`, or None if the protocol
        refuses the command."""
        return self._queue_command(node_id, boot_id, name, args)

    async def send_command(
        self, node_id: str, name: str, args: dict[str, Any], boot_id: int = 0
    ) -> bool:
        """Send a command now (boot_id 0 = any boot); False if the node has no route."""
        self._queue_command(node_id, boot_id, name, args)
        return await self._send_pending() > 0

    async def _send(self, node: str, leaf: str, payload: bytes) -> bool:
        source = self.routes.get(node)
        link = self.links.get(source) if source else None
        if link is None:
            self._log.warning("noroute:" + node, "no link to node", node=node, leaf=leaf)
            return False
        try:
            await link.send(node, leaf, payload)
        except Exception as e:
            self._log.warning(
                "send:" + (source or ""), "send failed", node=node, leaf=leaf, error=repr(e)
            )
            return False
        return True

    async def _send_pending(self) -> int:
        """Send queued acks/commands, at most 10 at a time (aiomqtt's comfortable limit)."""
        sent = 0
        while self._pending_cmds:
            cmds, self._pending_cmds = self._pending_cmds[:10], self._pending_cmds[10:]
            ok = await asyncio.gather(*(self._send(n, leaf, p) for n, leaf, p in cmds))
            sent += sum(ok)
        return sent

    async def _sender(self) -> None:
        """Sends acks and commands off the commit path, so a slow link never delays a commit."""
        while True:
            await self._send_wake.wait()
            self._send_wake.clear()
            await self._send_pending()

    # ------------------------------------------------------------ gaps
    def _take_resend_token(self) -> bool:
        now = time.monotonic()
        rate = self.config.resend_per_s
        self._resend_tokens = min(rate, self._resend_tokens + (now - self._resend_refill) * rate)
        self._resend_refill = now
        if self._resend_tokens >= 1.0:
            self._resend_tokens -= 1.0
            return True
        return False

    def housekeeping(self) -> None:
        """Gap detection, resend requests and loss marking. Called by `run()` periodically."""
        now = self.clock()
        cfg = self.config
        self._summarise_suppressed(now)
        for key, tr in self.trackers.items():
            if tr.max_seq <= tr.contig:
                continue
            if tr.gap_since is None:
                tr.gap_since = now
                continue
            if now - tr.gap_since < cfg.reorder_grace_s:
                continue
            missing = tr.missing()
            if not missing:
                continue
            st = self._node(tr.node_id)
            req = tr.resend
            lost: list[Range] = []
            if req is None:
                pass
            elif req.answered_at is not None and now - req.answered_at >= cfg.reorder_grace_s:
                # The node answered the resend: what it did not send, it no longer has.
                lost = [(max(a, req.first), min(b, req.last)) for a, b in missing]
                lost = [(a, b) for a, b in lost if a <= b]
            elif req.answered_at is None and now - req.sent_at >= cfg.resend_timeout_s:
                unexplained = tr.dropped - tr.dropped_explained
                if unexplained > 0:
                    # The node's overflow counter explains the oldest missing frames.
                    budget = unexplained
                    for a, b in missing:
                        if budget <= 0:
                            break
                        take = min(b - a + 1, budget)
                        lost.append((a, a + take - 1))
                        budget -= take
                    tr.dropped_explained += unexplained - budget
                elif req.attempts >= cfg.resend_max_attempts:
                    lost = missing
            if lost:
                # A hole larger than any node could have sent (a seq jump to 2^32-1) is a
                # discontinuity of the counter, not billions of lost frames.
                jumps = [(a, b) for a, b in lost if b - a + 1 > cfg.max_seq_jump]
                lost = [(a, b) for a, b in lost if b - a + 1 <= cfg.max_seq_jump]
                self._batch.keys.add(key)
                self._batch.nodes.add(tr.node_id)
                if jumps:
                    tr.mark_lost(jumps)
                    tr.jumps = (tr.jumps + jumps)[-16:]
                    self.metrics.inc("kizashi_seq_discontinuities_total", len(jumps))
                    self._gateway_event(
                        now, tr.node_id, tr.boot_id, "seq_jump",
                        {"ranges": [list(r) for r in jumps[:16]]},
                    )  # fmt: skip
                if lost:
                    n = tr.mark_lost(lost)
                    st.frames_lost += n
                    self.metrics.inc("kizashi_frames_lost_total", n)
                    self._gateway_event(
                        now, tr.node_id, tr.boot_id, "lost",
                        {"ranges": [list(r) for r in lost], "count": n},
                    )  # fmt: skip
                tr.resend = None
                missing = tr.missing()
                if not missing:
                    continue
            req = tr.resend
            due = req is None or (
                req.answered_at is None and now - req.sent_at >= cfg.resend_timeout_s
            )
            if not due or not self._take_resend_token():
                continue
            new = [(a, b) for a, b in missing if b > tr.gap_counted_upto]
            if new:
                st.gaps += len(new)
                tr.gap_counted_upto = missing[-1][1]
                self.metrics.inc("kizashi_seq_gaps_total", len(new))
                self._batch.nodes.add(tr.node_id)
                self._gateway_event(
                    now, tr.node_id, tr.boot_id, "gap", {"ranges": [list(r) for r in new[:16]]}
                )
            first, last = missing[0][0], missing[-1][1]
            attempts = 1 if req is None else req.attempts + 1
            tr.resend = ResendRequest(first, last, now, attempts)
            self._queue_command(
                tr.node_id, 0, "resend", {"boot": tr.boot_id, "from": first, "to": last}
            )
            self.metrics.inc("kizashi_resend_requests_total")

    # ------------------------------------------------------------ commit
    def _cut(self) -> tuple[WriteBatch, _Batch, list[SeqState]]:
        b, self._batch = self._batch, _Batch()
        now = self.clock()
        snaps = [self.trackers[k].snapshot(now) for k in b.keys if k in self.trackers]
        status = []
        for n in sorted(b.nodes):
            st = self._node(n)
            status.append(
                NodeStatus(
                    n,
                    st.last_seen or now,
                    st.online,
                    st.dropped,
                    st.frames_received,
                    st.frames_lost,
                    st.gaps,
                    st.offset(),
                )
            )
        wb = WriteBatch(b.frames, b.events, b.births, status, snaps)
        return wb, b, snaps

    async def flush(self) -> int:
        """Commit everything pending, then ack and send queued commands. Returns frames stored."""
        async with self._flush_lock:
            n = 0
            self._publish_counters()
            if not self._batch.empty():
                wb, b, snaps = self._cut()
                self.metrics.set("kizashi_queue_depth", len(self._batch.frames))
                await self._commit(wb)
                n = len(wb.frames)
                self._burst = n >= self.config.batch_max
                self.stored += n
                self.committed_batches += 1
                self.metrics.inc("kizashi_frames_stored_total", n)
                self.metrics.set("kizashi_batch_frames", n)
                acks = []
                for s in snaps:
                    tr = self.trackers.get((s.node_id, s.boot_id))
                    if s.contig >= 0 and tr is not None and s.contig > tr.acked:
                        tr.acked = s.contig
                        acks.append((s.node_id, s.boot_id, s.contig))
                self._queue_acks(acks)
                if b.first_recv is not None:
                    self.metrics.set("kizashi_ack_lag_seconds", self.clock() - b.first_recv)
                done = self.clock()
                for node, first in b.first_by_node.items():  # receipt of its oldest frame -> ack
                    self.metrics.set("kizashi_node_ack_lag_seconds", done - first, node=node)
            self._queue_reacks()
            if self._pending_cmds:
                self._send_wake.set()
            self.metrics.set("kizashi_queue_depth", len(self._batch.frames))
            return n

    def _publish_counters(self) -> None:
        """Per-frame counters are kept as plain ints and moved to the registry in bulk."""
        n_in, self._n_in = self._n_in, {}
        for source, n in n_in.items():
            self.metrics.inc("kizashi_frames_in_total", n, transport=source.split(":", 1)[0])
        if self._n_accepted:
            self.metrics.inc("kizashi_frames_accepted_total", self._n_accepted)
            self._n_accepted = 0

    def _queue_acks(self, acks: list[tuple[str, int, int]]) -> None:
        now = int(self.clock())
        for node, boot, upto in acks:
            self._pending_cmds.append((node, "ack", encode_ack(node, boot, upto, now)))
        self.metrics.inc("kizashi_acks_sent_total", len(acks))

    def _queue_reacks(self) -> None:
        if not self._reack:
            return
        now = self.clock()
        acks = []
        for key in self._reack:
            tr = self.trackers.get(key)
            if tr is not None and tr.acked >= 0 and now - tr.last_reack >= 1.0:
                tr.last_reack = now
                acks.append((key[0], key[1], tr.acked))
        self._reack.clear()
        self._queue_acks(acks)

    async def _commit(self, wb: WriteBatch) -> None:
        attempt = 0
        while True:
            t0 = time.perf_counter()
            try:
                refused = await asyncio.to_thread(self.store.write_batch, wb)
            except Exception as e:
                attempt += 1
                self.metrics.inc("kizashi_store_errors_total")
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                self.last_commit_error = repr(e)[:200]
                log.error("commit failed, retrying", extra={"error": repr(e), "attempt": attempt})
                if self._stopping and attempt >= 5:
                    raise
                await asyncio.sleep(min(30.0, self.config.commit_retry_s * attempt))
                continue
            self.last_commit_ok = time.monotonic()
            self.failing_since = None
            if refused:
                # Rows the database cannot take (see Store.write_batch): their frames are
                # stored raw and acked, resending could not make them storable.
                self.decoder.reject("unstorable", "store", f"{refused} rows", count=refused)
            self.metrics.observe("kizashi_store_commit_seconds", time.perf_counter() - t0)
            return

    def store_status(self, stale_s: float = 60.0) -> tuple[bool, str]:
        """(can the store commit?, why not). Down while commits fail; when nothing was
        committed for `stale_s` (a quiet site), a probe transaction answers (call from a
        thread: it blocks on the database)."""
        if self.failing_since is not None:
            return False, "commits failing: " + self.last_commit_error
        if time.monotonic() - self.last_commit_ok < stale_s:
            return True, ""
        try:
            self.store.probe()
        except Exception as e:
            return False, "probe failed: " + repr(e)[:200]
        self.last_commit_ok = time.monotonic()
        return True, ""

    # ------------------------------------------------------------ run loop
    async def run(self) -> None:
        """Commit loop + housekeeping until `stop()`; the last batch is flushed on the way out."""
        self._loop = asyncio.get_running_loop()
        cfg = self.config
        sender = asyncio.create_task(self._sender(), name="pipeline-sender")
        next_house = time.monotonic() + cfg.housekeeping_s
        try:
            while not self._stopping:
                b = self._batch
                now_m = time.monotonic()
                timeout = next_house - now_m
                if b.first_recv is not None:
                    age = self.clock() - b.first_recv
                    timeout = min(timeout, cfg.batch_interval_s - age)
                elif not b.empty():
                    timeout = min(timeout, cfg.batch_interval_s)
                # frames that arrived during the commit of a full batch: no waiting for them
                burst_tail, self._burst = self._burst and bool(b.frames), False
                if (
                    timeout > 0
                    and len(b.frames) < cfg.batch_max
                    and not self._reack
                    and not burst_tail
                ):
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(timeout):  # not wait_for: drops cancels
                            await self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    break
                if time.monotonic() >= next_house:
                    next_house = time.monotonic() + cfg.housekeeping_s
                    self.housekeeping()
                b = self._batch
                due = (
                    len(b.frames) >= cfg.batch_max
                    or burst_tail
                    or (
                        b.first_recv is not None
                        and self.clock() - b.first_recv >= cfg.batch_interval_s
                    )
                )
                if due or (b.first_recv is None and not b.empty()) or self._reack:
                    await self.flush()
        finally:
            self._stopping = True
            try:
                await self.flush()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2.0):
                        await self._send_pending()
            finally:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
