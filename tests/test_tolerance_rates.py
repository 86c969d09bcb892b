"""The one tolerated-rate algorithm: crossing, bootstrap intervals, ``dse sweep``'s summary and ``dse tolerance``."""
from __future__ import annotations

import json
import logging
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dse.cli import main
from dse.experiments.sweep import summarize
from dse.experiments.tolerance import ToleranceCurve, bootstrap_rates, crossing, interval, ratio_interval


def test_crossing_interpolates_in_log_rate():
    rates, means = [0.001, 0.004, 0.016], [0.98, 0.96, 0.90]
    # The line 0.95 lies a sixth of the way from 0.96 (at 0.004) to 0.90 (at 0.016): a sixth of the way in log rate.
    assert crossing(rates, means, 0.95) == pytest.approx(0.004 * 4 ** (1 / 6))
    assert crossing(rates, means, 0.97) == pytest.approx(0.001 * 4 ** 0.5)


def test_crossing_ends():
    assert crossing([0.001, 0.01], [0.99, 0.98], 0.9) == math.inf      # never below: not reached
    assert crossing([0.001, 0.01], [0.8, 0.7], 0.9) == 0.0             # below at the lowest rate tried
    assert crossing([0.0, 0.1], [1.0, 0.0], 0.5) == pytest.approx(0.05)  # linear from a rate of 0
    assert crossing([0.001, 0.002, 0.004], [0.99, 0.89, 0.95], 0.9) < 0.002  # the first crossing counts
    with pytest.raises(ValueError, match="ascending"):
        crossing([0.01, 0.001], [0.9, 0.8], 0.85)


@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=8), st.floats(0.01, 0.99))
def test_crossing_lies_between_the_bracketing_rates(means, line):
    rates = np.geomspace(1e-4, 0.5, len(means))
    rate = crossing(rates, means, line)
    below = [i for i, m in enumerate(means) if m < line]
    if not below:
        assert rate == math.inf
    elif below[0] == 0:
        assert rate == 0.0
    else:
        assert rates[below[0] - 1] <= rate <= rates[below[0]]


def curve_of(per_chip: dict[float, list[float]], ideal: float = 1.0) -> ToleranceCurve:
    points = {r: float(np.mean(a)) for r, a in per_chip.items()}
    return ToleranceCurve(ideal=ideal, crossbars=1, points=points, per_chip={r: np.array(a) for r, a in per_chip.items()})


def test_identical_chips_leave_no_uncertainty_and_noisy_ones_do():
    calm = curve_of({0.001: [1.0] * 4, 0.01: [0.97] * 4, 0.1: [0.5] * 4})
    assert interval(bootstrap_rates(calm, 0.05)) == (calm.rate_at(0.05),) * 2
    noisy = curve_of({0.001: [1.0, 0.99, 1.0, 0.98], 0.01: [0.99, 0.9, 0.97, 0.92], 0.1: [0.6, 0.4, 0.5, 0.5]})
    low, high = interval(bootstrap_rates(noisy, 0.05))
    assert low < noisy.rate_at(0.05) < high


def test_ratio_interval_holds_the_ratio_and_reaches_inf_when_the_base_can_be_zero():
    base = curve_of({0.001: [1.0, 0.85, 1.0, 1.0], 0.002: [0.9, 0.85, 0.9, 0.88]})
    strong = curve_of({0.001: [1.0] * 4, 0.01: [0.999] * 4, 0.1: [0.9] * 4})
    low, high = ratio_interval(strong, base, 0.05)
    ratio = strong.rate_at(0.05) / base.rate_at(0.05)
    assert low <= ratio and high == math.inf  # a resample with the 0.85 chip twice is below at once: rate 0


def sweep_table() -> pd.DataFrame:
    rows = []
    for name, accs in (("none", {0.0: [0.98, 0.98], 0.01: [0.9, 0.8], 0.1: [0.2, 0.1]}),
                       ("zero-space", {0.0: [0.98, 0.98], 0.01: [0.98, 0.97], 0.1: [0.95, 0.94]})):
        for rate, values in accs.items():
            for chip, acc in enumerate(values):
                rows.append({"protect": name, "total_rate": rate, "chip": chip, "accuracy": acc,
                             "ideal_accuracy": 0.98, "crossbars": 4, "extra_adc_conversions": 0})
    return pd.DataFrame(rows)


def test_sweep_summary_is_the_same_algorithm_with_intervals():
    summary = summarize(sweep_table()).set_index("protect")
    assert summary.loc["none", "rate_at_1pt_drop"] == pytest.approx(0.01 * 0.01 / 0.13)  # linear from 0
    zero = summary.loc["zero-space"]
    assert zero["rate_at_1pt_drop"] == pytest.approx(math.exp(math.log(0.01) + (0.975 - 0.97) / (0.975 - 0.945)
                                                              * math.log(10)))
    assert zero["rate_at_5pt_drop"] == math.inf  # never 5 points below within the sweep (was NaN)
    assert zero["rate_at_1pt_drop_low"] <= zero["rate_at_1pt_drop"] <= zero["rate_at_1pt_drop_high"]
    assert zero["rate_at_1pt_drop_ratio"] == pytest.approx(zero["rate_at_1pt_drop"] / summary.loc["none", "rate_at_1pt_drop"])
    assert zero["rate_at_1pt_drop_ratio_low"] <= zero["rate_at_1pt_drop_ratio"] <= zero["rate_at_1pt_drop_ratio_high"]


def test_tolerance_command_bisects_and_reports_ratios_with_intervals(capsys):
    code = main(["tolerance", "--workload", "mlp-digits", "--protect", "zero-space", "--chips", "2",
                 "--max-test", "60", "--refine", "1", "--drops", "0.05", "--post-test-rate", "0.001", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    by_name = {row["protect"]: row for row in out["protections"]}
    assert list(by_name) == ["none", "zero-space"]  # no protection always runs: the ratios' base
    assert by_name["zero-space"]["needs_fault_map"] is True and by_name["none"]["needs_fault_map"] is False
    none, zero = by_name["none"]["rates"]["0.05"], by_name["zero-space"]["rates"]["0.05"]
    assert 0 < none["rate"] < zero["rate"] < 0.6
    assert zero["ratio"] == pytest.approx(zero["rate"] / none["rate"])
    low, high = zero["ratio_ci95"]
    assert low <= zero["ratio"] and (high is None or zero["ratio"] <= high)
    points = by_name["none"]["points"]
    assert [p[0] for p in points] == sorted(p[0] for p in points)


@pytest.mark.parametrize("flags, message", [
    (["--sa0", "0.01"], "unrecognized arguments"), (["--protect", "bogus"], "protect must be one of"),
    (["--drops", "0.01,x"], "drops must be"), (["--drops", "2"], "drops must be in"),
])
def test_tolerance_command_refuses_bad_input_before_work(flags, message, capsys):
    assert main(["tolerance", "--workload", "mlp-digits", *flags]) == 2
    assert message in capsys.readouterr().err


def test_sweep_with_post_test_failures_refuses_a_zero_rate_before_work(tmp_path, capsys):
    assert main(["sweep", "--workload", "mlp-digits", "--total-rate", "0,0.01", "--post-test-rate", "0.01",
                 "--out", str(tmp_path / "s")]) == 2
    assert "total rates > 0 with --post-test-rate" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_a_rate_search_logs_each_rate_it_simulates(caplog):
    # A search on a transformer runs for many minutes: each rate is logged as it completes, in the order
    # simulated, with its mean accuracy (what `dse report` shows on stderr).
    from dse.config import HardwareConfig
    from dse.experiments.tolerance import tolerance_rates
    from dse.workloads import load_workload

    with caplog.at_level(logging.INFO, logger="dse.experiments.tolerance"):
        curve = tolerance_rates(load_workload("mlp-digits"), HardwareConfig(), n_chips=1, max_test=40, refine=0,
                                drops=(0.05,), start=0.01, step=4.0)
    lines = [r.getMessage() for r in caplog.records if r.name == "dse.experiments.tolerance"]
    assert len(lines) == len(curve.points) >= 2
    assert all(line.startswith("mlp-digits: total fault rate ") and "accuracy" in line for line in lines)
