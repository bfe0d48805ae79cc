"""The centre's frames apply alone: CPU per message of the fleet server's apply (this process)
and its PostgreSQL backend, one message per transaction against several. Prints one JSON object.

    .venv/bin/python -m bench.fleet_apply [--together 1] [--frames 3] [--origins 320]
        [--rounds 5]

bench/fleet.py measures the whole centre (MQTT, msgpack, the lanes) under a simulated fleet;
its figures move with what else the machine runs. This one takes the MQTT and the simulated
sites away and applies, on a fresh PostgreSQL schema (dropped at the end), `--rounds` rounds of
one message per origin (`--frames` reports each, from 20 nodes per origin, ids following on),
`--together` messages per `apply_frames_many` call (1: `apply_frames`, one transaction each, as
every message was applied before the lanes took what was waiting together). The CPU seconds
are this process's and its backend's (/proc), so the figure holds on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from pathlib import Path

from bench.fleet import PG_URL, _report
from gateway.store.api import FrameRecord
from gateway.store.postgres import PostgresStore

NODES = 20
Message = tuple[str, int, int, list[tuple[int, FrameRecord]]]


def measure(together: int, frames: int, origins: int, rounds: int) -> dict[str, float | int]:
    db = PostgresStore(PG_URL, "kz_bench_apply_" + uuid.uuid4().hex[:10])
    try:
        names = [f"o{k:04d}" for k in range(origins)]
        for o in names:
            db.set_origin(o, "customer")
        with db._lock:
            pid = int(db._q("SELECT pg_backend_pid()")[0][0])
        tick = os.sysconf("SC_CLK_TCK")

        def cpu() -> float:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return time.process_time() + (int(stat[11]) + int(stat[12])) / tick

        sent = dict.fromkeys(names, 0)

        def round_of() -> list[Message]:
            out: list[Message] = []
            for o in names:
                rows = []
                for _ in range(frames):
                    s = sent[o]
                    sent[o] += 1
                    rows.append((s + 1, _report(f"{o}-n{s % NODES:02d}", s // NODES, 1.7e9 + s)))
                out.append((o, rows[0][0] - 1, rows[-1][0], rows))
            return out

        def apply(messages: list[Message]) -> None:
            if together == 1:
                for m in messages:
                    db.apply_frames(*m)
                return
            from gateway.store.uplink_sql import FramesMessage  # absent before the batches

            for k in range(0, len(messages), together):
                db.apply_frames_many([FramesMessage(*m) for m in messages[k : k + together]])

        apply(round_of())  # the nodes' first sightings (claims) are not what is measured
        used = wall = 0.0
        for _ in range(rounds):
            messages = round_of()
            c0, w0 = cpu(), time.perf_counter()
            apply(messages)
            used += cpu() - c0
            wall += time.perf_counter() - w0
        with db._lock:
            stored = int(db._q("SELECT count(*) FROM frames")[0][0])
            marks = int(db._q("SELECT coalesce(sum(upto), 0) FROM uplink_marks")[0][0])
        n = rounds * origins
        return {
            "together": together, "frames_per_message": frames, "messages": n,
            "cpu_ms_per_message": round(1000 * used / n, 3),
            "wall_ms_per_message": round(1000 * wall / n, 3),
            "frames_per_cpu_s": round(n * frames / used), "stored": stored, "marks": marks,
            "load_average_1min": round(os.getloadavg()[0], 1),
        }  # fmt: skip
    finally:
        db.drop_schema()
        db.close()


def main() -> None:
    ap = argparse.ArgumentParser(prog="bench.fleet_apply", description=__doc__.splitlines()[0])
    ap.add_argument("--together", type=int, default=1, help="messages per transaction")
    ap.add_argument("--frames", type=int, default=3, help="per message")
    ap.add_argument("--origins", type=int, default=320)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    print(json.dumps(measure(a.together, a.frames, a.origins, a.rounds)))


if __name__ == "__main__":
    main()
