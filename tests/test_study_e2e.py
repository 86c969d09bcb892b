"""A tiny real study through the command line: workload, simulator and cost model, end to end; its
tables described column by column (unit, description) and joined by their keys only."""
from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from dse import cli
from dse.study.folder import LAYERS_FILE, TRIALS_FILE
from dse.study.results import read_layers, read_trials
from dse.study.schema import JOIN_KEYS, LAYERS_COLUMNS, column

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

[constraints]
energy_pj = "<= 1e12"  # met by every design: a constraint column to describe
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny study run twice from scratch, in folders a/ and b/."""
    tmp_path = tmp_path_factory.mktemp("e2e")
    study = tmp_path / "tiny.toml"
    study.write_text(TINY)
    for name in ("a", "b"):
        assert cli.main(["run", str(study), "--results", str(tmp_path / name), "--no-progress"]) == 0
    return tmp_path


def test_tiny_real_study_end_to_end(runs, tmp_path):
    folder = runs / "a" / "tiny-real"
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
    again = read_trials(runs / "b" / "tiny-real")
    pd.testing.assert_frame_equal(trials[columns], again[columns])

    png = tmp_path / "front.png"
    assert cli.main(["pareto", str(folder), "-o", str(png)]) == 0
    assert png.stat().st_size > 1000


def test_every_column_of_both_tables_has_a_unit_and_a_description(runs):
    folder = runs / "a" / "tiny-real"
    for path in (folder / TRIALS_FILE, folder / LAYERS_FILE):
        schema = pq.read_schema(path)
        assert len(schema) > 20
        for field in schema:
            meta = field.metadata or {}
            unit, description = meta.get(b"unit", b"").decode(), meta.get(b"description", b"").decode()
            assert unit and len(description) > 10, (path.name, field.name, meta)
            assert "objective function" not in description, field.name  # every column here is a built-in one
            assert unit != "unknown", field.name
    trials = pq.read_schema(folder / TRIALS_FILE)
    assert trials.field("energy_pj").metadata[b"unit"] == b"pJ"
    assert trials.field("area_mm2").metadata[b"unit"] == b"mm2"
    assert trials.field("adc_bits").metadata[b"unit"] == b"bit"
    assert trials.field("sa0_rate").metadata[b"unit"] == b"1"
    assert b"stuck at high resistance" in trials.field("sa0_rate").metadata[b"description"]
    assert trials.field("constraint_energy_pj").metadata[b"unit"] == b"pJ"
    # the layers table is exactly the declared columns, in order, with the declared types
    layers = pq.read_schema(folder / LAYERS_FILE)
    assert [(f.name, f.type) for f in layers] == [(c.name, c.type) for c in LAYERS_COLUMNS]
    assert b"x_int @ w_int" in layers.field("output_error").metadata[b"description"]
    assert layers.field("layer_energy_pj").metadata[b"unit"] == b"pJ"


def test_the_tables_share_only_their_join_keys(runs):
    folder = runs / "a" / "tiny-real"
    trials, layers = pq.read_schema(folder / TRIALS_FILE).names, pq.read_schema(folder / LAYERS_FILE).names
    assert set(trials) & set(layers) == set(JOIN_KEYS)
    joined = read_layers(folder).merge(read_trials(folder), on=list(JOIN_KEYS), validate="many_to_one")
    assert len(joined) == len(read_layers(folder))  # every layer row has its trial


def test_layer_rows_add_up_to_their_trial(runs):
    folder = runs / "a" / "tiny-real"
    trials = read_trials(folder).set_index("trial_number")
    layers = read_layers(folder)
    sums = layers.groupby("trial_number")[["layer_energy_pj", "layer_area_um2", "layer_latency_ns",
                                           "layer_crossbars", "layer_adc_conversions", "layer_macs"]].sum()
    for total, part in (("energy_pj", "layer_energy_pj"), ("area_um2", "layer_area_um2"),
                        ("latency_ns", "layer_latency_ns"), ("crossbars", "layer_crossbars"),
                        ("adc_conversions", "layer_adc_conversions"), ("macs", "layer_macs")):
        assert sums[part].to_numpy() == pytest.approx(trials.loc[sums.index, total].to_numpy(), rel=1e-12), total
    slowest = layers.groupby("trial_number")["layer_latency_ns"].max()
    assert slowest.to_numpy() == pytest.approx(trials.loc[slowest.index, "pipeline_interval_ns"].to_numpy())
    # the prune fractions as realised: row_prune 0.25 of every layer (fc1 64 rows, fc2 256, fc3 128); the
    # classifier keeps its 10 columns and nothing prunes columns here
    unpruned = {"fc1": (64, 256), "fc2": (256, 128), "fc3": (128, 10)}
    for row in layers.itertuples():
        rows, cols = unpruned[row.name]
        assert row.layer_row_prune == pytest.approx(1 - row.in_features / rows) == pytest.approx(0.25, abs=0.01)
        assert row.layer_col_prune == 1 - row.out_features / cols == 0.0
    assert layers["output_error"].between(0, 10).all() and layers["adc_saturation"].between(0, 1).all()
