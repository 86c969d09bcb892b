"""Pareto plots people read: units on the axes, no offset notation, CI95 bars, constraint lines, trial
numbers on the front points, a legend that says what the highlighted points are."""
from __future__ import annotations

from io import BytesIO

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dse.study.plots import axis_label, plot_front, plot_pareto


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 12
    return pd.DataFrame({
        "trial_number": np.arange(n), "scenario": "default", "feasible": [True] * (n - 1) + [False],
        "accuracy_mean": rng.uniform(0.90, 0.95, n), "accuracy_ci95": np.full(n, 0.004),
        "energy_pj": rng.uniform(1.0e5, 1.2e5, n),  # a narrow range: offset notation would kick in
        "area_mm2": rng.uniform(0.1, 0.2, n), "is_pareto": [i % 3 == 0 for i in range(n)],
    })


def test_one_panel_has_units_bars_constraints_and_trial_numbers():
    frame = _frame()
    fig = Figure()
    ax = fig.subplots()
    strong = frame["is_pareto"].to_numpy()
    plot_front(ax, frame, "energy_pj", "accuracy_mean", "minimize", "maximize", highlight=strong,
               label="non-dominated over all objectives (trial numbers)", constraints=["accuracy_mean >= 0.92"])
    fig.savefig(BytesIO(), format="png")  # a real draw: offset texts and ticks are decided here
    assert ax.get_xlabel() == "energy per inference (nJ, lower is better)"
    assert ax.get_ylabel() == "test accuracy, mean over chips (%, higher is better)"
    assert ax.xaxis.get_offset_text().get_text() == "" and ax.yaxis.get_offset_text().get_text() == ""
    # x in nJ: 100 to 120, not 1e5
    assert 90 < ax.get_xlim()[0] < 130
    labels = {t.get_text() for t in ax.texts}
    feasible_front = frame[frame["is_pareto"] & frame["feasible"]]
    assert labels == {str(n) for n in feasible_front["trial_number"]}
    lines = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(lines) == 1 and np.allclose(lines[0].get_ydata(), 92.0)  # the constraint, in %
    legend = [t for t in ax.get_legend_handles_labels()[1]]
    assert "95 % CI over chips" in legend and "constraint on test accuracy, mean over chips" in legend
    assert "non-dominated over all objectives (trial numbers)" in legend


def test_axis_labels_keep_one_unit_per_quantity():
    assert axis_label("area_um2", "minimize") == axis_label("area_mm2", "minimize") == "area (mm$^2$, lower is better)"
    assert axis_label("latency_ns", "minimize") == "latency per inference (us, lower is better)"
    # any other column in its own unit from the results schema; none for a count or fraction
    assert axis_label("cycle_ns", "minimize") == "cycle ns (ns, lower is better)"
    assert axis_label("energy_adc_pj", "minimize") == "energy adc pj (pJ, lower is better)"
    assert axis_label("spare_crossbars", "minimize") == "spare crossbars (lower is better)"


def test_plot_pareto_writes_every_pair(tmp_path):
    out = plot_pareto(_frame(), [("accuracy_mean", "maximize"), ("energy_pj", "minimize"), ("area_mm2", "minimize")],
                      tmp_path / "front.png", title="t", constraints=["energy_pj <= 1.1e5"])
    assert out.stat().st_size > 10_000


def test_html_pareto_hovers_trial_number_and_parameters(tmp_path):
    from test_study import run_tiny

    from dse import cli

    folder = run_tiny(tmp_path).results_dir
    assert cli.main(["pareto", str(folder), "--html"]) == 0
    page = (folder / "_pareto.html").read_text()
    assert "plotly" in page and "non-dominated over all objectives" in page
    for shown in ("trial_number: %{customdata[0]}", "adc_bits", "dup_copies", "energy per inference (nJ"):
        assert shown in page, shown
    assert cli.main(["pareto", str(folder), "--html", "-o", str(tmp_path / "x.png")]) == 2
