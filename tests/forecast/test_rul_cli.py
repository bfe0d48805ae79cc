"""`kizashi rul` options (issue 14 item 5): condition, cadence, rated life, censored history."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from gateway.forecast import rul_cli
from gateway.forecast.pronostia import shared_data_dir

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
