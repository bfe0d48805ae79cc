"""`kizashi rul` options (issue 14 item 5): condition, cadence, rated life, censored history."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from gateway.forecast import rul_cli
from gateway.forecast.early_warning import preset_for_life
from gateway.forecast.pronostia import read_bearing_csv, shared_data_dir

PRONOSTIA = shared_data_dir("pronostia")
IMS = shared_data_dir("ims")
needs_data = pytest.mark.skipif(
    not (PRONOSTIA.is_dir() and IMS.is_dir()), reason="PRONOSTIA/IMS data not present"
)
DOC = Path(__file__).resolve().parents[2] / "docs" / "FORECASTING.md"


def run(*argv: str) -> dict[str, object]:
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert rul_cli.main([*argv, "--json"]) == 0
    out: dict[str, object] = json.loads(buf.getvalue())
    return out


def test_every_option_is_documented() -> None:
    text = DOC.read_text()
    opts = [o for a in rul_cli.build_parser()._actions for o in a.option_strings]
    missing = [o for o in opts if o not in ("-h", "--help") and f"`{o}" not in text]
    assert not missing, f"kizashi rul options missing from docs/FORECASTING.md: {missing}"


@needs_data
def test_survivors_in_bearings_csv_are_censored() -> None:
    out = run(str(IMS / "IMS_T2_B1.csv"), "--history-dir", str(IMS))
    assert out["history_runs"] == 7 and out["history_censored"] == 5  # 2 + 3 survivors


@needs_data
def test_censored_option_and_unknown_name() -> None:
    f = str(PRONOSTIA / "test" / "Bearing1_3.csv")
    out = run(f, "--history-dir", str(PRONOSTIA / "learning"), "--censored", "Bearing1_1")
    assert out["history_censored"] == 1
    assert rul_cli.main([f, "--history-dir", str(PRONOSTIA / "learning"), "--censored", "X"]) == 2


@needs_data
def test_history_that_does_not_fit_falls_back_to_rated_life() -> None:
    f = str(IMS / "IMS_T1_B1.csv")  # 345 h old; PRONOSTIA lives are 1.4-7.8 h
    bare = run(f, "--history-dir", str(PRONOSTIA / "learning"))
    assert bare["status"] == "history_does_not_fit" and bare["rul_p50_s"] is None
    rated = run(f, "--history-dir", str(PRONOSTIA / "learning"), "--rated-l10-h", "2000")
    assert rated["status"] == "history_does_not_fit" and rated["method"] == "rated_life"
    assert isinstance(rated["rul_p10_s"], float) and rated["rul_p10_s"] > 3600.0


@needs_data
def test_condition_scales_the_life() -> None:
    f = str(PRONOSTIA / "test" / "Bearing1_7.csv")
    hist = ("--history-dir", str(PRONOSTIA / "learning"))
    named = run(f, *hist)
    slower = run(f, *hist, "--condition", "900:4000")  # half speed: twice the running life
    assert named["life_factor"] == pytest.approx(1.0)
    assert slower["life_factor"] == pytest.approx(2.0)
    assert float(slower["rul_p50_s"]) > 1.5 * float(named["rul_p50_s"])  # type: ignore[arg-type]


@needs_data
def test_cadence_option_sets_the_block() -> None:
    f = str(IMS / "IMS_T2_B1.csv")
    out = run(f, "--history-dir", str(IMS), "--cadence-s", "600")
    assert out["status"] == "degrading"
    with pytest.raises(SystemExit):
        rul_cli.main([f, "--cadence-s", "0"])  # argparse refuses it (exit 2)


@needs_data
def test_warnings_replayed_as_the_gateway_raises_them() -> None:
    """The file's own bearing warning goes into its forecast (method warning_lead+...), the
    history's warned failures give the lead times; `--warnings off` leaves both out."""
    f = str(IMS / "IMS_T2_B1.csv")
    out = run(f, "--history-dir", str(IMS))
    warning = out["warning"]
    assert isinstance(warning, dict) and str(warning["reason"]).startswith("kurtosis ")
    assert out["history_warned"] == 2  # IMS test 1 bearings 3 and 4
    assert str(out["method"]).startswith("warning_lead")
    off = run(f, "--history-dir", str(IMS), "--warnings", "off")
    assert off["warning"] is None and off["history_warned"] == 0
    assert not str(off["method"]).startswith("warning_lead")


def write_run(path: Path, hours: float, step_s: float = 600.0, header: str = "") -> None:
    """A quiet synthetic run: `hours` of readings every `step_s`, features with a little noise."""
    rng = np.random.default_rng(len(path.name))
    cols = header or "t_s,rms_h,rms_v,kurt_h,kurt_v,peak_h,peak_v"
    n_feat = len(cols.split(",")) - 1
    rows = [cols]
    for i in range(int(hours * 3600 / step_s)):
        feats = 0.1 + 0.005 * rng.standard_normal(n_feat)
        rows.append(",".join([str(i * step_s), *(f"{v:.5f}" for v in feats)]))
    path.write_text("\n".join(rows) + "\n")


def test_condition_comes_from_the_data_sets_table_never_from_a_file_name(tmp_path: Path) -> None:
    """Another rig's "Bearing3_1" is not PRONOSTIA's condition 3 (1500 rpm / 5000 N, life factor
    0.61): without a recorded condition the factor is 1; the table's `condition` column (or
    `rpm` and `load_n`) sets it."""
    f = tmp_path / "Bearing3_1.csv"
    write_run(f, 5.0, 60.0)
    assert run(str(f))["life_factor"] == pytest.approx(1.0)
    (tmp_path / "bearings.csv").write_text("bearing,condition\nBearing3_1,1500rpm_5000N\n")
    assert run(str(f))["life_factor"] == pytest.approx((4000 / 5000) ** 3 * 1800 / 1500)
    (tmp_path / "bearings.csv").write_text("bearing,rpm,load_n\nBearing3_1,900,4000\n")
    assert run(str(f))["life_factor"] == pytest.approx(2.0)
    (tmp_path / "bearings.csv").write_text("bearing,condition\nBearing3_1,fast\n")
    assert rul_cli.main([str(f), "--json"]) == 2  # an unreadable condition is refused


def test_warning_preset_follows_the_lives_of_the_history(tmp_path: Path) -> None:
    """`--warnings auto` (the default): the field preset learns its baseline over the first
    running day, so it serves only where that is at most a quarter of the shortest failed life;
    a history of lives of hours gets the accelerated-rig preset, and its warnings."""
    short, long_ = tmp_path / "short", tmp_path / "long"
    short.mkdir()
    long_.mkdir()
    for i in range(3):
        write_run(short / f"r{i}.csv", 6.0 + i, 60.0)
        write_run(long_ / f"r{i}.csv", 200.0 + 50 * i)
    f = tmp_path / "this.csv"
    write_run(f, 3.0, 60.0)
    assert run(str(f), "--history-dir", str(short))["warning_preset"] == "accelerated_rig"
    assert run(str(f), "--history-dir", str(long_))["warning_preset"] == "field"
    assert run(str(f))["warning_preset"] == "accelerated_rig"  # no history: its own 3 h
    assert run(str(f), "--warnings", "field")["warning_preset"] == "field"
    # On the boundary: a 96-hour shortest life is the first that takes the field preset.
    assert preset_for_life(96 * 3600.0) == "field"
    assert preset_for_life(95.9 * 3600.0) == "accelerated_rig"


@needs_data
def test_auto_preset_picks_what_the_bench_uses_on_each_shared_set() -> None:
    pron = run(str(PRONOSTIA / "test" / "Bearing1_3.csv"), "--history-dir",
               str(PRONOSTIA / "learning"))  # fmt: skip
    assert pron["warning_preset"] == "accelerated_rig" and pron["life_factor"] == 1.0
    ims = run(str(IMS / "IMS_T2_B1.csv"), "--history-dir", str(IMS))
    assert ims["warning_preset"] == "field"
    cond3 = run(str(PRONOSTIA / "test" / "Bearing3_3.csv"))  # from pronostia/bearings.csv
    assert cond3["life_factor"] == pytest.approx((4000 / 5000) ** 3 * 1800 / 1500)


def test_one_accelerometer_file_reads_as_both_axes(tmp_path: Path) -> None:
    f = tmp_path / "one_axis.csv"
    write_run(f, 2.0, 60.0, header="t_s,rms,kurt,peak")
    r = read_bearing_csv(f)
    for feat in ("rms", "kurt", "peak"):
        assert np.array_equal(r.features[f"{feat}_h"], r.features[f"{feat}_v"])
    g = tmp_path / "h_only.csv"
    write_run(g, 2.0, 60.0, header="t_s,rms_h,kurt_h,peak_h")
    assert np.array_equal(
        read_bearing_csv(g).features["peak_v"], read_bearing_csv(g).features["peak_h"]
    )
    bad = tmp_path / "bad.csv"
    write_run(bad, 2.0, 60.0, header="t_s,rms_h,kurt_h")
    with pytest.raises(ValueError, match="missing columns"):
        read_bearing_csv(bad)


def test_a_reading_with_a_missing_value_is_left_out_and_counted(tmp_path: Path) -> None:
    """A nan in a feature file is dropped and counted (it used to sort into the block medians
    and shift them); the forecast equals that of the file without the row."""
    f = tmp_path / "gap.csv"
    write_run(f, 10.0, 60.0)
    lines = f.read_text().splitlines()
    clean = tmp_path / "clean.csv"
    clean.write_text("\n".join(lines[:100] + lines[101:]) + "\n")
    lines[100] = lines[100].split(",")[0] + ",nan" * 6
    f.write_text("\n".join(lines) + "\n")
    gap, ref = run(str(f)), run(str(clean))
    assert gap["rows_skipped"] == 1 and ref["rows_skipped"] == 0
    assert gap["health_index"] == ref["health_index"] and gap["age_s"] == ref["age_s"]
    f.write_text(lines[0] + "\n0" + ",nan" * 6 + "\n")
    assert rul_cli.main([str(f), "--json"]) == 2


@needs_data
def test_a_cut_copy_of_a_described_run_keeps_its_condition(tmp_path: Path) -> None:
    """A history cut short into another directory (as a user evaluates a forecast) is still
    the run the data set's table describes: its condition comes from the history's table, and
    its own complete run in the history does not teach its forecast."""
    lines = (PRONOSTIA / "learning" / "Bearing3_1.csv").read_text().splitlines()
    cut = tmp_path / "Bearing3_1.csv"
    cut.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    out = run(str(cut), "--history-dir", str(PRONOSTIA / "learning"))
    assert out["life_factor"] == pytest.approx((4000 / 5000) ** 3 * 1800 / 1500)
    assert out["history_runs"] == 5  # its own complete run is not its history
    assert run(str(cut))["life_factor"] == pytest.approx(1.0)  # no table, no guess
