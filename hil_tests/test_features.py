"""Feature accuracy against a known stimulus, and the bearing-defect signature."""

from __future__ import annotations

import statistics

from hil_tests.stimulus import BEARING, HEALTHY, Stimulus, sine

# 1 s windows and reports (board time): quick and still a 1024-sample window at 3200 Hz.
FAST = {"window_s": 1, "report_s": 2, "alarm_report_s": 2}
SPEED = 8.0

# Tolerances (per axis): acceleration RMS 2 % or 4 mg (one LSB is 3.9 mg), velocity RMS 3 %
# or 0.05 mm/s (Hann window, 3.125 Hz bins), peak 5 % or 8 mg.
ACC_REL, ACC_ABS = 0.02, 4.0
VEL_REL, VEL_ABS = 0.03, 0.05
PEAK_REL, PEAK_ABS = 0.05, 8.0

SINES = [(80.0, 0.5), (160.0, 0.2), (31.5, 1.0)]


def settled_reports(board, stim: Stimulus, n: int = 3) -> list[dict]:
    """Apply `stim`, skip the reports that may mix the old and new stimulus, return n."""
    board.set_stimulus(stim)
    m = board.bench.mark()
    reps = board.bench.wait_reports(m, n + 2, board.timeout(2 * (n + 2) + 4))
    return reps[2 : 2 + n]


def test_sine_feature_accuracy(board_factory, record, require):
    """Feature accuracy: sine stimulus -> acceleration RMS, velocity RMS, peak."""
    board = board_factory(config=FAST, speed=SPEED)
    for f_hz, amp in SINES:
        stim = sine(f_hz, amp)
        reps = require(lambda stim=stim: settled_reports(board, stim))
        acc = [statistics.median(r["acc_rms_mg"][i] for r in reps) for i in range(3)]
        vel = [statistics.median(r["vel_rms_mm_s_x100"][i] / 100 for r in reps) for i in range(3)]
        peak = statistics.median(r["peak_mg"] for r in reps)
        exp_acc = stim.expected_acc_rms_mg()
        exp_vel = stim.expected_vel_rms_mm_s()
        tag = f"{f_hz:g} Hz {amp:g} g"
        for i, ax in enumerate("xyz"):
            record.within(f"{tag}: acc RMS {ax} (mg)", acc[i], exp_acc[i], ACC_REL, ACC_ABS)
            record.within(f"{tag}: vel RMS {ax} (mm/s)", vel[i], exp_vel[i], VEL_REL, VEL_ABS)
        record.within(f"{tag}: peak (mg)", peak, stim.expected_peak_mg(), PEAK_REL, PEAK_ABS)
        flags_sat = sum(1 for r in reps if r["flags"] & 4)
        record.equal(f"{tag}: saturated flag", flags_sat, 0)
    record.note("Each value is the median of 3 reports taken after 2 settling reports.")
    record.assert_all()


def test_bearing_defect_signature(board_factory, record, require):
    """Bearing-defect signature raises kurtosis and peak."""
    board = board_factory(config=FAST, speed=SPEED)
    base = require(lambda: settled_reports(board, HEALTHY))
    defect = settled_reports(board, BEARING)
    k0 = statistics.median(r["kurtosis_x100"] / 100 for r in base)
    k1 = statistics.median(r["kurtosis_x100"] / 100 for r in defect)
    p0 = statistics.median(r["peak_mg"] for r in base)
    p1 = statistics.median(r["peak_mg"] for r in defect)
    record.check("healthy: excess kurtosis", k0, abs(k0) <= 1.0, "|k| <= 1 (tones + noise)")
    record.at_least("defect: excess kurtosis", k1, 2.0)
    record.at_least("kurtosis rise (defect - healthy)", k1 - k0, 2.0)
    record.within("healthy: peak (mg)", p0, 40.0, 0.25)
    record.at_least("peak ratio (defect / healthy)", p1 / max(p0, 1), 4.0)
    record.note(
        f"Defect: impacts {BEARING.impulses[0]} Hz, {BEARING.impulses[1]} g, "  # type: ignore[index]
        f"resonance {BEARING.impulses[2]} Hz, decay {BEARING.impulses[3]} ms, "  # type: ignore[index]
        "on the healthy tones + 0.01 g noise."
    )
    record.assert_all()
