"""protocol/README.md must document every field, flag, kind, topic leaf and reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from protocol import frames, topics

README = (Path(frames.__file__).parent / "README.md").read_text()
REPORT_FIELDS = [
    "flags",
    "dropped",
    "runtime_s",
    "starts",
    "acc_rms_mg",
    "vel_rms_mm_s_x100",
    "peak_mg",
    "kurtosis_x100",
    "temp_c_x10",
]
COMMON = ["header", "node", "boot", "seq", "time"]


def documented(name: str) -> bool:
    return f"`{name}`" in README


@pytest.mark.parametrize(
    "name",
    COMMON
    + REPORT_FIELDS
    + list(frames.BIRTH_FIELDS)
    + list(frames.KIND_NAMES.values())
    + list(frames.FLAG_NAMES.values())
    + list(frames.COMMAND_NAMES)
    + list(topics.NODE_LEAVES),
)
def test_documented(name: str) -> None:
    assert documented(name), f"{name} is not documented in protocol/README.md"


def test_report_fields_match_parser() -> None:
    data = frames.encode_report("n1", 1, 1, 0, 0, 0, 0, 0, [0, 0, 0], [0, 0, 0], 0, 0, None)
    parsed = frames.decode(data)
    assert set(parsed) - {"v", "kind"} == set(COMMON[1:]) | set(REPORT_FIELDS)


def test_every_rejection_reason_documented() -> None:
    src = "".join(p.read_text() for p in Path(frames.__file__).parent.glob("*.py"))
    reasons = set(re.findall(r'ProtocolError\(\s*"([a-z_]+)"', src))
    assert reasons, "no reasons found"
    for reason in reasons:
        assert documented(reason), f"rejection reason {reason} undocumented"
