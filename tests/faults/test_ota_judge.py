"""The OTA power-cut check's judge (bench/faults/ota_faults.py) must see a mixed slot: a
table pointing at a slot whose files are not all the build's."""

from __future__ import annotations

from pathlib import Path

from bench.faults.ota_faults import judge_flash
from firmware import ota
from firmware.fsio import VfsFS
from gateway.updates import fleet_key, make_build


def test_judge_sees_old_new_and_a_mix(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "firmware").mkdir(parents=True)
    (src / "firmware" / "node.mpy").write_bytes(b"new node" * 100)
    (src / "firmware" / "ota.mpy").write_bytes(b"new ota" * 100)
    build = make_build(src, "0.2.0", fleet_key(tmp_path / "secrets"))
    flash = tmp_path / "flash"
    flash.mkdir()
    fs = VfsFS(str(flash))
    assert judge_flash(flash, build) == (0, "")  # nothing staged: the old build
    (flash / "ota1" / "firmware").mkdir(parents=True)
    (flash / "ota1" / ota.MANIFEST).write_bytes(build.manifest)
    for name, data in build.files:
        (flash / "ota1" / name).write_bytes(data)
    t = ota.Table(fs)
    t.switch(1)
    assert judge_flash(flash, build) == (1, "")
    (flash / "ota1" / "firmware" / "ota.mpy").write_bytes(b"old ota" * 100)  # a mix
    slot, why = judge_flash(flash, build)
    assert slot == 1 and "firmware/ota.mpy" in why
