"""bench.prognostics: the metrics on cases with known answers, and a run on a small subset."""

from __future__ import annotations

import io
import json
import math
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from bench import prognostics as bench
from gateway.forecast.pronostia import shared_data_dir

DATA = shared_data_dir("pronostia")
IMS = shared_data_dir("ims")
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="PRONOSTIA data not present")
H = 3600.0


def _case(truth_h: float, p10: float | None, p50: float | None, p90: float | None,
          point: float | None, failed: bool = True) -> bench.Case:  # fmt: skip
    life = 100 * H
    return bench.Case("b", 0.5, life, life - truth_h * H, failed,
                      None if p10 is None else p10 * H, None if p50 is None else p50 * H,
                      None if p90 is None else p90 * H, None if point is None else point * H,
                      "x")  # fmt: skip


def test_forecast_metrics_known_answer() -> None:
    cases = [
        _case(10, 5, 10, 20, 10),  # exact: A = 1, covered, error 0
        _case(10, 12, 15, 30, 11),  # late by 10 %: A = 0.5^2 = 0.25, not covered, error 5 %
        _case(10, None, None, None, None),  # not enough evidence: A = 0, miss
        _case(50, 1, 2, 3, 2, failed=False),  # survivor: P90 3 h < 50 h survived: inconsistent
        _case(50, 1, 2, 80, 2, failed=False),
    ]
    m = bench.forecast_metrics(cases)
    assert m["cases_failing"] == 3 and m["cases_survivor"] == 2
    assert m["phm_score"] == pytest.approx((1.0 + 0.25 + 0.0) / 3, abs=1e-4)
    assert m["p10_p90_coverage"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["mae_pct_of_life"] == pytest.approx(2.5)  # (0 + 5 % of a 100 h life) / 2 answered
    assert m["late_share"] == pytest.approx(0.5)
    assert m["not_enough_evidence"] == 1
    assert m["survivor_consistent"] == pytest.approx(0.5)


def test_phm_score_is_the_challenge_formula() -> None:
    assert bench.phm_score(100.0, 100.0) == 1.0
    assert bench.phm_score(100.0, 80.0) == pytest.approx(0.5)  # 20 % early
    assert bench.phm_score(100.0, 105.0) == pytest.approx(0.5)  # 5 % late
    assert math.isclose(bench.phm_score(100.0, 60.0), 0.25)


def test_warning_metrics_known_answer() -> None:
    res = [
        bench.WarnResult("f1", 100 * H, True, 70 * H),  # 30 h, 30 % before failure
        bench.WarnResult("f2", 200 * H, True, None),  # never warned
        bench.WarnResult("s1", 500 * H, False, 100 * H),  # a false warning
        bench.WarnResult("s2", 500 * H, False, None),
    ]
    m = bench.warning_metrics(res)
    assert m["lead"] == {"f1": {"h": 30.0, "pct": 30.0}, "f2": None}
    assert m["false_warnings"] == 1 and m["false_per_1000_h"] == pytest.approx(1.0)


@needs_data
def test_bench_runs_on_a_small_subset(tmp_path: Path) -> None:
    (tmp_path / "learning").mkdir()
    (tmp_path / "test").mkdir()
    for name in ("Bearing1_2", "Bearing2_2", "Bearing3_1"):
        (tmp_path / "learning" / f"{name}.csv").symlink_to(DATA / "learning" / f"{name}.csv")
    (tmp_path / "test" / "Bearing2_7.csv").symlink_to(DATA / "test" / "Bearing2_7.csv")
    out = io.StringIO()
    with redirect_stdout(out):
        assert bench.main(["--pronostia", str(tmp_path), "--only", "pronostia", "--json"]) == 0
    s = json.loads(out.getvalue().strip().splitlines()[-1])
    assert s["pronostia_loo"]["forecast"]["cases_failing"] == 3 * len(bench.CUTS)
    assert s["pronostia_test"]["forecast"]["cases_failing"] == 1
    assert set(s["pronostia_loo"]["warnings"]["lead"]) == {"Bearing1_2", "Bearing2_2", "Bearing3_1"}


IMS = shared_data_dir("ims")
needs_ims = pytest.mark.skipif(not IMS.is_dir(), reason="IMS data not present")


@needs_ims
@needs_data
def test_ims_survivors_are_censored_and_pronostia_history_does_not_fit() -> None:
    sets = {ds.name: ds for ds in bench.run_ims(IMS, bench.ModelParams(), DATA)}
    loto = sets["ims_leave_one_test_out"]
    assert loto.forecast["cases_failing"] == 3 * len(bench.CUTS)
    assert loto.forecast["cases_survivor"] == 5 * len(bench.CUTS)
    # Issue 14: with PRONOSTIA (lives of hours) as history, a quiet IMS bearing aged 80-500 h
    # got "0.3 h left". Now the history says it does not fit, and no number is made up.
    cross = sets["ims_with_pronostia_history"].cases
    quiet = [c for c in cross if c.status != "degrading"]
    assert quiet and all(c.status == "history_does_not_fit" and c.p50_s is None for c in quiet)


@needs_data
def test_plots_draw_one_png_per_bearing(tmp_path: Path) -> None:
    runs = {r.name: r for r in bench.read_dir(DATA / "learning")[:1]}
    name = next(iter(runs))
    case = bench.Case(name, 0.5, 3600.0, 1800.0, True, 600.0, 1200.0, 2400.0, 900.0, "x")
    ds = bench.DataSet("demo", {}, {"warned_at": {name: 1000.0}, "reasons": {name: "why"}},
                       [case])  # fmt: skip
    assert bench.draw(runs, [ds], tmp_path) == 1
    png = tmp_path / f"demo_{name}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not IMS.is_dir(), reason="IMS data not present")
def test_any_data_set_is_judged_as_ims_is(tmp_path: Path) -> None:
    """`--data DIR`: a data set the bench does not know, judged from its own bearings.csv
    (machines from `test`, survivors from `failed`) with the warning preset chosen from the
    history, gives the IMS figures of the dedicated path; without a `test` column every run is
    its own machine."""
    p = bench.ModelParams()
    known = bench.run_ims(IMS, p, None)
    generic = bench.run_data_set(IMS, p)
    assert [d.forecast for d in generic] == [known[0].forecast, known[2].forecast]
    assert generic[0].warnings["lead"] == known[0].warnings["lead"]
    copy = tmp_path / "rig"
    copy.mkdir()
    for name in ("IMS_T2_B1", "IMS_T2_B2"):
        (copy / f"{name}.csv").write_bytes((IMS / f"{name}.csv").read_bytes())
    (copy / "bearings.csv").write_text("bearing,failed\nIMS_T2_B1,true\nIMS_T2_B2,false\n")
    groups, failed = bench.machines_of(copy)
    assert sorted(groups) == ["IMS_T2_B1", "IMS_T2_B2"] and failed["IMS_T2_B2"] is False
    (copy / "IMS_T2_B2.csv").unlink()
    with pytest.raises(SystemExit, match="at least two machines"):
        bench.run_data_set(copy, p)
