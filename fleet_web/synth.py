"""Fill a gateway `Store` with a synthetic fleet through its public API (tests, benchmark).

One report frame per asset per hour goes through `write_batch`, so `hourly`, `latest` and
`nodes` are built by the store itself. Degrading assets grow exponentially over the last 40 %
of their history; most machines run 80 % of the hours, every fourth about 30 %.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

HOUR = 3600


def populate(
    store: Any,
    n_assets: int,
    hours: int,
    now: float,
    degrading_every: int = 3,
    sites: tuple[str, ...] = ("Osaka Works", "Nagoya Plant"),
    history_assets: int | None = None,
    seed: int = 1,
    prefix: str = "",
) -> list[str]:
    """Create n_assets assets (+ nodes); `history_assets` of them (default all) get `hours`
    hourly reports up to `now`, the others a single latest report. Returns the asset ids.
    `prefix` goes before every asset and node id (fleet-wide unique ids across sites)."""
    from gateway.store.api import (
        Asset,
        BirthRecord,
        EventRecord,
        FrameRecord,
        MaintenanceWindow,
        NodeStatus,
        Part,
        WriteBatch,
    )

    rng = np.random.default_rng(seed)
    ids = []
    for i in range(n_assets):
        aid, nid = f"{prefix}AS-{i + 1:05d}", f"{prefix}nd-{i + 1:05d}"
        part = Part("brg", "Drive-end bearing", "6205-2RS", rated_l10_h=30000, lead_time_days=5)
        store.upsert_asset(
            Asset(
                aid,
                sites[i % len(sites)],
                f"Pump line {i % 9 + 1}",
                nid,
                description=f"Pump {i + 1}",
                parts=(part,),
            )
        )
        ids.append(aid)
    t_end = int(now // HOUR) * HOUR
    for s in sites:
        for k in range(1, 9):
            start = t_end + k * 7 * 86400 + 6 * HOUR
            store.add_window(MaintenanceWindow(s, start, start + 8 * HOUR, note=f"week stop {k}"))
    n_hist = n_assets if history_assets is None else history_assets
    batch: list[Any] = []
    births, status, events = [], [], []
    for i in range(len(ids)):
        nid = f"{prefix}nd-{i + 1:05d}"
        n = hours if i < n_hist else 1
        t = t_end - HOUR * np.arange(n - 1, -1, -1) + 1800
        if t[-1] > now:  # never a report from the future (first half of the current hour)
            t = t - HOUR
        base = float(rng.uniform(0.6, 1.2))
        lv = np.full(n, base)
        if i % degrading_every == 0 and n > 24:
            onset = int(n * 0.6)
            g = math.log(float(rng.uniform(2.5, 4.0))) / (n - onset)
            lv[onset:] = base * np.exp(g * np.arange(n - onset))
            # The gateway's health monitor notices the change halfway through the wear: the
            # warning a repair can later be credited to (downtime-avoided ledger).
            k = onset + (n - onset) // 2
            detail = {"asset": ids[i], "baseline_mm_s": round(base, 3), "z": 6.0}
            events.append(
                EventRecord(float(t[k]), nid, "baseline_change", detail, source="gateway")
            )
        lv = lv * rng.lognormal(0, 0.04, n)
        # Excess kurtosis: near 0 while healthy, impulsive (bearing damage) as the level rises.
        kurt = 0.2 + 3.0 * np.clip(lv / base - 1.0, 0.0, 1.0)
        # Most machines run 80 % of the hours, every fourth (from the third) about 30 %.
        run = rng.random(n) < (0.3 if i % 4 == 2 else 0.8)
        runtime = 3_600_000 + np.cumsum(np.where(run, HOUR, 0))
        for j in range(n):
            v = int(lv[j] * 100)
            batch.append(
                FrameRecord(
                    node_id=nid, boot_id=1, seq=j + 1, kind="report", node_time=int(t[j]),
                    recv_time=float(t[j]), ts=float(t[j]), payload=b"", flags=1 if run[j] else 0,
                    dropped=0, runtime_s=int(runtime[j]), starts=1000 + j // 10,
                    acc_rms_mg=(v * 3, v * 3, v * 2), vel_rms_mm_s_x100=(v, int(v * 0.8), v // 2),
                    peak_mg=v * 9, kurtosis_x100=int(kurt[j] * 100), temp_c_x10=400 + v // 10,
                )
            )  # fmt: skip
        births.append(
            BirthRecord(
                nid,
                1,
                float(t[0]),
                {"fw": "1.4.2", "board": "esp32", "sensor": "sim", "reset": "power_on"},
            )
        )
        status.append(NodeStatus(nid, float(t[-1]), True, 0, n, 0, 0, 0.0))
        if len(batch) >= 20000:
            store.write_batch(WriteBatch(frames=batch))
            batch = []
    store.write_batch(WriteBatch(frames=batch, births=births, node_status=status, events=events))
    return ids
