"""Per-layer prune fractions and workload metrics in studies (issue #6).

- ``Protection.row_prune_layers`` / ``col_prune_layers``: typed, hashable, override the global fraction,
  reach the pruning (and its cache key), and are searched per layer by a study, each layer its own
  Optuna parameter and float64 Parquet column ``row_prune_layers.<layer>``;
- a workload's own metrics (``WorkloadInfo.metrics``) may be objectives and constraints;
- both are checked before any trial runs, with the allowed names in the message.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import textwrap
from pathlib import Path

import numpy as np
import optuna
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState

from dse import cli
from dse.cli_options import add_protection_options, protection_from_args
from dse.config import Protection
from dse.study.objective import METRICS, evaluate_design, workload_metrics
from dse.study.results import read_layers, read_metadata, read_trials
from dse.study import StudyFileError, load_study, open_storage, parse_study
from dse.workloads import Workload, builtin, load_workload, save_model_file
from dse.workloads.builtin import workload_info
from dse.workloads.transformer import BLOCKS, LINEAR_KINDS, TransformerWorkload, retrieval_metrics

MLP_LAYERS = ("fc1", "fc2", "fc3")


def kept(n: int, fraction: float) -> int:
    """Rows a layer of ``n`` rows keeps at ``fraction`` (dse.pruning.sequential.kept_count)."""
    return max(1, n - int(round(fraction * n)))


# ------------------------------------------------------------------------------------ Protection

fractions = st.floats(0.0, 0.9, allow_nan=False)
layer_tables = st.dictionaries(st.sampled_from(["fc1", "fc2", "fc3", "conv1", "block0.query"]), fractions,
                               max_size=5)


@settings(max_examples=60, deadline=None)
@given(layer_tables, layer_tables, fractions, fractions)
def test_per_layer_fractions_are_typed_sorted_and_hashable(rows, cols, row_prune, col_prune):
    a = Protection(row_prune=row_prune, col_prune=col_prune, row_prune_layers=rows, col_prune_layers=cols)
    b = Protection(row_prune=row_prune, col_prune=col_prune, row_prune_layers=list(reversed(list(rows.items()))),
                   col_prune_layers=tuple(cols.items()))
    assert a == b and hash(a) == hash(b)  # the order the layers are given in does not matter
    assert a.row_prune_layers == tuple(sorted((k, float(v)) for k, v in rows.items()))
    assert all(type(f) is float for _, f in a.row_prune_layers + a.col_prune_layers)
    assert a.prunes == bool(row_prune or col_prune or any(rows.values()) or any(cols.values()))
    # a per-layer value overrides the global one for its layer, and only for it
    row_of, col_of = a.prune_fractions(["fc1", "fc2", "fc3", "conv1", "block0.query"])
    for layer, fraction in row_of.items():
        assert fraction == rows.get(layer, row_prune)
    for layer, fraction in col_of.items():
        assert fraction == cols.get(layer, col_prune)
    # the flat row of a table: one entry per layer given
    columns = a.to_columns()
    assert {k for k in columns if "." in k} == ({f"row_prune_layers.{k}" for k in rows}
                                               | {f"col_prune_layers.{k}" for k in cols})


@pytest.mark.parametrize("value,match", [
    ({"fc1": 0.95}, r"row_prune_layers: layer 'fc1' must be in \[0.0, 0.9\], got 0.95"),
    ({"fc1": -0.1}, "row_prune_layers: layer 'fc1'"),
    ({"fc1": float("nan")}, "row_prune_layers: layer 'fc1'"),
    ({"fc1": True}, "row_prune_layers: layer 'fc1'"),
    ({"": 0.1}, "row_prune_layers: layer names must be non-empty"),
    ([("fc1", 0.1), ("fc1", 0.2)], "row_prune_layers: layer 'fc1' is given twice"),
    ("fc1=0.1", "row_prune_layers must map layer names to fractions"),
    (0.3, "row_prune_layers must map layer names to fractions"),
])
def test_bad_per_layer_fractions_name_the_field_and_layer(value, match):
    with pytest.raises(ValueError, match=match):
        Protection(row_prune_layers=value)


def test_unknown_or_unprunable_layers_are_refused_when_mapping():
    protection = Protection(row_prune_layers={"fc9": 0.3})
    with pytest.raises(ValueError, match=r"row_prune_layers: 'fc9' is not a layer of 'mlp-digits'; "
                                         r"allowed: fc1, fc2, fc3"):
        protection.prune_fractions(MLP_LAYERS, MLP_LAYERS[:-1], "'mlp-digits'")
    with pytest.raises(ValueError, match=r"col_prune_layers: the columns of 'fc3' are never pruned.*allowed: fc1, fc2"):
        Protection(col_prune_layers={"fc3": 0.3}).prune_fractions(MLP_LAYERS, MLP_LAYERS[:-1])


@pytest.fixture(scope="module")
def mlp() -> Workload:
    return load_workload("mlp-digits")


def test_per_layer_fraction_overrides_the_global_one_in_the_mapped_network(mlp):
    from dse.config import HardwareConfig
    from dse.mapping import map_network

    protection = Protection(row_prune=0.2, col_prune=0.1, row_prune_layers={"fc1": 0.5},
                            col_prune_layers={"fc2": 0.0})
    net = map_network(mlp, HardwareConfig(), protection)
    layouts = {layout.name: layout for layout in net.layouts}
    # fc1: its own row fraction; fc2, fc3: the global one (dead rows of pruned fc1 columns count towards it)
    assert layouts["fc1"].in_features == kept(64, 0.5)
    assert layouts["fc2"].in_features == kept(256, 0.2)
    assert layouts["fc3"].in_features == kept(128, 0.2)
    # columns: fc1 the global 0.1, fc2 its own 0.0, fc3 keeps its classes
    assert layouts["fc1"].out_features == kept(256, 0.1)
    assert layouts["fc2"].out_features == 128
    assert layouts["fc3"].out_features == 10
    # the same design with the global value spelled per layer is the same pruned network
    same = Protection(row_prune=0.5, col_prune=0.1, row_prune_layers={"fc2": 0.2, "fc3": 0.2},
                      col_prune_layers={"fc2": 0.0})
    assert [layout for layout in map_network(mlp, HardwareConfig(), same).layouts] == net.layouts
    with pytest.raises(ValueError, match="'fc9' is not a layer of 'mlp-digits'; allowed: fc1, fc2, fc3"):
        map_network(mlp, HardwareConfig(), Protection(row_prune_layers={"fc9": 0.3}))


def test_pruning_cache_keys_hold_the_per_layer_fractions(mlp, tmp_path, monkeypatch):
    from dse.mapping.protected import pruned_workload

    monkeypatch.setenv("RERAM_DSE_CACHE", str(tmp_path))
    cache = tmp_path / "workloads"
    a = Protection(row_prune=0.1, row_prune_layers={"fc1": 0.25})
    b = Protection(row_prune=0.1, row_prune_layers={"fc1": 0.5})
    _, rows_a, _ = pruned_workload(mlp, a)
    assert len(list(cache.glob("mlp-digits-pruned-*.npz"))) == 1
    _, rows_b, _ = pruned_workload(mlp, b)
    assert len(list(cache.glob("mlp-digits-pruned-*.npz"))) == 2  # not served a's cached network
    assert (len(rows_a[0]), len(rows_b[0])) == (kept(64, 0.25), kept(64, 0.5))
    _, rows_again, _ = pruned_workload(mlp, a)  # from the cache now
    assert len(list(cache.glob("mlp-digits-pruned-*.npz"))) == 2
    assert all(np.array_equal(rows_a[i], rows_again[i]) for i in rows_a)


def test_cli_flag_takes_layer_fraction_pairs():
    parser = argparse.ArgumentParser()
    add_protection_options(parser)
    args = parser.parse_args(["--row-prune", "0.1", "--row-prune-layers", "fc2=0.3, fc1=0.5",
                              "--col-prune-layers", "fc1=0"])
    protection = protection_from_args(args)
    assert protection.row_prune_layers == (("fc1", 0.5), ("fc2", 0.3))
    assert protection.col_prune_layers == (("fc1", 0.0),) and protection.row_prune == 0.1
    for bad in ("fc1", "fc1=x", "=0.3"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--row-prune-layers", bad])


# ------------------------------------------------------------------------------------ study files

def study(text: str) -> dict:
    import tomllib

    return tomllib.loads(textwrap.dedent(text))


def test_study_file_per_layer_syntax_fixed_and_searched():
    spec = parse_study(study("""
        [study]
        workload = "mlp-digits"
        [protection]
        row_prune = 0.1
        row_prune_layers.fc3 = 0.4
        [search.row_prune_layers]
        fc1 = { low = 0.0, high = 0.5, step = 0.05 }
        fc2 = [0.0, 0.25]
        [search]
        col_prune_layers.fc1 = [0.0, 0.5]
        adc_bits = [6, 8]
    """))
    params = {p.name: p for p in spec.search}
    assert set(params) == {"row_prune_layers.fc1", "row_prune_layers.fc2", "col_prune_layers.fc1", "adc_bits"}
    assert params["row_prune_layers.fc1"].grid()[:3] == [0.0, 0.05, 0.1] and not params["row_prune_layers.fc1"].integer
    assert params["row_prune_layers.fc2"].values == (0.0, 0.25)
    assert spec.protection == {"row_prune": 0.1, "row_prune_layers": {"fc3": 0.4}}
    assert spec.layer_columns() == ["row_prune_layers.fc1", "row_prune_layers.fc2", "row_prune_layers.fc3",
                                    "col_prune_layers.fc1"]


BAD_LAYERS = [
    ("[search]\nrow_prune_layers.fc9 = [0.1, 0.2]\n", "search.row_prune_layers.fc9",
     "'fc9' is not a layer of mlp-digits; allowed layers: fc1, fc2, fc3"),
    ("[protection]\nrow_prune_layers.dense = 0.3\n[search]\nadc_bits = [6]\n", "protection.row_prune_layers.dense",
     "'dense' is not a layer of mlp-digits; allowed layers: fc1, fc2, fc3"),
    ("[search]\ncol_prune_layers.fc3 = [0.1]\n", "search.col_prune_layers.fc3",
     "the columns of fc3 are never pruned in mlp-digits"),
    ("[search]\nrow_prune_layers.fc1 = [0.1, 0.95]\n", "search.row_prune_layers.fc1",
     "0.95 can never be used: row_prune_layers: layer 'fc1' must be in [0.0, 0.9]"),
    ("[protection]\nrow_prune_layers.fc1 = 2\n[search]\nadc_bits = [6]\n", "protection.row_prune_layers.fc1",
     "must be in [0.0, 0.9], got 2"),
    ("[protection]\nrow_prune_layers = 0.3\n[search]\nadc_bits = [6]\n", "protection.row_prune_layers",
     "must be a table of layer names and fractions"),
    ("[search]\nrow_prune_layers = { low = 0.0, high = 0.5 }\n", "search.row_prune_layers",
     "must be a table of layers, each a list or a range"),
    ("[search]\nrow_prune_layers.fc1 = 0.3\n", "search.row_prune_layers",
     "must be a table of layers, each a list or a range"),
    ("[protection]\nrow_prune_layers.fc1 = 0.3\n[search]\nrow_prune_layers.fc1 = [0.1]\n",
     "search.row_prune_layers.fc1", "also fixed in [protection]"),
    ("[sampler]\nname = 'grid'\n[search]\nrow_prune_layers.fc1 = { low = 0.0, high = 0.5 }\n",
     "search.row_prune_layers.fc1", "grid sampler needs a list of values or a range with a step"),
]


@pytest.mark.parametrize("text,key,problem", BAD_LAYERS)
def test_bad_per_layer_keys_fail_naming_key_and_allowed_layers(tmp_path, text, key, problem):
    path = tmp_path / "bad.toml"
    path.write_text("[study]\nworkload = 'mlp-digits'\n" + text)
    with pytest.raises(StudyFileError) as info:
        load_study(path)
    assert info.value.key == key
    assert problem in str(info.value)
    assert str(info.value).startswith(f"{path}: {key}: ")


def test_transformer_layer_names_are_checked_without_loading_it(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the study loaded the workload")

    monkeypatch.setitem(builtin._REGISTRY, "minilm-l6", never)
    spec = parse_study({"study": {"workload": "minilm-l6"},
                        "search": {"row_prune_layers": {"block5.ffn_out": [0.0, 0.3]},
                                   "col_prune_layers": {"block0.query": [0.0, 0.3]}}})
    assert spec.layer_columns() == ["row_prune_layers.block5.ffn_out", "col_prune_layers.block0.query"]
    with pytest.raises(StudyFileError, match=r'search.col_prune_layers."block0.key": the columns of block0.key '
                                             r'are never pruned .*allowed layers: block0.query, block0.value'):
        parse_study({"study": {"workload": "minilm-l6"}, "search": {"col_prune_layers": {"block0.key": [0.1]}}})


def test_model_file_layer_names_come_from_the_file(mlp, tmp_path):
    layers = [copy.copy(layer) for layer in mlp.layers]
    for layer in layers:
        if layer.name.startswith("fc"):
            layer.name = layer.name.replace("fc", "dense")
    save_model_file(dataclasses.replace(mlp, layers=tuple(layers)), tmp_path / "net.npz")
    np.savez(tmp_path / "data.npz", x=mlp.x_test[:60], y=mlp.y_test[:60])
    head = "[study]\nworkload = 'net.npz'\ndata = 'data.npz'\n"
    path = tmp_path / "ok.toml"
    path.write_text(head + "[search]\nrow_prune_layers.dense2 = [0.0, 0.5]\n")
    assert load_study(path).layer_columns() == ["row_prune_layers.dense2"]
    path.write_text(head + "[search]\nrow_prune_layers.fc2 = [0.0, 0.5]\n")
    with pytest.raises(StudyFileError, match=r"search.row_prune_layers.fc2: 'fc2' is not a layer of net.npz; "
                                             r"allowed layers: dense1, dense2, dense3"):
        load_study(path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["fc1", "fc2", "fc3", "fc4", "FC1", "block0.query", ""]),
                       st.one_of(fractions, st.floats(-1, 2), st.lists(st.floats(-0.5, 1.5), min_size=1, max_size=3),
                                 st.text(max_size=3), st.none()), min_size=1, max_size=4),
       st.sampled_from(["row_prune_layers", "col_prune_layers"]), st.booleans())
def test_random_per_layer_tables_parse_or_fail_with_a_key(table, field, searched):
    """Any table either gives a valid study, whose every candidate makes a valid Protection, or one
    StudyFileError naming the section and field (and, for a layer name, the allowed names)."""
    table = {k: v for k, v in table.items() if v is not None}
    allowed = MLP_LAYERS if field == "row_prune_layers" else MLP_LAYERS[:-1]
    data = {"study": {"workload": "mlp-digits"}, "search": {"adc_bits": [6]}}
    if searched:
        data["search"][field] = {k: v if isinstance(v, list) else [v] for k, v in table.items()}
    else:
        data["protection"] = {field: table}
    try:
        spec = parse_study(data)
    except StudyFileError as exc:
        assert exc.key.startswith(f"{'search' if searched else 'protection'}.{field}")
        if "is not a layer" in exc.problem or "never pruned" in exc.problem:
            assert f"allowed layers: {', '.join(allowed)}" in exc.problem
        return
    assert set(table) <= set(allowed)
    for name, value in table.items():
        for fraction in (value if isinstance(value, list) else [value]):
            assert isinstance(fraction, (int, float)) and not isinstance(fraction, bool) and 0 <= fraction <= 0.9
    assert spec.layer_columns() == [f"{field}.{layer}" for layer in allowed if layer in table]


# ------------------------------------------------------------------------------------ workload metrics

def test_builtins_declare_what_they_load(mlp):
    assert workload_info("mlp-digits") == mlp.info()
    assert workload_info("mlp-digits").layers == MLP_LAYERS
    assert workload_info("cnn-digits") == load_workload("cnn-digits").info()
    minilm = workload_info("minilm-l6")
    assert minilm.layers == tuple(f"block{b}.{kind}" for b in range(BLOCKS) for kind in LINEAR_KINDS)
    assert minilm.metrics == TransformerWorkload.metric_names
    # the transformer's metrics() keys are what it declares (retrieval numbers plus cosine fidelity)
    reported = {"cosine_fidelity", *retrieval_metrics(np.eye(3), np.array([0, 1, 0]), np.array([0, 0, -1]))}
    assert reported == set(TransformerWorkload.metric_names)


def test_minilm_block_count_matches_its_config():
    from dse.workloads import transformer

    # The setup (make) always installs the model package: a missing one is a failure, not a skip.
    config = json.loads((transformer.model_dir() / "config.json").read_text())
    assert config["num_hidden_layers"] == BLOCKS


def test_workload_metrics_are_allowed_and_unknown_metrics_list_them():
    spec = parse_study({"study": {"workload": "minilm-l6"}, "search": {"adc_bits": [6, 8]},
                        "objectives": {"cosine_fidelity_mean": "maximize", "energy_pj": "minimize"},
                        "constraints": {"ideal_paraphrase_top1": ">= 0.5", "topic_nn_top1_mean": ">= 0.3"}})
    assert [o.metric for o in spec.objectives] == ["cosine_fidelity_mean", "energy_pj"]
    assert [c.metric for c in spec.constraints] == ["ideal_paraphrase_top1", "topic_nn_top1_mean"]
    with pytest.raises(StudyFileError) as info:
        parse_study({"study": {"workload": "minilm-l6"}, "search": {"adc_bits": [6]},
                     "objectives": {"cosine_fidelity": "maximize"}})
    assert info.value.key == "objectives.cosine_fidelity"
    assert ("not a metric; allowed: minilm-l6's own cosine_fidelity_mean, ideal_cosine_fidelity, "
            "paraphrase_top1_mean, ideal_paraphrase_top1, topic_nn_top1_mean, ideal_topic_nn_top1; "
            "and accuracy_mean") in info.value.problem
    with pytest.raises(StudyFileError) as info:  # another workload's metric
        parse_study({"study": {"workload": "mlp-digits"}, "search": {"adc_bits": [6]},
                     "constraints": {"cosine_fidelity_mean": ">= 0.9"}})
    assert info.value.key == "constraints.cosine_fidelity_mean"
    assert "energy_pj" in info.value.problem and "(mlp-digits reports no metrics of its own)" in info.value.problem


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["minilm-l6", "mlp-digits"]),
       st.one_of(st.sampled_from(METRICS), st.sampled_from(workload_metrics(TransformerWorkload.metric_names)),
                 st.sampled_from(["cosine_fidelity", "margin_mean", "accuracy", "Energy_pj"]), st.text(max_size=8)))
def test_a_metric_is_accepted_exactly_when_the_workload_reports_it(workload, metric):
    allowed = set(METRICS) | set(workload_metrics(workload_info(workload).metrics))
    for section, value in (("objectives", "minimize"), ("constraints", "<= 1")):
        data = {"study": {"workload": workload}, "search": {"adc_bits": [6]}, section: {metric: value}}
        try:
            parse_study(data)
            accepted = True
        except StudyFileError as exc:
            accepted = False
            assert exc.problem.startswith("not a metric; allowed: ")
            assert all(name in exc.problem for name in allowed)
        assert accepted == (metric in allowed)


class MarginWorkload(Workload):
    """mlp-digits that also reports the mean logit margin between its two best classes."""

    metric_names = ("margin",)

    def metrics(self, outputs, x, y):
        top = np.sort(np.asarray(outputs), axis=-1)
        return {"margin": float(np.mean(top[:, -1] - top[:, -2]))}


@pytest.fixture
def margin_workload(mlp, monkeypatch):
    """A registered built-in with a metric of its own, a small test split (fast)."""
    name = "test-margin-digits"
    values = {f.name: getattr(mlp, f.name) for f in dataclasses.fields(mlp)}
    values.update(name=name, x_test=mlp.x_test[:120], y_test=mlp.y_test[:120])
    workload = MarginWorkload(**values)
    monkeypatch.setitem(builtin._REGISTRY, name, lambda cache_dir: workload)
    monkeypatch.setitem(builtin._INFO, name, lambda: dataclasses.replace(
        builtin.sequential_info(mlp.layers), metrics=MarginWorkload.metric_names))
    return name


def test_declared_metrics_are_what_the_evaluation_reports(margin_workload):
    from dse.config import FaultScenario, HardwareConfig

    result = evaluate_design(margin_workload, HardwareConfig(), FaultScenario(n_chips=1), Protection())
    own = set(workload_metrics(workload_info(margin_workload).metrics))
    assert own == {"margin_mean", "ideal_margin"}
    assert own <= set(result.metrics) and set(result.metrics) - own <= set(METRICS)


def completed(folder: Path, name: str) -> list:
    storage = open_storage(None, folder)
    return optuna.load_study(study_name=name, storage=storage).get_trials(states=(TrialState.COMPLETE,))


def test_workload_metric_as_objective_and_constraint_through_the_cli(margin_workload, tmp_path, capsys):
    path = tmp_path / "margin.toml"
    path.write_text(textwrap.dedent(f"""
        [study]
        name = "margin"
        workload = "{margin_workload}"
        trials = 2
        [sampler]
        name = "grid"
        [faults]
        sa0_rate = 0.01
        sa1_rate = 0.04
        n_chips = 2
        [search]
        adc_bits = [5, 8]
        [objectives]
        margin_mean = "maximize"
        energy_pj = "minimize"
        [constraints]
        ideal_margin = ">= 1.0"
    """))
    assert cli.main(["run", str(path), "--results", str(tmp_path), "--no-progress"]) == 0
    assert "2 completed" in capsys.readouterr().out
    folder = tmp_path / "margin"
    trials = read_trials(folder)
    assert len(trials) == 2 and trials["margin_mean"].dtype == np.float64
    assert (trials["margin_mean"] > 0).all() and (trials["ideal_margin"] > 0).all()
    assert (trials["constraint_ideal_margin"] == 1.0 - trials["ideal_margin"]).all()
    assert (trials["feasible"] == (trials["ideal_margin"] >= 1.0)).all()
    values = {t.number: t.values for t in completed(folder, "margin")}
    for row in trials.itertuples():
        assert values[row.trial_number] == [row.margin_mean, row.energy_pj]  # what Optuna optimised
    assert read_metadata(folder)["objectives"] == [["margin_mean", "maximize"], ["energy_pj", "minimize"]]

    bad = tmp_path / "bad.toml"
    bad.write_text(path.read_text().replace('name = "margin"', 'name = "bad"').replace("margin_mean =", "margin ="))
    assert cli.main(["run", str(bad), "--results", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: objectives.margin: not a metric; allowed: {margin_workload}'s own margin_mean, ideal_margin;" in err
    assert not (tmp_path / "bad").exists()


# ------------------------------------------------------------------------------------ end to end

PER_LAYER_STUDY = """
[study]
name = "per-layer"
workload = "mlp-digits"
trials = 3

[sampler]
name = "grid"
seed = 2

[faults]
sa0_rate = 0.002
sa1_rate = 0.008
n_chips = 2

[protection]
row_prune = 0.1                # every layer ...
row_prune_layers.fc2 = 0.5     # ... but fc2

[search.row_prune_layers]
fc1 = [0.0, 0.25, 0.5]

[objectives]
accuracy_mean = "maximize"
energy_pj = "minimize"
"""


def test_per_layer_study_runs_through_the_cli(tmp_path, capsys):
    path = tmp_path / "per-layer.toml"
    path.write_text(PER_LAYER_STUDY)
    assert cli.main(["run", str(path), "--results", str(tmp_path), "--no-progress"]) == 0
    assert "3 completed" in capsys.readouterr().out
    folder = tmp_path / "per-layer"

    schema = pq.read_schema(folder / "trials.parquet")
    names = schema.names
    assert names[names.index("col_prune") + 1: names.index("col_prune") + 3] == [
        "row_prune_layers.fc1", "row_prune_layers.fc2"]
    assert str(schema.field("row_prune_layers.fc1").type) == "double"
    assert str(schema.field("row_prune_layers.fc2").type) == "double"
    assert "row_prune_layers" not in names

    trials = read_trials(folder)
    done = completed(folder, "per-layer")
    assert sorted(trials["trial_number"]) == sorted(t.number for t in done)  # one row per completed trial
    assert sorted(trials["row_prune_layers.fc1"]) == [0.0, 0.25, 0.5]   # the grid, each an Optuna parameter
    assert all(set(t.params) == {"row_prune_layers.fc1"} for t in done)
    assert (trials["row_prune_layers.fc2"] == 0.5).all() and (trials["row_prune"] == 0.1).all()
    assert read_metadata(folder)["searched"] == ["row_prune_layers.fc1"]

    # the pruned layers really lost those rows: fc1 its searched fraction, fc2 its fixed override,
    # fc3 the global fraction
    layers = read_layers(folder).merge(trials[["trial_number", "row_prune_layers.fc1"]], on="trial_number")
    fc1 = layers[layers["name"] == "fc1"]
    assert (fc1["in_features"] == [kept(64, f) for f in fc1["row_prune_layers.fc1"]]).all()
    assert (layers.loc[layers["name"] == "fc2", "in_features"] == kept(256, 0.5)).all()
    assert (layers.loc[layers["name"] == "fc3", "in_features"] == kept(128, 0.1)).all()
    assert (fc1.sort_values("row_prune_layers.fc1")["in_features"].diff().dropna() < 0).all()

    # dse query reads the columns (backticks around names with dots, as pandas wants)
    assert cli.main(["query", str(folder), "`row_prune_layers.fc1` > 0.2"]) == 0
    out = capsys.readouterr().out
    assert "row_prune_layers.fc1" in out.splitlines()[0] and len(out.splitlines()) == 3  # header, 0.25, 0.5


def test_unknown_layer_fails_before_any_trial_through_the_cli(tmp_path, capsys):
    path = tmp_path / "typo.toml"
    path.write_text(PER_LAYER_STUDY.replace("fc1 = [0.0", "fc_1 = [0.0"))
    assert cli.main(["run", str(path), "--results", str(tmp_path / "results"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: search.row_prune_layers.fc_1: 'fc_1' is not a layer of mlp-digits; " \
           "allowed layers: fc1, fc2, fc3" in err
    assert not (tmp_path / "results").exists()
