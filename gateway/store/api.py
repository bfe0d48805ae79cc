"""The storage interface of the gateway: one typed Protocol and its frozen records.

Everything the web page, the demo and the pipeline need from storage goes through `Store`.
Two implementations exist: `SqliteStore` (default) and `PostgresStore` (by URL); open either
with `gateway.store.open_store(url)`. Units: times are unix seconds (float), report values in
records named `*Record` are wire units (integers as sent by the node), values in read models
(`LatestState`, `HourlyPoint`) are physical units (g, mm/s, degC). docs/GATEWAY.md is the
reference.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from gateway.domain import (
    RESERVATION_STATES,
    ROLES,
    SERVICE_KINDS,
    SHORTAGE_WAREHOUSE,
    check_asset,
    check_catalog_part,
)

__all__ = [
    "CONFIG_STATES",
    "RESERVATION_STATES",
    "ROLES",
    "SERVICE_KINDS",
    "SHORTAGE_WAREHOUSE",
    "Asset",
    "BirthRecord",
    "CatalogPart",
    "CustomerTerms",
    "EventRecord",
    "FrameRecord",
    "HourlyPoint",
    "LatestState",
    "MaintenanceWindow",
    "NodeConfigState",
    "NodeInfo",
    "NodeStatus",
    "OutboxEvent",
    "OutboxMark",
    "OutcomeRecord",
    "Outlook",
    "Part",
    "Proposal",
    "ProposalEvent",
    "ReportRow",
    "Reservation",
    "SeqState",
    "ServiceEntry",
    "Site",
    "StockRow",
    "Store",
    "StoredEvent",
    "StoredFrame",
    "User",
    "WriteBatch",
    "check_asset",
    "check_catalog_part",
]

ServiceKind = Literal["inspection", "replacement", "failure"]
Role = Literal["viewer", "technician", "admin"]
# SERVICE_KINDS and ROLES are the shared rules of gateway/domain.py, re-exported here.


# ------------------------------------------------------------------ write-side records


class FrameRecord(NamedTuple):
    """One accepted frame as the pipeline stores it (report fields None for other kinds).

    Immutable like the other records, but a NamedTuple: it is built once per frame on the hot
    path, and a frozen dataclass costs about 7 us to construct there, a NamedTuple under 1 us.

    `ts` is the corrected time (node time + the node's clock offset, or the receive time for
    an unsynced clock); `node_time` is what the node sent; `recv_time` is when the gateway got
    it. A backfilled (resent) frame keeps its original node time.
    """

    node_id: str
    boot_id: int
    seq: int
    kind: str
    node_time: int
    recv_time: float
    ts: float
    payload: bytes
    flags: int | None = None
    dropped: int | None = None
    runtime_s: int | None = None
    starts: int | None = None
    acc_rms_mg: tuple[int, int, int] | None = None
    vel_rms_mm_s_x100: tuple[int, int, int] | None = None
    peak_mg: int | None = None
    kurtosis_x100: int | None = None
    temp_c_x10: int | None = None
    backfilled: bool = False


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A node event frame, or an event raised by the gateway (source 'gateway')."""

    ts: float
    node_id: str
    code: str
    detail: dict[str, object] = field(default_factory=dict)
    boot_id: int | None = None
    seq: int | None = None
    source: Literal["node", "gateway"] = "node"


@dataclass(frozen=True, slots=True)
class BirthRecord:
    node_id: str
    boot_id: int
    ts: float
    info: dict[str, object]


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """Counters the pipeline keeps per node, written with each batch (absolute values)."""

    node_id: str
    last_seen: float
    online: bool
    dropped: int
    frames_received: int
    frames_lost: int
    gaps: int
    clock_offset_s: float | None


@dataclass(frozen=True, slots=True)
class SeqState:
    """Sequence bookkeeping of one (node, boot), persisted so a restart keeps de-duplicating.

    `contig`: highest seq such that every seq <= it is stored or marked lost (-1: none).
    `above`: stored seq ranges above contig, inclusive [(a, b), ...], sorted.
    `lost`: seq ranges given up as lost (node overflow), inclusive.
    """

    node_id: str
    boot_id: int
    contig: int
    max_seq: int
    above: tuple[tuple[int, int], ...] = ()
    lost: tuple[tuple[int, int], ...] = ()
    dropped: int = 0
    updated: float = 0.0


@dataclass(frozen=True)
class WriteBatch:
    """Everything one commit writes, atomically."""

    frames: Sequence[FrameRecord] = ()
    events: Sequence[EventRecord] = ()
    births: Sequence[BirthRecord] = ()
    node_status: Sequence[NodeStatus] = ()
    seq_states: Sequence[SeqState] = ()


# ------------------------------------------------------------------ registry and service


@dataclass(frozen=True, slots=True)
class Part:
    part_id: str
    name: str
    part_number: str = ""
    rated_l10_h: float | None = None
    lead_time_days: float | None = None


@dataclass(frozen=True, slots=True)
class Asset:
    """A monitored machine position. `machine_group` selects the severity zones, e.g.
    'group1_rigid', 'group1_flexible', 'group2_rigid', 'group2_flexible', 'class_I'..'class_IV'.
    """

    asset_id: str
    site: str
    machine: str
    node_id: str | None = None
    machine_group: str = "group2_rigid"
    description: str = ""
    parts: tuple[Part, ...] = ()
    # The asset's own velocity limits A/B, B/C, C/D in mm/s (e.g. the machine maker's), used
    # instead of its group's ISO values; None = the group's.
    zone_limits: tuple[float, float, float] | None = None
    # Where its node takes the report's temperature from (firmware config `temp_source`):
    # 'auto' (what the board has fitted), 'ds18b20', 'sensor', 'board' or 'none'.
    temp_source: str = "auto"


def parse_zone_limits(text: str) -> tuple[float, float, float] | None:
    """'2.0,4.5,7.1' -> an asset's own limits; 'group' or '' -> None (its group's limits).
    ValueError when malformed; check_asset judges the values."""
    if text.strip().lower() in ("", "group"):
        return None
    try:
        ab, bc, cd = (float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(
            f"zone limits are three mm/s values A/B,B/C,C/D or 'group', got {text!r}"
        ) from None
    return (ab, bc, cd)


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    """One service log entry. `acted_on_warning`: the work was done because of a Kizashi
    warning; `downtime_avoided_h`: the unplanned downtime that avoided, in hours (finite,
    >= 0). Together they make the downtime-avoided ledger. `stop_h`: the hours the machine
    stood still for this job (for a failure, its unplanned downtime); `repair_cost`: what the
    job was invoiced, in the customer's currency (customer terms). None: not recorded.
    """

    asset_id: str
    date: str  # ISO date YYYY-MM-DD
    kind: str  # one of SERVICE_KINDS
    part_id: str = ""
    finding: str = ""
    by: str = ""
    entry_id: int | None = None
    acted_on_warning: bool = False
    downtime_avoided_h: float = 0.0
    stop_h: float | None = None
    repair_cost: float | None = None


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    """What the service log settled about a bearing warning (the health monitor's
    `WarningOutcome`, gateway/forecast/early_warning.py), kept with the service entry that
    settled it: the asset's machine group then, the channel that warned, the highest value it
    reached, and whether the warning was confirmed (a defect or a failure) or found false."""

    entry_id: int
    machine_group: str
    channel: str
    peak_value: float
    confirmed: bool


@dataclass(frozen=True, slots=True)
class Site:
    """A customer site and its IANA time zone (e.g. "Asia/Tokyo"). Times are stored as UTC
    instants everywhere; the zone says how the page shows them and how typed times (a
    maintenance window "08:00-16:00") are read. A site with no entry is in UTC."""

    name: str
    tz: str = "UTC"
    # Its shifts in its wall-clock hours, "early=06-14,late=14-22,night=22-06" (gateway/shifts.py);
    # "" = those three. Written by `set_site_shifts` (set_site leaves a stored site's shifts).
    shifts: str = ""


def check_site(site: Site) -> Site:
    """Refuse an empty name, a zone the IANA database (zoneinfo) does not know or shifts
    gateway.shifts.parse_shifts refuses."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from gateway.shifts import parse_shifts

    parse_shifts(site.shifts)  # ValueError with the reason

    if not site.name.strip():
        raise ValueError("site name must not be empty")
    try:
        ZoneInfo(site.tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {site.tz!r}: use an IANA name such as Asia/Tokyo or Europe/Berlin"
        ) from None
    return site


CONFIG_STATES = ("applied", "pending", "refused")


@dataclass(frozen=True, slots=True)
class NodeConfigState:
    """Where a node's configuration stands (gateway.node_config): `desired` is what the
    registry asks for, `desired_hash` its protocol.nodeconfig.cfg_hash, `node_hash` the hash the
    node last reported (birth or cmd_ok); state `applied` (equal), `pending` (pushed, no
    answer yet) or `refused` (the node's cmd_refused reason in `reason`)."""

    node_id: str
    state: str
    desired_hash: int
    node_hash: int | None
    desired: dict[str, object]
    updated: float
    reason: str = ""
    pushed_at: float | None = None
    pushes: int = 0


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    site: str
    start: float
    end: float
    note: str = ""
    window_id: int | None = None


@dataclass(frozen=True, slots=True)
class User:
    """A fleet-page user. A `disabled` user keeps its hash and role but cannot log in."""

    name: str
    password_hash: str  # any hash string (the web uses werkzeug scrypt); never a clear password
    role: str = "viewer"  # one of ROLES
    disabled: bool = False
    # Raised by the store whenever the hash or `disabled` changes, and by end_sessions (logout):
    # the page accepts a session cookie only while its version equals this.
    session_version: int = 0
    # "" = the service team (every site, its role); else a customer's user: only the sites of
    # that customer (the fleet server's site gateways, docs/FLEET.md), and only as a viewer.
    customer: str = ""


# ------------------------------------------------------------------ parts (docs/SERVICE.md)


@dataclass(frozen=True, slots=True)
class CatalogPart:
    """One price-list entry: what a part costs, how long the supplier takes to deliver it and
    the labour hours it typically takes to fit (what a proposal's lines are priced from);
    `safety_stock`: pieces to keep on the shelf beyond the known demand (reorder advice)."""

    part_number: str
    description: str = ""
    unit_price: float = 0.0
    currency: str = "EUR"
    lead_time_days: float = 0.0
    labour_h: float = 0.0
    safety_stock: int = 0


@dataclass(frozen=True, slots=True)
class StockRow:
    """A part number on one warehouse's shelf: `on_hand` pieces, `reserved` of them held by
    open reservations; `free` = on_hand - reserved (negative when more was reserved there
    than is left, e.g. after a count corrected the stock down)."""

    part_number: str
    warehouse: str
    on_hand: int
    reserved: int = 0
    updated_at: float = 0.0
    updated_by: str = ""

    @property
    def free(self) -> int:
        return self.on_hand - self.reserved


@dataclass(frozen=True, slots=True)
class Reservation:
    """Pieces of a part number held for a proposal. `warehouse` is where they are held, or
    SHORTAGE_WAREHOUSE ("") for a shortfall: reserved all the same, nothing on any shelf,
    so it counts as demand to order. `state`: reserved -> consumed (job done, the pieces
    left the shelf) or released (proposal declined or cancelled). `asset_id` and `need_by`
    (unix s, the planned window) say which machine and when: committed demand is dated by
    `need_by`, and an outlook need of that asset and part number counts as covered."""

    reservation_id: int
    proposal_id: str
    part_number: str
    warehouse: str
    qty: int
    state: str
    created_at: float
    created_by: str
    updated_at: float
    updated_by: str = ""
    asset_id: str = ""
    need_by: float | None = None

    @property
    def shortage(self) -> bool:
        return self.warehouse == SHORTAGE_WAREHOUSE


# ------------------------------------------------------------------ proposals (docs/SERVICE.md)


@dataclass(frozen=True, slots=True)
class CustomerTerms:
    """What a customer pays: the currency of its proposals, the labour rate per hour and the
    cost of one hour of its machines' downtime (what an avoided stop is worth to it). The
    customer "" is the site gateway's own (a site not tagged with a customer)."""

    customer: str
    currency: str = "EUR"
    labour_rate: float = 0.0
    downtime_cost_h: float = 0.0
    updated_at: float = 0.0
    updated_by: str = ""


@dataclass(frozen=True, slots=True)
class Proposal:
    """One revision of a proposal to a customer. `content` is the proposal as rendered (text,
    evidence, lines, totals, the chart's points): rewritten while a draft, frozen from `sent`
    on. `risk_ts` (the outlook's P10 date), `zone` and `action` are the risk it was made from,
    what a follow-up compares the newer outlook with; `followup` is why one is needed ("" when
    not). `supersedes` names the revision it replaces."""

    proposal_id: str
    asset_id: str
    site: str
    customer: str
    revision: int
    state: str
    action: str
    created_at: float
    created_by: str
    updated_at: float
    content: dict[str, Any] = field(default_factory=dict)
    supersedes: str | None = None
    sent_at: float | None = None
    expires_at: float | None = None
    window_id: int | None = None
    window_start: float | None = None
    risk_ts: float | None = None
    zone: str | None = None
    followup: str = ""


@dataclass(frozen=True, slots=True)
class ProposalEvent:
    """A step of a proposal: the state it entered, when, who did it (a user name, or
    "kizashi" for the gateway's own steps such as expiry) and a note."""

    event_id: int
    proposal_id: str
    state: str
    at: float
    by: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An event for the webhooks (gateway/webhooks.py): its kind ("proposal.sent", ...),
    when it happened and its JSON body. Written in the transaction of what it reports."""

    event_id: int
    kind: str
    created_at: float
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutboxMark:
    """How far one webhook endpoint has been delivered: every event up to `upto` is done
    (delivered, or given up after the last retry); the next one has failed `attempts` times and
    is tried again at `next_at`."""

    endpoint: str
    upto: int
    attempts: int = 0
    next_at: float = 0.0
    last_error: str = ""
    delivered: int = 0
    given_up: int = 0
    updated_at: float = 0.0


# ------------------------------------------------------------------ read models


@dataclass(frozen=True, slots=True)
class LatestState:
    """The newest report of an asset (physical units), joined with its registry entry.

    Frames of a node with no asset are kept under asset_id = node_id with an empty site.
    """

    asset_id: str
    node_id: str
    site: str
    machine: str
    machine_group: str
    ts: float
    recv_time: float
    flags: int
    vel_rms_mm_s: tuple[float, float, float]
    acc_rms_g: tuple[float, float, float]
    peak_g: float
    kurtosis: float
    temp_c: float | None
    runtime_s: int
    starts: int


@dataclass(frozen=True, slots=True)
class HourlyPoint:
    """Aggregate of one asset's reports in one hour [hour, hour + 3600) (corrected time)."""

    asset_id: str
    hour: int
    n: int
    vel_rms_mm_s: tuple[float, float, float]  # mean per axis
    vel_rms_max_mm_s: float  # highest axis value seen in the hour
    acc_rms_g: tuple[float, float, float]  # mean per axis
    peak_g_max: float
    kurtosis: float  # mean
    temp_c: float | None  # mean over reports that carried a temperature
    runtime_s: int  # highest runtime counter seen
    starts: int
    running_fraction: float  # share of reports with FLAG_RUNNING


@dataclass(frozen=True, slots=True)
class StoredFrame:
    node_id: str
    boot_id: int
    seq: int
    kind: str
    node_time: int
    recv_time: float
    ts: float
    flags: int | None
    payload: bytes
    backfilled: bool


@dataclass(frozen=True, slots=True)
class StoredEvent:
    event_id: int
    ts: float
    node_id: str
    source: str
    code: str
    detail: dict[str, object]
    boot_id: int | None
    seq: int | None


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A node's last birth and link counters. `resets` is the newest-first reset history
    (time, boot_id, cause), at most 20. `link_quality` = received / (received + lost +
    dropped), 1.0 with no data.
    """

    node_id: str
    boot_id: int | None
    fw: str
    board: str
    sensor: str
    birth_info: dict[str, object]
    last_birth: float | None
    last_seen: float | None
    online: bool
    dropped: int
    frames_received: int
    frames_lost: int
    gaps: int
    clock_offset_s: float | None
    resets: tuple[tuple[float, int, str], ...]
    link_quality: float


@dataclass(frozen=True, slots=True)
class ReportRow:
    """The stored columns of one report frame (physical units), read in commit order by
    `reports_after`: what the outlook engine and the health monitor follow by watermark."""

    frame_id: int
    node_id: str
    boot_id: int
    seq: int
    ts: float
    recv_time: float
    flags: int
    vel_rms_mm_s: tuple[float, float, float] | None  # None: the report carried no values
    kurtosis: float | None
    backfilled: bool
    acc_rms_g: tuple[float, float, float] | None = None
    peak_g: float | None = None
    temp_c: float | None = None
    runtime_s: int | None = None


@dataclass(frozen=True, slots=True)
class Outlook:
    """The gateway's one judgement of an asset, written by the outlook engine (gateway/outlook)
    and read by every page, the API, the report and the notifier. Times are unix seconds;
    remaining lives are running hours; `*_text` fields are the judgement in words.

    A remaining-life date is None when it is unknown (no utilisation yet) or lies beyond the
    planning horizon (`beyond_horizon` for the P10 date; `life_text` says which).
    """

    asset_id: str
    computed_at: float  # when the engine wrote this row (the gateway's clock)
    # -- health now: zone of the robust recent running level (median of running readings)
    zone: str | None  # A-D; None without a running reading
    level_mm_s: float | None  # median velocity RMS (worst axis) of the recent running readings
    level_n: int  # readings in that median
    level_ts: float | None  # newest of them
    trend: str  # rising | stable | falling | unknown
    trend_pct_week: float | None
    # -- remaining life
    status: str  # not_enough_data | prior_only | healthy_no_trend | degrading
    method: str  # evidence used, e.g. "trend_match+fleet_prior", "rated_life"
    status_text: str  # the status in words, with what is missing
    health_index: float
    rul_p10_h: float | None
    rul_p50_h: float | None
    rul_p90_h: float | None
    p10_ts: float | None
    p50_ts: float | None
    p90_ts: float | None
    beyond_horizon: bool  # the P10 risk lies beyond the planning horizon: nothing to plan
    life_text: str
    hours_per_week: float | None  # the asset's own utilisation, running hours per week
    # -- the recommended action
    action: str  # none | watch | plan | unplanned_stop | stop_now
    reason: str | None  # forecast | zone_C | zone_D (what made the action necessary)
    fault: str  # the suspected fault kind in words ("" when none)
    part_id: str
    part_number: str
    lead_time_days: float | None
    need_by_ts: float | None  # the part must be fitted by then (window start or stop-by)
    order_by_ts: float | None  # need-by minus the part's lead time
    window_id: int | None
    window_start: float | None
    window_end: float | None
    action_text: str
    parts_needed: tuple[tuple[str, int], ...] = ()  # (part number, quantity)
    detail: dict[str, object] = field(default_factory=dict)  # utilisation, cone inputs


# ------------------------------------------------------------------ the interface


@runtime_checkable
class Store(Protocol):
    """Storage of the gateway. Implementations are thread-safe (one lock per instance);
    open one instance per process or thread pool you like."""

    # --- ingest (used by the pipeline)
    def write_batch(self, batch: WriteBatch) -> int:
        """Commit atomically; returns the rows the database refused (0 normally): a batch
        with a row the database cannot take is written again without that row."""

    def load_seq_states(self) -> list[SeqState]: ...
    def prune_frames(self, older_than: float) -> int: ...
    def prune_events(self, older_than: float) -> int: ...
    def probe(self) -> None:
        """A small write transaction; raises if the store cannot commit now."""

    # --- reads for the web page
    def latest_states(
        self,
        site: str | None = None,
        machine_group: str | None = None,
        asset_ids: Sequence[str] | None = None,
        received_after: float | None = None,
    ) -> list[LatestState]:
        """Newest report per asset; `received_after` keeps those received after that time
        (what changed since a page's last look)."""

    def hourly_history(self, asset_id: str, start: float, end: float) -> list[HourlyPoint]: ...
    def recent_frames(
        self, node_id: str | None = None, limit: int = 100, since: float | None = None
    ) -> list[StoredFrame]: ...
    def events(
        self, node_id: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[StoredEvent]: ...
    def events_after(
        self, event_id: int, limit: int = 100, code: str | None = None
    ) -> list[StoredEvent]:
        """Events stored after `event_id`, oldest first (ids grow in commit order): a
        watermark for consumers that must see every event once, e.g. notifications. With
        `code`, only the events of that code (an index read: the others are not read)."""

    def event_times(
        self,
        node_ids: Sequence[str],
        kinds: Collection[tuple[str, str]],
        since: float | None,
        until: float,
    ) -> dict[str, list[float]]:
        """node -> the times, oldest first, of its events of those (source, code) kinds in
        [since, until): many nodes' warnings in one read (nodes without any are left out)."""

    def nodes(self) -> list[NodeInfo]: ...
    def node(self, node_id: str) -> NodeInfo | None: ...

    # --- asset registry
    def upsert_asset(self, asset: Asset) -> None: ...
    def asset(self, asset_id: str) -> Asset | None: ...
    def assets(self, site: str | None = None) -> list[Asset]: ...
    def delete_asset(self, asset_id: str) -> bool: ...
    def asset_for_node(self, node_id: str) -> Asset | None: ...

    # --- service log, windows, users
    def add_service_entry(self, entry: ServiceEntry) -> int: ...
    def service_log(self, asset_id: str | None = None) -> list[ServiceEntry]: ...
    def set_ledger(self, entry_id: int, acted_on_warning: bool, downtime_avoided_h: float) -> bool:
        """Correct the downtime-avoided fields of one entry (an admin's correction; the
        caller checks the bounds, gateway/service_entry.py). False when there is no entry."""

    def add_window(self, window: MaintenanceWindow) -> int: ...
    def windows(self, site: str | None = None) -> list[MaintenanceWindow]: ...
    def delete_window(self, window_id: int) -> bool: ...

    # --- sites (time zones)
    def set_site(self, site: Site) -> None:
        """Add or change a site's time zone (check_site refuses an unknown zone)."""

    def sites(self) -> list[Site]:
        """Every site named in the registry or the sites table, by name; UTC if never set."""

    def set_site_shifts(self, name: str, shifts: str) -> None:
        """Set a site's shifts ("" = the default three); ValueError for shifts that
        gateway.shifts.parse_shifts refuses. A site not in the sites table is added in UTC."""

    # --- node configuration (gateway.node_config)
    def set_node_config(self, state: NodeConfigState) -> None:
        """Replace the configuration state of one node."""

    def node_configs(self) -> list[NodeConfigState]:
        """Every node's configuration state, by node id."""

    def upsert_user(self, user: User) -> None: ...
    def user(self, name: str) -> User | None: ...
    def users(self) -> list[User]: ...
    def end_sessions(self, name: str) -> None:
        """Raise the user's session_version: every page session of that user ends."""

    # --- the outlook (gateway/store/outlook_sql.py)
    def write_outlooks(self, rows: Sequence[Outlook]) -> None:
        """Insert or replace the outlook of each row's asset, in one transaction."""

    def outlooks(
        self, asset_ids: Sequence[str] | None = None, computed_after: float | None = None
    ) -> list[Outlook]:
        """Stored outlooks, all or of `asset_ids`, optionally only those written after
        `computed_after`; ordered by asset id."""

    def delete_outlooks(self, asset_ids: Sequence[str]) -> None: ...
    def mark_outlook_checked(self, ts: float) -> None:
        """The outlook engine's heartbeat: it looked for changes at `ts` (all rows current)."""

    def outlook_checked_at(self) -> float | None: ...

    def add_warning_outcome(self, outcome: OutcomeRecord) -> bool:
        """Keep what a service entry settled about a warning; False when that entry has one
        already (an entry settles at most one: a replayed monitor step writes nothing)."""

    def warning_outcomes(self) -> list[OutcomeRecord]:
        """Every warning outcome kept (at the fleet server: every site's), by entry id."""

    # --- fleet (gateway/store/commands_sql.py)
    def learned_state(self, kind: str) -> dict[str, Any] | None:
        """What the fleet server learned from every site and sent this site (docs/FLEET.md):
        kind `fleet_prior` or `warning_thresholds`; None if it sent none."""

    def node_periods(self) -> dict[str, int]:
        """report_s / window_s the fleet server set for this site's nodes ({}: the config's)."""

    def reports_after(self, frame_id: int, limit: int = 10000) -> list[ReportRow]:
        """Report frames stored after `frame_id`, in commit order (a watermark)."""

    def last_frame_id(self) -> int:
        """The id of the newest stored frame (0 when none)."""

    def hourly_histories(
        self, asset_ids: Sequence[str], start: float, end: float
    ) -> dict[str, list[HourlyPoint]]:
        """`hourly_history` of many assets in one read (assets without data are left out)."""

    def hourly_columns(
        self, asset_ids: Sequence[str], start: float, end: float
    ) -> dict[str, NDArray[np.float64]]:
        """Many assets' hourly rows as one float array each (gateway/store/outlook_sql.py)."""

    def running_spans(self, since: Mapping[str, float], end: float) -> dict[str, float]:
        """asset -> the running span (s) of its hourly rows from the hour of `since[asset]`
        to `end`: what `gateway.outlook.columns.running_rows` keeps of the array
        `hourly_columns` gives, last runtime minus first (0.0 without a running hour), read
        by the database without returning the rows (gateway/store/outlook_sql.py)."""

    def hourly_series(
        self, asset_id: str, start: float, end: float
    ) -> tuple[list[float], list[float], list[float], list[float]]:
        """Chart columns of `hourly_history`: hour, worst-axis velocity max, runtime s, starts."""

    def first_hour(self, asset_id: str) -> float | None:
        """Start of the asset's first hour of data (hourly rows are kept for good)."""

    # --- parts: price list, stock, reservations (gateway/store/parts_sql.py, docs/SERVICE.md)
    def catalog_part(self, part_number: str) -> CatalogPart | None: ...
    def catalog(self) -> list[CatalogPart]:
        """The whole price list, by part number."""

    def put_catalog_part(self, part: CatalogPart) -> None:
        """Add or replace a price-list entry (check_catalog_part refuses a bad one)."""

    def stock(self, part_number: str | None = None) -> list[StockRow]:
        """Stock rows (with what open reservations hold there), by part number and warehouse."""

    def set_stock(
        self, part_number: str, warehouse: str, on_hand: int, by: str, at: float | None = None
    ) -> StockRow:
        """Set the counted pieces of a catalogued part at a warehouse (a stock take)."""

    def adjust_stock(
        self, part_number: str, warehouse: str, delta: int, by: str, at: float | None = None
    ) -> StockRow:
        """Add (goods received) or take (negative delta) pieces; never below zero."""

    def reserve_parts(
        self,
        proposal_id: str,
        lines: Sequence[tuple[str, int]],
        by: str,
        at: float,
        asset_id: str = "",
        need_by: float | None = None,
    ) -> list[Reservation]:
        """Hold (part number, qty) lines for a proposal in one transaction: from the
        warehouses with the most free pieces first; what no shelf has is reserved as a
        shortage (warehouse ""), never dropped. ValueError for an unknown part number, a
        quantity < 1, or a proposal that already holds open reservations."""

    def release_reservations(self, proposal_id: str, by: str, at: float) -> list[Reservation]:
        """Open reservations of the proposal -> released (pieces free again); returns them."""

    def consume_reservations(self, proposal_id: str, by: str, at: float) -> list[Reservation]:
        """Job done: open reservations -> consumed, and their pieces leave the shelf (on_hand
        goes down; a shortage's pieces are taken from whichever warehouse has them, else they
        came straight from the supplier). Returns them."""

    def reservations(self, proposal_id: str | None = None) -> list[Reservation]:
        """Reservations (all states), of one proposal or all, oldest first."""

    # --- proposals and the webhook outbox (gateway/store/proposals_sql.py, docs/SERVICE.md)
    def put_terms(self, terms: CustomerTerms) -> None:
        """Add or replace a customer's terms (check_terms refuses bad ones)."""

    def customer_terms(self, customer: str) -> CustomerTerms | None: ...
    def all_terms(self) -> list[CustomerTerms]: ...
    def add_proposal(self, proposal: Proposal, outbox: dict[str, Any] | None = None) -> Proposal:
        """Store a new draft (its id is given here: "P-<n>"); its first event and, with
        `outbox`, an outbox event "proposal.draft" in the same transaction."""

    def update_draft(self, proposal: Proposal) -> bool:
        """Rewrite a draft's content and risk; False (nothing written) unless it is a draft."""

    def step_proposal(
        self,
        proposal_id: str,
        step: str,
        by: str,
        at: float,
        note: str = "",
        outbox: dict[str, Any] | None = None,
        expires_at: float | None = None,
        reserve: Sequence[tuple[str, int]] | None = None,
    ) -> Proposal:
        """One lifecycle step (gateway.domain.PROPOSAL_STEPS) in one transaction: the state,
        its event, the outbox event; `send` stamps sent_at and `expires_at`; `accept` with
        `reserve` holds those parts (reserve_parts), `decline`/`expire` release and `done`
        consumes what the proposal holds. ValueError when the step is not allowed now (the
        proposal is in another state), KeyError when there is no such proposal."""

    def set_followup(
        self, proposal_id: str, reason: str, at: float, outbox: dict[str, Any] | None = None
    ) -> bool:
        """Flag (or with reason "" clear) a follow-up; False when it already said so."""

    def proposal(self, proposal_id: str) -> Proposal | None: ...
    def proposals(
        self, asset_id: str | None = None, states: Sequence[str] | None = None
    ) -> list[Proposal]:
        """Proposals, newest first (by creation)."""

    def proposal_events(self, proposal_id: str | None = None) -> list[ProposalEvent]:
        """Steps of one proposal or all, oldest first."""

    def add_outbox(self, kind: str, payload: dict[str, Any], at: float) -> int: ...
    def add_outbox_once(
        self, kind: str, key: str, payload: dict[str, Any], at: float
    ) -> int | None:
        """Like add_outbox, once per `key` (None when that key was written before)."""

    def outbox_after(self, event_id: int, limit: int = 100) -> list[OutboxEvent]: ...
    def last_outbox_id(self) -> int: ...
    def outbox_mark(self, endpoint: str) -> OutboxMark | None: ...
    def set_outbox_mark(self, mark: OutboxMark) -> None: ...

    def change_stamp(self) -> tuple[float, ...]:
        """A cheap tuple that changes whenever a report, an outlook, a service entry, a
        window, the registry or a node's status changes: what the page's caches key on."""

    def close(self) -> None: ...
