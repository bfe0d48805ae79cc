"""Session recorder and the human-readable bench report (artifacts/bench-report.md)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Measurement:
    name: str
    measured: Any
    expected: str
    ok: bool


@dataclass
class Scenario:
    nodeid: str
    title: str
    measurements: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    outcome: str = "not run"
    detail: str = ""
    duration: float = 0.0


class Recorder:
    def __init__(self, board_desc: str) -> None:
        self.board_desc = board_desc
        self.fw: str | None = None
        self.board_info: dict[str, Any] = {}
        self.scenarios: dict[str, Scenario] = {}
        self.started = time.time()

    def scenario(self, nodeid: str, title: str) -> Scenario:
        s = self.scenarios.get(nodeid)
        if s is None:
            s = self.scenarios[nodeid] = Scenario(nodeid, title)
        return s

    def saw_birth(self, birth: dict[str, Any] | None) -> None:
        if birth and not self.fw:
            info = birth["info"]
            self.fw = info.get("fw")
            self.board_info = {k: info.get(k) for k in ("board", "sensor", "rate_hz", "kernels")}

    def outcome(self, nodeid: str, when: str, outcome: str, detail: str, duration: float):
        s = self.scenarios.get(nodeid)
        if s is None:
            s = self.scenarios[nodeid] = Scenario(nodeid, nodeid.split("::")[-1])
        s.duration += duration
        if outcome == "failed":
            new = "failed" if when == "call" else "error"
        elif outcome == "skipped":
            new = "skipped"
        else:
            new = "passed"
        rank = {"not run": 0, "passed": 1, "skipped": 2, "failed": 3, "error": 3}
        if rank[new] > rank[s.outcome] or (new == "passed" and s.outcome == "not run"):
            s.outcome = new
            s.detail = detail

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        counts: dict[str, int] = {}
        for s in self.scenarios.values():
            counts[s.outcome] = counts.get(s.outcome, 0) + 1
        lines = [
            "# Kizashi HIL bench report",
            "",
            f"- Date: {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(self.started))}",
            f"- Board: {self.board_desc}",
            f"- Firmware version (birth frame): {self.fw or 'unknown (no birth frame seen)'}",
        ]
        if self.board_info:
            lines.append(
                "- Board info: " + ", ".join(f"{k}={v}" for k, v in self.board_info.items())
            )
        lines += [
            f"- Run time: {time.time() - self.started:.1f} s",
            "- Result: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())),
            "",
            "| scenario | result | time (s) |",
            "| --- | --- | --- |",
        ]
        for s in self.scenarios.values():
            lines.append(f"| {s.title} | {s.outcome.upper()} | {s.duration:.1f} |")
        for s in self.scenarios.values():
            lines += ["", f"## {s.title} — {s.outcome.upper()}", "", f"`{s.nodeid}`", ""]
            if s.measurements:
                lines += [
                    "| quantity | measured | expected / tolerance | ok |",
                    "| --- | --- | --- | --- |",
                ]
                for m in s.measurements:
                    mark = "yes" if m.ok else "**NO**"
                    lines.append(f"| {m.name} | {_fmt(m.measured)} | {m.expected} | {mark} |")
                lines.append("")
            for n in s.notes:
                lines.append(f"- {n}")
            if s.detail and s.outcome != "passed":
                first = s.detail.strip().splitlines()
                lines.append(f"- {s.outcome}: {first[-1] if first else ''}"[:400])
        path.write_text("\n".join(lines) + "\n")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


class ScenarioRecorder:
    """What a test fills in: measured values against their tolerances, plus notes."""

    def __init__(self, scenario: Scenario, user_properties: list[tuple[str, object]]) -> None:
        self.s = scenario
        self.props = user_properties
        self.failures: list[str] = []

    def check(self, name: str, measured: Any, ok: bool, expected: str) -> bool:
        self.s.measurements.append(Measurement(name, measured, expected, bool(ok)))
        self.props.append((name, f"{_fmt(measured)} (expected {expected})"))
        if not ok:
            self.failures.append(f"{name}: measured {_fmt(measured)}, expected {expected}")
        return bool(ok)

    def within(self, name: str, measured: float, target: float, rel: float, abs_: float = 0.0):
        tol = max(abs(target) * rel, abs_)
        exp = f"{target:.4g} ± {tol:.3g}" + (f" ({rel * 100:g} %)" if rel else "")
        return self.check(name, measured, abs(measured - target) <= tol, exp)

    def at_least(self, name: str, measured: float, floor: float, unit: str = "") -> bool:
        return self.check(name, measured, measured >= floor, f">= {floor:g}{unit}")

    def at_most(self, name: str, measured: float, ceil: float, unit: str = "") -> bool:
        return self.check(name, measured, measured <= ceil, f"<= {ceil:g}{unit}")

    def equal(self, name: str, measured: Any, expected: Any) -> bool:
        return self.check(name, measured, measured == expected, f"== {_fmt(expected)}")

    def note(self, text: str) -> None:
        self.s.notes.append(text)

    def assert_all(self) -> None:
        """Fail the test with every out-of-tolerance value (after recording all of them)."""
        if self.failures:
            raise AssertionError("; ".join(self.failures))
