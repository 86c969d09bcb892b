"""A results folder reads the same in pandas, pyarrow.dataset, DuckDB and Polars: named files, one table
each, the trials table alone at the top (the layers table in _layers/, which dataset readers skip)."""
from __future__ import annotations

import duckdb
import pytest
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from dse.study.folder import LAYERS_FILE, TRIALS_FILE

from test_study import run_tiny


def _kind(arrow_type) -> str:
    import pyarrow.types as t

    for name, test in (("bool", t.is_boolean), ("int", t.is_integer), ("float", t.is_floating),
                       ("string", lambda x: t.is_string(x) or t.is_large_string(x) or t.is_string_view(x)),
                       ("timestamp", t.is_timestamp)):
        if test(arrow_type):
            return name
    return str(arrow_type)


def test_every_reader_counts_the_same_rows_with_the_same_types(tmp_path):
    folder = run_tiny(tmp_path).results_dir
    trials_file, layers_file = folder / TRIALS_FILE, folder / LAYERS_FILE
    schema = pq.read_schema(trials_file)
    expected = {name: _kind(schema.field(name).type) for name in schema.names}
    rows = pq.read_metadata(trials_file).num_rows
    assert rows > 0

    # The folder as a whole is the trials table for readers of folders ...
    assert len(pd.read_parquet(folder)) == rows
    dataset = ds.dataset(folder, format="parquet")
    assert dataset.count_rows() == rows
    assert {f.name: _kind(f.type) for f in dataset.schema} == expected
    # ... and the named files are one table each for every reader.
    con = duckdb.connect()
    assert con.execute(f"select count(*) from read_parquet('{trials_file}')").fetchall()[0][0] == rows
    assert con.execute(f"select count(*) from read_parquet('{folder}/*.parquet')").fetchall()[0][0] == rows
    duck = con.execute(f"select * from read_parquet('{trials_file}')").to_arrow_table()
    assert {f.name: _kind(f.type) for f in duck.schema} == expected
    polars = pl.read_parquet(trials_file)
    assert polars.height == rows
    assert {f.name: _kind(f.type) for f in polars.to_arrow().schema} == expected

    layer_rows = pq.read_metadata(layers_file).num_rows
    assert layer_rows > rows  # one per (trial, layer): a mix-up would show
    assert len(pd.read_parquet(layers_file)) == pl.read_parquet(layers_file).height == layer_rows
    assert con.execute(f"select count(*) from read_parquet('{layers_file}')").fetchall()[0][0] == layer_rows


def test_show_lists_the_front_best_first_on_each_objectives_direction(tmp_path, capsys):
    from dse import cli
    from dse.study.results import read_trials

    folder = run_tiny(tmp_path).results_dir
    front = read_trials(folder).query("is_pareto")
    assert len(front) >= 2
    assert cli.main(["show", str(folder), "--top", "50"]) == 0
    out = capsys.readouterr().out
    assert "accuracy_mean highest first" in out
    table = out.split("highest first):")[1].strip().splitlines()
    header, rows = table[0].split(), [line.split() for line in table[1:1 + len(front)]]
    shown = [float(r[header.index("accuracy_mean")]) for r in rows]
    assert shown == sorted(shown, reverse=True) and shown[0] == pytest.approx(front["accuracy_mean"].max(), rel=1e-5)


def test_timestamps_carry_utc_and_the_metadata_is_standard_json(tmp_path):
    import json

    from dse.study.results import METADATA_KEY, read_trials

    folder = run_tiny(tmp_path).results_dir
    schema = pq.read_schema(folder / TRIALS_FILE)
    for name in ("datetime_start", "datetime_complete"):
        assert schema.field(name).type.tz == "UTC"
    trials = read_trials(folder)
    assert str(trials["datetime_start"].dt.tz) == "UTC"
    assert (trials["datetime_complete"] >= trials["datetime_start"]).all()

    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    metadata = json.loads(schema.metadata[METADATA_KEY], parse_constant=refuse)
    assert metadata["objectives"]
