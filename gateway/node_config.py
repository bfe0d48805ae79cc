"""Node configuration from the registry: derive, compare by hash, push, record the answer.

The node and the gateway used to judge by different limits (the node alarmed at a fixed
7.1 mm/s, the gateway at each asset's zone limits). Now the gateway owns each node's
configuration:

- `desired_config(asset, settings, birth_info)`: the firmware's defaults, with the node's own
  acquisition choices as its birth reports them (rate, band, window: they depend on the
  sensor fitted), the gateway's report and window periods (`[node_config]`), and alarm limits
  from the asset's zone limits (its own, else its machine group's: `analytics.
  asset_zone_limits`): the node alarms at the C/D limit and clears at `CLEAR_FRACTION` of it
  (the firmware default 7.1 / 5.6 is the same ratio). A node bound to no asset keeps the
  firmware's alarm limits. The asset's `temp_source` (registry, `kizashi asset set
  --temp-source`) goes in as it is; 'auto' (the default, and for a node with no asset) lets the
  node use what its board has fitted. A node whose board lacks the source refuses the whole
  configuration (`temp_source_unavailable`), shown as refused on the nodes page.
- Its hash is `protocol.nodeconfig.cfg_hash` of the whole configuration, the function the node
  uses for the `cfg_hash` of its birth frame and of its `cmd_ok` answer to `config`.
- `NodeConfigManager` follows births and command answers through the pipeline's observers.
  On every live birth, and every `recheck_s` for every node (registry edits), it compares the
  hashes; when they differ it queues a `config` command with the whole configuration (the
  node validates and applies it all or nothing with the same protocol/nodeconfig.py), at most
  once per `retry_s` per node for the same configuration and at most `pushes_per_s` overall. The
  node's `cmd_ok` (with its new hash) makes the state `applied`; its `cmd_refused` makes it
  `refused` with the node's reason. The state is stored per node (`Store.set_node_config`)
  and shown on the nodes page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from gateway.analytics import asset_zone_limits
from gateway.metrics import REGISTRY, Metrics
from gateway.store.api import Asset, NodeConfigState, Store
from protocol import nodeconfig

log = logging.getLogger(__name__)

__all__ = [
    "CLEAR_FRACTION",
    "NodeConfigManager",
    "NodeConfigSettings",
    "config_hash",
    "desired_config",
]

CLEAR_FRACTION = 0.8


@dataclass(frozen=True)
class NodeConfigSettings:
    enabled: bool = True
    report_s: int = 60  # seconds between reports (firmware report_s)
    window_s: int = 30  # seconds between windows (firmware window_s)
    retry_s: float = 300.0  # the same configuration is pushed to a node at most this often
    recheck_s: float = 60.0  # every node is compared with the registry this often
    pushes_per_s: float = 5.0  # config commands overall


def desired_config(
    asset: Asset | None, settings: NodeConfigSettings, birth_info: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The whole configuration the node should run; ValueError if it would be invalid."""
    changes: dict[str, Any] = {
        "report_s": settings.report_s,
        "window_s": settings.window_s,
        "alarm_report_s": min(nodeconfig.DEFAULTS["alarm_report_s"], settings.report_s),
    }
    info = birth_info or {}
    if isinstance(info.get("rate_hz"), int):
        changes["rate_hz"] = info["rate_hz"]
    band = info.get("band_hz")
    if isinstance(band, list | tuple) and len(band) == 2:
        changes["band_lo_hz"], changes["band_hi_hz"] = int(band[0]), int(band[1])
    if isinstance(info.get("window"), int):
        changes["window"] = info["window"]
    changes["temp_source"] = asset.temp_source if asset is not None else "auto"
    if asset is not None:
        cd = asset_zone_limits(asset)[2]
        changes["vel_alarm_mm_s"] = round(cd, 2)
        changes["vel_clear_mm_s"] = round(cd * CLEAR_FRACTION, 2)
    cfg, why = nodeconfig.merged(nodeconfig.DEFAULTS, changes)
    if cfg is None:
        raise ValueError(f"configuration for the registry values is invalid: {why}")
    return dict(cfg)


def config_hash(cfg: dict[str, Any]) -> int:
    """The node's hash of a whole configuration (protocol.nodeconfig.cfg_hash)."""
    return int(nodeconfig.cfg_hash(cfg))


class CommandQueue(Protocol):
    observers: list[Callable[[dict[str, Any], bool], None]]

    def queue_command(
        self, node_id: str, name: str, args: dict[str, Any], boot_id: int = 0
    ) -> int | None: ...


class NodeConfigManager:
    """See the module docstring. Methods run on the event loop thread of the pipeline."""

    def __init__(
        self,
        pipeline: CommandQueue,
        store: Store,
        settings: NodeConfigSettings | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.settings = settings or NodeConfigSettings()
        self.metrics = metrics or REGISTRY
        self.clock = clock
        self.states: dict[str, NodeConfigState] = {s.node_id: s for s in store.node_configs()}
        self.node_hash: dict[str, int] = {}
        self.birth_info: dict[str, dict[str, Any]] = {}
        for info in store.nodes():
            h = info.birth_info.get("cfg_hash")
            if isinstance(h, int):
                self.node_hash[info.node_id] = h
                self.birth_info[info.node_id] = dict(info.birth_info)
        for s in self.states.values():  # a cmd_ok after the last birth is newer
            if s.node_hash is not None and s.state == "applied":
                self.node_hash[s.node_id] = s.node_hash
        self.in_flight: dict[str, int] = {}  # node -> command id of the push awaiting an answer
        self._due: set[str] = set()
        self._answers: list[tuple[str, str, dict[str, Any]]] = []
        self._wake: asyncio.Event | None = None
        self._tokens = self.settings.pushes_per_s
        self._refill = time.monotonic()
        pipeline.observers.append(self.observe)

    # ------------------------------------------------------------ from the pipeline
    def observe(self, f: dict[str, Any], live: bool) -> None:
        node = f["node"]
        if f["kind"] == "birth":
            if live:
                self.node_hash[node] = int(f["info"]["cfg_hash"])
                self.birth_info[node] = dict(f["info"])
                self._due.add(node)
                self._poke()
            return
        detail = f.get("detail") or {}
        if f.get("code") not in ("cmd_ok", "cmd_refused") or detail.get("name") != "config":
            return
        if node not in self.in_flight or detail.get("cmd") != self.in_flight[node]:
            return  # an answer to another sender's command, or to an older push
        self._answers.append((node, str(f["code"]), dict(detail)))
        self._poke()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # ------------------------------------------------------------ the task
    async def run(self) -> None:
        self._wake = asyncio.Event()
        next_all = time.monotonic()
        while True:
            if time.monotonic() >= next_all:
                next_all = time.monotonic() + self.settings.recheck_s
                self._due.update(self.node_hash)
            await self.step()
            timeout = max(0.05, next_all - time.monotonic())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):  # not wait_for: it can drop a cancel
                    await self._wake.wait()
            self._wake.clear()

    async def step(self) -> None:
        """Handle the answers received, then compare the due nodes and push where needed."""
        changed: list[NodeConfigState] = []
        answers, self._answers = self._answers, []
        for node, code, detail in answers:
            st = self._answer(node, code, detail)
            if st is not None:
                changed.append(st)
        due, self._due = self._due, set()
        if due and self.settings.enabled:
            desired = await asyncio.to_thread(self._desired_for, sorted(due))
            for node, cfg in desired.items():
                st = self._compare(node, cfg)
                if st is not None:
                    changed.append(st)
        for state in ("applied", "pending", "refused"):  # nodes per state, for alerting
            n = sum(1 for st in self.states.values() if st.state == state)
            self.metrics.set("kizashi_nodes_config", n, state=state)
        if changed:
            await asyncio.to_thread(self._save, changed)

    def _desired_for(self, nodes: list[str]) -> dict[str, dict[str, Any]]:
        by_node = {a.node_id: a for a in self.store.assets() if a.node_id}
        # periods the fleet server set for this site (a `node_periods` command) win over the
        # config's: read at every check, so the nodes follow at the next one
        periods = self.store.node_periods()
        settings = replace(
            self.settings,
            report_s=periods.get("report_s", self.settings.report_s),
            window_s=periods.get("window_s", self.settings.window_s),
        )
        out = {}
        for node in nodes:
            try:
                out[node] = desired_config(by_node.get(node), settings, self.birth_info.get(node))
            except ValueError as e:  # registry values the firmware cannot take: say so
                log.error("no valid configuration", extra={"node": node, "error": str(e)})
        return out

    def _save(self, states: list[NodeConfigState]) -> None:
        for st in states:
            self.store.set_node_config(st)

    def _take_token(self) -> bool:
        now = time.monotonic()
        rate = self.settings.pushes_per_s
        self._tokens = min(rate, self._tokens + (now - self._refill) * rate)
        self._refill = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def _compare(self, node: str, cfg: dict[str, Any]) -> NodeConfigState | None:
        now = self.clock()
        want = config_hash(cfg)
        have = self.node_hash.get(node)
        old = self.states.get(node)
        if have == want:
            self.in_flight.pop(node, None)
            if old is not None and old.state == "applied" and old.desired_hash == want:
                return None
            return self._set(
                NodeConfigState(
                    node,
                    "applied",
                    want,
                    have,
                    cfg,
                    now,
                    "",
                    old.pushed_at if old else None,
                    old.pushes if old else 0,
                )
            )
        recent = (
            old is not None
            and old.desired_hash == want
            and old.pushed_at is not None
            and now - old.pushed_at < self.settings.retry_s
        )
        if recent and old is not None and old.state in ("pending", "refused"):
            return None  # waiting for the answer, or refused lately: not again yet
        if not self._take_token():
            self._due.add(node)  # next round
            return None
        cid = self.pipeline.queue_command(node, "config", cfg)
        if cid is None:
            return None
        self.in_flight[node] = cid
        self.metrics.inc("kizashi_config_pushes_total")
        log.info("config pushed", extra={"node": node, "cfg_hash": want, "node_hash": have})
        return self._set(
            NodeConfigState(
                node,
                "pending",
                want,
                have,
                cfg,
                now,
                "",
                now,
                (old.pushes if old else 0) + 1,
            )
        )

    def _answer(self, node: str, code: str, detail: dict[str, Any]) -> NodeConfigState | None:
        self.in_flight.pop(node, None)
        old = self.states.get(node)
        if old is None:
            return None
        now = self.clock()
        if code == "cmd_refused":
            why = str(detail.get("why", "refused"))[:64]
            self.metrics.inc("kizashi_config_refused_total")
            log.warning("config refused", extra={"node": node, "why": why})
            return self._set(replace(old, state="refused", reason=why, updated=now))
        h = detail.get("cfg_hash")
        if not isinstance(h, int):
            h = old.desired_hash  # firmware without the hash in cmd_ok: the whole config went in
        self.node_hash[node] = h
        if h != old.desired_hash:  # applied, yet not what the gateway computed: never hide it
            return self._set(
                replace(old, state="refused", node_hash=h, reason="hash_mismatch", updated=now)
            )
        self.metrics.inc("kizashi_config_applied_total")
        return self._set(replace(old, state="applied", node_hash=h, reason="", updated=now))

    def _set(self, st: NodeConfigState) -> NodeConfigState:
        self.states[st.node_id] = st
        return st
