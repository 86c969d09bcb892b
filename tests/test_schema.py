"""The results schema (dse.study.schema) is the one list of names: every config field has a unit and a
description, the two tables share only their join keys, and `dse eval --json` uses the same names.
The tables as written (read back through pyarrow) are checked in test_study_e2e.py."""
from __future__ import annotations

import dataclasses
import json

import pytest

from dse import cli
from dse.config import PER_LAYER_FIELDS
from dse.study.objective import METRICS
from dse.study.schema import (DESIGN_CLASSES, DESIGN_UNITS, JOIN_KEYS, LAYER_COLUMNS, METRIC_COLUMNS,
                              TRIALS_COLUMNS, column)

TRIALS_NAMES = {c.name for c in TRIALS_COLUMNS} | set(METRICS)
# What `dse eval --json` holds beyond the trials table's columns (documented in docs/studies.md):
# the per-chip accuracies (the table keeps their statistics), the design grouped by config, the
# workload's own metrics per chip, and the layers (rows of the layers table).
JSON_ONLY = {"accuracy_per_chip", "hardware", "protect", "analog", "metrics", "layers"}


def test_every_config_field_has_a_unit_and_a_description():
    fields = {f.name: cls for cls in DESIGN_CLASSES for f in dataclasses.fields(cls)}
    assert set(DESIGN_UNITS) == set(fields)  # no field without a unit, no unit of a field that is gone
    for c in TRIALS_COLUMNS:
        assert c.unit and len(c.description) > 10, c
    for name in set(fields) - set(PER_LAYER_FIELDS):
        assert column(name).description.startswith(f"{fields[name].__name__}.{name}: ")


def test_names_are_declared_once_and_only_the_keys_are_shared():
    trials = [c.name for c in TRIALS_COLUMNS] + [c.name for c in METRIC_COLUMNS if c.name not in
                                                 {t.name for t in TRIALS_COLUMNS}]
    assert len(trials) == len(set(trials))
    layers = [c.name for c in LAYER_COLUMNS]
    assert len(layers) == len(set(layers))
    assert not set(layers) & set(trials) and not set(layers) & set(JOIN_KEYS)
    assert set(JOIN_KEYS) <= set(trials)


def test_columns_named_by_pattern_or_by_another_objective_are_described():
    assert column("row_prune_layers.fc1").unit == "1"
    assert column("constraint_latency_ns").unit == "ns"
    assert column("ideal_cosine_fidelity").unit == "1"
    other = column("my_metric_pj")
    assert other.unit == "pJ" and "objective function" in other.description
    assert column("my_score").unit == "unknown"


def test_eval_json_uses_the_parquet_names(capsys):
    assert cli.main(["eval", "--workload", "mlp-digits", "--sa0", "0.01", "--sa1", "0.04", "--n-chips", "2",
                     "--max-test", "50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) - JSON_ONLY <= TRIALS_NAMES, set(out) - JSON_ONLY - TRIALS_NAMES
    assert {"energy_pj", "area_um2", "area_mm2", "latency_ns", "n_chips", "wall_time_s"} <= set(out)
    for group in ("hardware", "protect", "analog"):
        assert set(out[group]) <= TRIALS_NAMES | set(PER_LAYER_FIELDS), group
    assert [list(row) for row in out["layers"]] == [[c.name for c in LAYER_COLUMNS]] * 3
    assert [row["name"] for row in out["layers"]] == ["fc1", "fc2", "fc3"]
    assert sum(row["layer_energy_pj"] for row in out["layers"]) == pytest.approx(out["energy_pj"])


def test_docs_list_the_layers_table_as_declared():
    from pathlib import Path

    from dse.study.schema import LAYERS_COLUMNS

    text = (Path(__file__).resolve().parents[1] / "docs" / "studies.md").read_text()
    block = text.split("**Per-layer table**")[1].split("\n\n")[1].splitlines()
    table = [line for line in block if line.startswith("| `")]
    assert table == [f"| `{c.name}` | {c.type} | {c.unit} | {c.description} |" for c in LAYERS_COLUMNS]


def test_cost_json_layers_use_the_layers_table_names(capsys):
    assert cli.main(["cost", "--workload", "mlp-digits", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    names = {c.name for c in LAYER_COLUMNS}
    assert [row["name"] for row in out["layers"]] == ["fc1", "fc2", "fc3"]
    assert all(set(row) <= names for row in out["layers"]), out["layers"][0]
    assert sum(row["layer_energy_pj"] for row in out["layers"]) == pytest.approx(out["energy_pj"])
    assert set(out) - {"workload", "tech", "adc_model", "node_nm", "layers", "breakdown"} <= TRIALS_NAMES
