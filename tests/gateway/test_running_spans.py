"""The fleet prior's evidence read bounded (gateway/outlook/evidence.py fleet_evidence): the
running ages the database computes (`Store.running_spans`) are the ones a site's outlook
engine computes from the hourly arrays (`running_ages` over `part_histories`), on the same
rows; the monitor's warnings are read by code alone."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.outlook.evidence import HOUR, part_histories, part_starts, running_ages
from gateway.store.api import Asset, EventRecord, FrameRecord, ServiceEntry, Store, WriteBatch

DAY = 86400.0
T0 = 1_790_000_000.0 // DAY * DAY  # midnight: a service date starts a part where expected


def _hours(
    store: Store, node: str, spec: Sequence[tuple[float, Sequence[tuple[bool, int]]]]
) -> None:
    """Reports of `node`: for each (hour from T0, its reports as (running, runtime counter)),
    the reports 10, 30 and 50 minutes into the hour (hourly row: n_running counts the
    running ones, runtime_s is the highest counter)."""
    frames = []
    seq = 0
    for h, reports in spec:
        for k, (running, runtime) in enumerate(reports):
            seq += 1
            t = T0 + h * HOUR + 600 + 1200 * k
            frames.append(FrameRecord(
                node_id=node, boot_id=1, seq=seq, kind="report", node_time=int(t),
                recv_time=t, ts=t, payload=b"", flags=1 if running else 0, dropped=0,
                runtime_s=runtime, starts=1, acc_rms_mg=(100, 100, 100),
                vel_rms_mm_s_x100=(100, 100, 100), peak_mg=300, kurtosis_x100=20,
                temp_c_x10=400,
            ))  # fmt: skip
    store.write_batch(WriteBatch(frames=frames))


def _steady(
    hours: range, running: bool, counter: int
) -> list[tuple[float, list[tuple[bool, int]]]]:
    """Whole hours all running (the counter moves 1200 s a report) or all stopped (it
    stands); the last counter is `counter` plus what they ran."""
    out = []
    for h in hours:
        reps = []
        for _ in range(3):
            counter += 1200 if running else 0
            reps.append((running, counter))
        out.append((float(h), reps))
    return out


def test_the_databases_running_ages_are_the_engines(store: Store) -> None:
    for name in ("day", "refit", "stopped", "silent", "odd", "single"):
        store.upsert_asset(Asset(name, "site", name, "n-" + name))
    # day: stopped 00-06 h (a zero running fraction, the counter standing), running 06-22 h,
    # a third of hour 12 only, stopped again until 06 h the next day.
    day = _steady(range(0, 6), False, 50_000)
    day += _steady(range(6, 12), True, 50_000)
    c = day[-1][1][-1][1]
    day.append((12.0, [(True, c + 1200), (False, c + 1200), (False, c + 1200)]))
    day += _steady(range(13, 22), True, c + 1200)
    day += _steady(range(22, 30), False, day[-1][1][-1][1])
    _hours(store, "n-day", day)
    # refit: running three days; its part replaced on the second (rows before are not its).
    _hours(store, "n-refit", _steady(range(0, 72), True, 0))
    store.add_service_entry(ServiceEntry("refit", "2026-09-22", "replacement"))
    assert T0 + DAY == 1_790_035_200.0  # 2026-09-22 00:00 UTC
    # stopped: reports, never running. silent: no rows at all.
    _hours(store, "n-stopped", _steady(range(0, 10), False, 7_000))
    # odd: the counter resets (a new node) in hour 2, stands still in running hour 4 and
    # resets again in the last running hour, 5 (which adds no running time, nor does 4).
    _hours(store, "n-odd", [
        (0.0, [(True, 4000), (True, 4500), (True, 5000)]),
        (1.0, [(True, 6000), (True, 7000), (True, 8600)]),
        (2.0, [(True, 100), (True, 200), (True, 300)]),
        (3.0, [(True, 1300), (True, 2600), (True, 3900)]),
        (4.0, [(True, 3900), (True, 3900), (True, 3900)]),
        (5.0, [(True, 50), (True, 80), (True, 100)]),
    ])  # fmt: skip
    _hours(store, "n-single", _steady(range(5, 6), True, 10_000))

    now = T0 + 3 * DAY
    assets = store.assets()
    service: dict[str, list[ServiceEntry]] = {}
    for s in store.service_log():
        service.setdefault(s.asset_id, []).append(s)
    since = part_starts(assets, service, now)
    assert since["refit"] == T0 + DAY
    engine = running_ages(part_histories(store, since, now))
    got = store.running_spans(since, now + HOUR)
    assert got == engine
    assert got == {
        "day": 15 * HOUR - 2400,  # first and last running hours 06 and 21 h, hour 12 a third
        "refit": 47 * HOUR,  # hours 24..71 of its part
        "stopped": 0.0,
        "silent": 0.0,
        "odd": 3900.0 - 5000.0,  # the span running_rows keeps: hours 0, 1 and 3
        "single": 0.0,
    }
    # Only rows before `end` count, as for the engine's arrays (now + 1 h).
    early = {"day": since["day"], "refit": since["refit"]}
    cut = T0 + 30 * HOUR + 1  # the refit part's hours 24..30
    assert store.running_spans(early, cut) == running_ages(part_histories(store, early, cut - HOUR))
    assert store.running_spans(early, cut)["refit"] == 6 * HOUR


def test_events_are_read_by_code_after_a_watermark(store: Store) -> None:
    codes = ["report_gap", "baseline_change", "node_online"] * 4
    store.write_batch(
        WriteBatch(
            events=[
                EventRecord(T0 + i, "n1", c, {"i": i}, source="gateway")
                for i, c in enumerate(codes)
            ]
        )
    )
    every = store.events_after(0, 100)
    assert len(every) == 12
    mark, seen = 0, []
    while batch := store.events_after(mark, 3, code="baseline_change"):
        seen += batch
        mark = batch[-1].event_id
    assert [e.detail["i"] for e in seen] == [1, 4, 7, 10]
    assert seen == [e for e in every if e.code == "baseline_change"]
