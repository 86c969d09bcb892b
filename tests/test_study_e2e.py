"""A tiny real study through the command line: workload, simulator and cost model, end to end."""
from __future__ import annotations

import pandas as pd

from dse import cli
from dse.study.results import read_layers, read_trials

TINY = """
[study]
name = "tiny-real"
workload = "mlp-digits"
trials = 4

[sampler]
name = "grid"  # four trials cover the 2 x 2 grid exactly once: copies are drawn for sure
seed = 8

[faults]
sa0_rate = 0.002
sa1_rate = 0.008
n_chips = 2

[protection]
row_prune = 0.25

[search]
adc_bits = [5, 8]
dup_copies = [1, 2]
"""


def test_tiny_real_study_end_to_end(tmp_path, capsys):
    study = tmp_path / "tiny.toml"
    study.write_text(TINY)
    for name in ("a", "b"):
        assert cli.main(["run", str(study), "--results", str(tmp_path / name), "--no-progress"]) == 0
    assert "4 completed" in capsys.readouterr().out

    folder = tmp_path / "a" / "tiny-real"
    trials = read_trials(folder)
    assert len(trials) == 4
    assert trials["accuracy_mean"].between(0, 1).all()
    assert (trials["ideal_accuracy"] > 0.5).all()  # the mapped MLP still classifies without faults
    assert (trials["energy_pj"] > 0).all() and (trials["area_mm2"] > 0).all() and (trials["crossbars"] > 0).all()
    assert {"energy_adc_pj", "area_adc_um2"} <= set(trials.columns)  # the cost breakdown is tabled
    assert len(read_layers(folder)) == 3 * len(trials)  # fc1, fc2, fc3 per trial
    copies = read_layers(folder).merge(trials[["trial_number", "dup_copies"]], on="trial_number")
    # copies are laid out only when asked for, and only where pruning freed columns (fc3 here)
    assert not ((copies["copy_bitlines"] > 0) & (copies["dup_copies"] == 1)).any()
    assert (copies.loc[copies["dup_copies"] > 1, "copy_bitlines"] > 0).any()

    # same file, same seeds: the same rows (wall time aside)
    columns = ["trial_number", "adc_bits", "row_prune", "dup_copies", "accuracy_mean", "energy_pj",
               "area_mm2"]
    again = read_trials(tmp_path / "b" / "tiny-real")
    pd.testing.assert_frame_equal(trials[columns], again[columns])

    png = tmp_path / "front.png"
    assert cli.main(["pareto", str(folder), "-o", str(png)]) == 0
    assert png.stat().st_size > 1000
