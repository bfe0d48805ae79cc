"""The one schema of the gateway database, for SQLite and PostgreSQL.

Placeholders: {real} float column, {blob} bytes column, {serial} auto id primary key.
Raw frames are kept for a configurable number of days (`prune_frames`); everything else is
kept for good. `frames` has no index on time on purpose: each index costs about a quarter of the
insert rate; `frame_id` (insertion order, the rowid in SQLite) serves "recent frames", and the
hourly retention job can afford a scan. Report values in `frames` are wire units; `hourly`
keeps sums so that batches add up exactly, `latest` keeps the newest report per asset so the
page never scans history.

Schema versions (kept in `meta.schema_version`): 1 the original; 2 adds
`service_log.acted_on_warning`, `service_log.downtime_avoided_h` and `users.disabled`; 3 adds
`assets.zone_ab`, `zone_bc`, `zone_cd` (an asset's own severity limits, NULL = its group's);
4 adds the `sites` table (a site's IANA time zone; a site without a row is in UTC); 5 adds
the `outlook` table (one judgement per asset, written by gateway/outlook; new tables need no
migration step: CREATE TABLE IF NOT EXISTS makes them on open); 6 adds `node_config` (the
configuration the gateway wants each node to run and where the push stands); 7 adds
`users.session_version` (a page session is valid only while it matches: logout, a password
change and disabling or enabling a user raise it, which ends that user's old sessions); 8 adds
the fleet tables (gateway/uplink, docs/FLEET.md): `uplink_marks` (per origin and stream, how far
the rows are forwarded: on a site the centre's acknowledged watermark, on the centre what it
applied), `fleet_keys` (which site gateway owns a node, asset, site, service entry or window at
the centre, and the centre's id of a forwarded entry) and `fleet_origins` (each site gateway's
customer, set by the centre's config); 9 adds `users.customer` ('' = the service team, every
site; else the customer whose sites alone the user sees, view only: docs/FLEET.md); 10 adds
`assets.temp_source` (where the asset's node takes the temperature from, pushed in its
configuration); 11 adds the parts tables (docs/SERVICE.md): `part_catalog` (the price list: unit
price, currency, supplier lead time, labour hours to fit, safety stock: a column a first
version-11 database lacked, so it is also in ADDED_COLUMNS), `part_stock` (pieces on hand per
part number and warehouse) and `part_reservations` (pieces held for a proposal: reserved ->
consumed or released; warehouse '' is a shortfall, reserved though no shelf has it); 12 adds the
proposal tables (docs/SERVICE.md "Proposals"): `customer_terms` (per customer: currency, labour
rate, cost of an hour of downtime), `proposals` (one row per revision, its content frozen at
send), `proposal_events` (every step, when and by whom), and the generic webhook `outbox` with
`outbox_marks` (how far each endpoint has been delivered); 13 adds the
command tables (gateway/uplink/commands.py, docs/FLEET.md): `fleet_commands` (the centre's
outbox of commands to its site gateways, each with its state and the site's reason when
refused) and `site_commands` (at a site, each command id it applied or refused, so a command
sent twice is applied once); 14 adds `sites.shifts` (a site's shifts in its wall-clock hours,
gateway/shifts.py; '' = the default early/late/night); 15 adds `outbox_keys` (an outbox event
that must be written once per key, such as the weekly KPI snapshot `kpi.weekly` of a week: the
key and its event id); 16 adds `service_log.stop_h` (hours the machine stood still for the job;
for a failure its unplanned downtime) and `service_log.repair_cost` (what the job was invoiced,
in the customer's currency), both NULL when not recorded; 17 adds `warning_outcomes` (what the
service log settled about a bearing warning, one row per service entry that settled one: the
machine group, the channel, the peak it reached, confirmed or found false; written by the health
monitor at a site, forwarded with the state so the fleet server tunes each group's warning
thresholds from every site's, docs/FLEET.md); 18 adds the index `events_code` (events by code
in id order: the fleet prior's evidence reads the monitor's warnings among millions of events
without reading the others, gateway/outlook/evidence.py; an index needs no migration step
either: CREATE INDEX IF NOT EXISTS makes it on open).
`ADDED_COLUMNS` lists the columns added since version 1: opening an older database adds the
missing ones (ALTER TABLE ... ADD COLUMN) and converts the web page's old stand-ins (see
`gateway.store.sql.SqlStore._migrate`), in the same transaction as the schema creation.
"""

from __future__ import annotations

SCHEMA_VERSION = 18

TABLES = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS frames (
    frame_id {serial},
    node_id TEXT NOT NULL,
    boot_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    node_time BIGINT NOT NULL,
    recv_time {real} NOT NULL,
    ts {real} NOT NULL,
    flags INTEGER,
    dropped BIGINT,
    runtime_s BIGINT,
    starts BIGINT,
    acc_x INTEGER, acc_y INTEGER, acc_z INTEGER,
    vel_x INTEGER, vel_y INTEGER, vel_z INTEGER,
    peak_mg INTEGER,
    kurt_x100 INTEGER,
    temp_c_x10 INTEGER,
    backfilled INTEGER NOT NULL DEFAULT 0,
    payload {blob} NOT NULL,
    UNIQUE (node_id, boot_id, seq)
);
CREATE TABLE IF NOT EXISTS hourly (
    asset_id TEXT NOT NULL,
    hour BIGINT NOT NULL,
    n BIGINT NOT NULL,
    s_vel_x {real} NOT NULL, s_vel_y {real} NOT NULL, s_vel_z {real} NOT NULL,
    max_vel {real} NOT NULL,
    s_acc_x {real} NOT NULL, s_acc_y {real} NOT NULL, s_acc_z {real} NOT NULL,
    max_peak {real} NOT NULL,
    s_kurt {real} NOT NULL,
    s_temp {real} NOT NULL,
    n_temp BIGINT NOT NULL,
    runtime_s BIGINT NOT NULL,
    starts BIGINT NOT NULL,
    n_running BIGINT NOT NULL,
    PRIMARY KEY (asset_id, hour)
);
CREATE TABLE IF NOT EXISTS latest (
    asset_id TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    ts {real} NOT NULL,
    recv_time {real} NOT NULL,
    flags INTEGER NOT NULL,
    vel_x {real} NOT NULL, vel_y {real} NOT NULL, vel_z {real} NOT NULL,
    acc_x {real} NOT NULL, acc_y {real} NOT NULL, acc_z {real} NOT NULL,
    peak {real} NOT NULL,
    kurt {real} NOT NULL,
    temp {real},
    runtime_s BIGINT NOT NULL,
    starts BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (
    node_id TEXT PRIMARY KEY,
    boot_id BIGINT,
    fw TEXT NOT NULL DEFAULT '',
    board TEXT NOT NULL DEFAULT '',
    sensor TEXT NOT NULL DEFAULT '',
    birth_info TEXT NOT NULL DEFAULT '{{}}',
    last_birth {real},
    last_seen {real},
    online INTEGER NOT NULL DEFAULT 0,
    dropped BIGINT NOT NULL DEFAULT 0,
    frames_received BIGINT NOT NULL DEFAULT 0,
    frames_lost BIGINT NOT NULL DEFAULT 0,
    gaps BIGINT NOT NULL DEFAULT 0,
    clock_offset_s {real},
    resets TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS events (
    event_id {serial},
    ts {real} NOT NULL,
    node_id TEXT NOT NULL,
    source TEXT NOT NULL,
    code TEXT NOT NULL,
    detail TEXT NOT NULL,
    boot_id BIGINT,
    seq BIGINT
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_node ON events (node_id, ts);
CREATE INDEX IF NOT EXISTS events_code ON events (code, event_id);
CREATE TABLE IF NOT EXISTS assets (
    asset_id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    machine TEXT NOT NULL,
    node_id TEXT UNIQUE,
    machine_group TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    zone_ab {real},
    zone_bc {real},
    zone_cd {real},
    temp_source TEXT NOT NULL DEFAULT 'auto'
);
CREATE TABLE IF NOT EXISTS parts (
    asset_id TEXT NOT NULL REFERENCES assets (asset_id) ON DELETE CASCADE,
    part_id TEXT NOT NULL,
    name TEXT NOT NULL,
    part_number TEXT NOT NULL DEFAULT '',
    rated_l10_h {real},
    lead_time_days {real},
    PRIMARY KEY (asset_id, part_id)
);
CREATE TABLE IF NOT EXISTS seq_state (
    node_id TEXT NOT NULL,
    boot_id BIGINT NOT NULL,
    contig BIGINT NOT NULL,
    max_seq BIGINT NOT NULL,
    above TEXT NOT NULL,
    lost TEXT NOT NULL,
    dropped BIGINT NOT NULL,
    updated {real} NOT NULL,
    PRIMARY KEY (node_id, boot_id)
);
CREATE TABLE IF NOT EXISTS service_log (
    entry_id {serial},
    asset_id TEXT NOT NULL,
    part_id TEXT NOT NULL DEFAULT '',
    date TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('inspection', 'replacement', 'failure')),
    finding TEXT NOT NULL DEFAULT '',
    by_user TEXT NOT NULL DEFAULT '',
    acted_on_warning INTEGER NOT NULL DEFAULT 0,
    downtime_avoided_h {real} NOT NULL DEFAULT 0,
    stop_h {real},
    repair_cost {real}
);
CREATE INDEX IF NOT EXISTS service_log_asset ON service_log (asset_id, date);
CREATE TABLE IF NOT EXISTS warning_outcomes (
    entry_id BIGINT PRIMARY KEY,
    machine_group TEXT NOT NULL,
    channel TEXT NOT NULL,
    peak_value {real} NOT NULL,
    confirmed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS windows (
    window_id {serial},
    site TEXT NOT NULL,
    start_ts {real} NOT NULL,
    end_ts {real} NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS sites (
    site TEXT PRIMARY KEY,
    tz TEXT NOT NULL,
    shifts TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS outlook (
    asset_id TEXT PRIMARY KEY,
    computed_at {real} NOT NULL,
    zone TEXT,
    level_mm_s {real},
    level_n BIGINT NOT NULL,
    level_ts {real},
    trend TEXT NOT NULL,
    trend_pct_week {real},
    status TEXT NOT NULL,
    method TEXT NOT NULL,
    status_text TEXT NOT NULL,
    health_index {real} NOT NULL,
    rul_p10_h {real}, rul_p50_h {real}, rul_p90_h {real},
    p10_ts {real}, p50_ts {real}, p90_ts {real},
    beyond_horizon INTEGER NOT NULL,
    life_text TEXT NOT NULL,
    hours_per_week {real},
    action TEXT NOT NULL,
    reason TEXT,
    fault TEXT NOT NULL,
    part_id TEXT NOT NULL,
    part_number TEXT NOT NULL,
    lead_time_days {real},
    need_by_ts {real},
    order_by_ts {real},
    window_id BIGINT,
    window_start {real},
    window_end {real},
    action_text TEXT NOT NULL,
    parts_needed TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS node_config (
    node_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    desired_hash BIGINT NOT NULL,
    node_hash BIGINT,
    reason TEXT NOT NULL DEFAULT '',
    desired TEXT NOT NULL,
    updated {real} NOT NULL,
    pushed_at {real},
    pushes BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'technician', 'admin')),
    disabled INTEGER NOT NULL DEFAULT 0,
    session_version BIGINT NOT NULL DEFAULT 0,
    customer TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS uplink_marks (
    origin TEXT NOT NULL,
    stream TEXT NOT NULL,
    upto BIGINT NOT NULL,
    updated {real} NOT NULL,
    PRIMARY KEY (origin, stream)
);
CREATE TABLE IF NOT EXISTS fleet_keys (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    origin TEXT NOT NULL,
    local_id BIGINT,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS part_catalog (
    part_number TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    unit_price {real} NOT NULL,
    currency TEXT NOT NULL,
    lead_time_days {real} NOT NULL,
    labour_h {real} NOT NULL,
    safety_stock BIGINT NOT NULL DEFAULT 0,
    updated_at {real} NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS part_stock (
    part_number TEXT NOT NULL REFERENCES part_catalog (part_number),
    warehouse TEXT NOT NULL,
    on_hand BIGINT NOT NULL CHECK (on_hand >= 0),
    updated_at {real} NOT NULL,
    updated_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (part_number, warehouse)
);
CREATE TABLE IF NOT EXISTS part_reservations (
    reservation_id {serial},
    proposal_id TEXT NOT NULL,
    part_number TEXT NOT NULL REFERENCES part_catalog (part_number),
    warehouse TEXT NOT NULL,
    qty BIGINT NOT NULL CHECK (qty > 0),
    state TEXT NOT NULL CHECK (state IN ('reserved', 'consumed', 'released')),
    created_at {real} NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    updated_at {real} NOT NULL,
    updated_by TEXT NOT NULL DEFAULT '',
    asset_id TEXT NOT NULL DEFAULT '',
    need_by {real}
);
CREATE INDEX IF NOT EXISTS part_reservations_proposal ON part_reservations (proposal_id);
CREATE TABLE IF NOT EXISTS customer_terms (
    customer TEXT PRIMARY KEY,
    currency TEXT NOT NULL,
    labour_rate {real} NOT NULL,
    downtime_cost_h {real} NOT NULL,
    updated_at {real} NOT NULL,
    updated_by TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS proposals (
    proposal_no {serial},
    proposal_id TEXT NOT NULL UNIQUE,
    asset_id TEXT NOT NULL,
    site TEXT NOT NULL,
    customer TEXT NOT NULL DEFAULT '',
    revision BIGINT NOT NULL,
    supersedes TEXT,
    state TEXT NOT NULL
        CHECK (state IN ('draft', 'sent', 'accepted', 'declined', 'expired', 'done')),
    action TEXT NOT NULL,
    created_at {real} NOT NULL,
    created_by TEXT NOT NULL,
    updated_at {real} NOT NULL,
    sent_at {real},
    expires_at {real},
    window_id BIGINT,
    window_start {real},
    risk_ts {real},
    zone TEXT,
    followup TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS proposals_asset ON proposals (asset_id, revision);
CREATE TABLE IF NOT EXISTS proposal_events (
    event_id {serial},
    proposal_id TEXT NOT NULL,
    state TEXT NOT NULL,
    at {real} NOT NULL,
    by_user TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS proposal_events_proposal ON proposal_events (proposal_id);
CREATE TABLE IF NOT EXISTS outbox (
    event_id {serial},
    kind TEXT NOT NULL,
    created_at {real} NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_keys (
    key TEXT PRIMARY KEY,
    event_id BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_marks (
    endpoint TEXT PRIMARY KEY,
    upto BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at {real} NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    delivered BIGINT NOT NULL DEFAULT 0,
    given_up BIGINT NOT NULL DEFAULT 0,
    updated_at {real} NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS fleet_origins (
    origin TEXT PRIMARY KEY,
    customer TEXT NOT NULL,
    last_seen {real}
);
CREATE TABLE IF NOT EXISTS fleet_commands (
    command_id {serial},
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    args {blob} NOT NULL,
    by_user TEXT NOT NULL DEFAULT '',
    created {real} NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    sends BIGINT NOT NULL DEFAULT 0,
    sent {real},
    answered {real}
);
CREATE INDEX IF NOT EXISTS fleet_commands_open ON fleet_commands (origin, state, command_id);
CREATE TABLE IF NOT EXISTS site_commands (
    command_id BIGINT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    applied {real} NOT NULL
);
"""

# (table, column, definition) added after version 1, in order; `{real}` as in TABLES. The
# definitions carry defaults, so rows written before (or by older code) read as False / 0.
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("service_log", "acted_on_warning", "INTEGER NOT NULL DEFAULT 0"),
    ("service_log", "downtime_avoided_h", "{real} NOT NULL DEFAULT 0"),
    ("users", "disabled", "INTEGER NOT NULL DEFAULT 0"),
    ("assets", "zone_ab", "{real}"),
    ("assets", "zone_bc", "{real}"),
    ("assets", "zone_cd", "{real}"),
    ("users", "session_version", "BIGINT NOT NULL DEFAULT 0"),
    ("users", "customer", "TEXT NOT NULL DEFAULT ''"),
    ("assets", "temp_source", "TEXT NOT NULL DEFAULT 'auto'"),
    ("part_catalog", "safety_stock", "BIGINT NOT NULL DEFAULT 0"),
    ("sites", "shifts", "TEXT NOT NULL DEFAULT ''"),
    ("service_log", "stop_h", "{real}"),
    ("service_log", "repair_cost", "{real}"),
)

SQLITE = {"real": "REAL", "blob": "BLOB", "serial": "INTEGER PRIMARY KEY"}
POSTGRES = {
    "real": "DOUBLE PRECISION",
    "blob": "BYTEA",
    "serial": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
}


def statements(dialect: dict[str, str]) -> list[str]:
    """The schema as a list of statements for one dialect."""
    text = TABLES.format(**dialect)
    return [s.strip() for s in text.split(";") if s.strip()]


def added_columns(dialect: dict[str, str]) -> list[tuple[str, str, str]]:
    """ADDED_COLUMNS with the column definitions for one dialect."""
    return [(t, c, d.format(**dialect)) for t, c, d in ADDED_COLUMNS]
