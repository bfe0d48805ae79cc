"""The columns of every CSV export, in order: a download has its header row even when there
are no rows (an empty table is still a table a spreadsheet or a script can read)."""

from __future__ import annotations

EVENT_COLUMNS = ("ts", "asset_id", "node_id", "kind", "source", "severity", "message",
                 "housekeeping")  # fmt: skip
SERVICE_COLUMNS = ("id", "ts", "date", "asset_id", "kind", "part", "note", "user",
                   "acted_on_warning", "downtime_avoided_h", "stop_h", "repair_cost")  # fmt: skip
LEDGER_COLUMNS = (*SERVICE_COLUMNS, "site", "warned_at", "bound_h", "needs_review")
PART_COLUMNS = ("part", "name", "role", "rated_l10_h", "lead_time_days", "since", "since_source")
WINDOW_COLUMNS = ("id", "site", "start", "end", "note")
JOB_COLUMNS = ("window_id", "site", "start", "end", "asset_id", "name", "machine", "kind",
               "reason", "part", "health", "rul_p10_date")  # fmt: skip
UNPLANNED_COLUMNS = ("asset_id", "name", "site", "machine", "health", "reason", "stop_by",
                     "part", "rul_p10_date")  # fmt: skip
USER_COLUMNS = ("name", "role", "disabled")
REPORT_COLUMNS = ("id", "name", "machine", "component", "health", "runtime_h", "rul_p10_h",
                  "rul_p50_h", "rul_p90_h", "rul_p10_date", "rul_p50_date", "rul_p90_date",
                  "forecast_status", "window_start", "window_end", "plan",
                  "service_due")  # fmt: skip
