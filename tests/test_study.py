"""The study machinery: study files, running and resuming, Parquet tables, the CLI commands.

A fast analytic objective stands in for the simulator here, so these tests check the machinery
(Optuna, storage, tables, commands) in seconds; ``test_study_e2e.py`` runs the real evaluation.
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState

from dse import cli
from dse.study.objective import TrialResult
from dse.study.folder import TRIALS_FILE
from dse.study.results import pareto_mask, read_layers, read_metadata, read_trials
from dse.study.schema import TRIALS_COLUMNS
from dse.experiments.bench import bench_study
from dse.study.folder import run_lock as _run_lock
from dse.study import (Range, StudyFileError, known_workloads, load_study, open_storage,
                       parse_study, run_study)

ROOT = Path(__file__).resolve().parents[1]


def fake_objective(workload, hw, faults, protection, analog=None) -> TrialResult:
    """Deterministic trade-offs: more copies and ADC bits buy accuracy with energy and area."""
    accuracy = (0.98 - 0.3 * protection.row_prune ** 2 - 3 * faults.total_rate / protection.dup_copies
                - 0.2 / hw.adc_bits)
    energy_pj = 1e4 * hw.adc_bits ** 1.5 * protection.dup_copies * (1 - 0.5 * protection.row_prune)
    area_mm2 = 0.01 * (hw.rows * hw.cols / 16384) * (1 - protection.row_prune) * 2.0 ** hw.adc_bits / 256
    metrics = {
        "accuracy_mean": accuracy, "accuracy_std": 0.01, "accuracy_ci95": 0.007, "accuracy_min": accuracy - 0.02,
        "float_accuracy": 0.98, "ideal_accuracy": 0.975, "crossbars": 4 * protection.dup_copies,
        "energy_pj": energy_pj, "area_um2": area_mm2 * 1e6, "area_mm2": area_mm2, "latency_ns": 800.0,
        "adc_conversions": 1000 * hw.adc_bits, "energy_adc_pj": 0.6 * energy_pj,
    }
    layers = [{"name": "fc1", "layer_crossbars": 2, "in_features": 64},
              {"name": "fc2", "layer_crossbars": 2, "in_features": 32}]
    return TrialResult(metrics, layers)


def refusing_objective(workload, hw, faults, protection, analog=None) -> TrialResult:
    """Like the simulator refusing a layout it cannot build: three copies never fit."""
    if protection.dup_copies == 3:
        raise ValueError("dup_copies 3 needs more free columns than pruning leaves")
    return fake_objective(workload, hw, faults, protection)


STUDY = """
[study]
name = "tiny"
workload = "mlp-digits"
trials = 8

[sampler]
name = "nsga2"
seed = 3
population_size = 4

[hardware]
rows = 64
cols = 64
cols_per_adc = 64

[faults]
sa0_rate = 0.01
sa1_rate = 0.04
n_chips = 2

[search]
row_prune = { low = 0.0, high = 0.5 }
dup_copies = [1, 2, 3]
adc_bits = { low = 4, high = 8 }

[constraints]
accuracy_mean = ">= 0.5"
"""


def write_study(tmp_path: Path, text: str = STUDY, name: str = "study.toml") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def run_tiny(tmp_path: Path, text: str = STUDY, objective=fake_objective, **kwargs):
    spec = load_study(write_study(tmp_path, text))
    return run_study(spec, results=tmp_path / "results", objective=objective, progress=False, **kwargs)


def completed_numbers(results: Path, study_name: str) -> list[int]:
    storage = open_storage(None, results)
    study = optuna.load_study(study_name=study_name, storage=storage)
    return sorted(t.number for t in study.get_trials(states=(TrialState.COMPLETE,)))


# ------------------------------------------------------------------------------------------ study files

@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "studies").glob("*.toml")))
def test_shipped_studies_are_valid(name):
    spec = load_study(ROOT / "studies" / f"{name}.toml")
    assert spec.name == name
    assert spec.workload in known_workloads()
    assert [o.metric for o in spec.objectives] == ["accuracy_mean", "energy_pj", "area_mm2"]


def test_one_study_per_builtin_workload():
    workloads = {load_study(p).workload for p in (ROOT / "studies").glob("*.toml")}
    assert workloads >= set(known_workloads())


def test_defaults_objectives_and_sampler():
    spec = parse_study({"study": {"workload": "mlp-digits"}, "search": {"adc_bits": [4, 8]}})
    assert [(o.metric, o.direction) for o in spec.objectives] == [
        ("accuracy_mean", "maximize"), ("energy_pj", "minimize"), ("area_mm2", "minimize")]
    assert spec.sampler.name == "nsga2" and spec.trials == 20
    assert spec.scenarios[0].name == "default"


def test_search_space_kinds():
    spec = parse_study({"study": {"workload": "mlp-digits"}, "search": {
        "row_prune": {"low": 0, "high": 0.5, "step": 0.1},
        "adc_bits": {"low": 4, "high": 10},
        "cols_per_adc": {"low": 8, "high": 128, "log": True},
        "mapping": ["differential", "offset"],
        "dup_copies": [1, 2, 3],
    }})
    kinds = {p.name: p for p in spec.search}
    assert kinds["row_prune"].low == 0.0 and isinstance(kinds["row_prune"].low, float)
    assert kinds["adc_bits"].integer and not kinds["row_prune"].integer
    assert kinds["cols_per_adc"].log
    assert kinds["row_prune"].grid() == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert Range("x", 0.0, 0.55, 0.2).grid() == [0.0, 0.2, 0.4]  # never above high
    assert kinds["mapping"].values == ("differential", "offset")


BAD = [
    ("[study]\nworkload = 'mlp-digits'\n[search]\nadc_bit = [4, 8]\n", "search.adc_bit", "adc_bits"),
    ("[study]\nworkload = 'resnet'\n[search]\nadc_bits = [4]\n", "study.workload", "mlp-digits"),
    ("[study]\n[search]\nadc_bits = [4]\n", "study.workload", "missing; allowed: mlp-digits"),
    ("[study]\nworkload = 'mlp-digits'\ntimeout_s = -5\n[search]\nadc_bits = [4]\n", "study.timeout_s", "positive"),
    ("[study]\nworkload = 'mlp-digits'\ntrial = 3\n[search]\nadc_bits = [4]\n", "study.trial", "trials"),
    ("[study]\nworkload = 'mlp-digits'\n[search]\nadc_bits = [4, 30]\n", "search.adc_bits", "1..24"),
    ("[study]\nworkload = 'mlp-digits'\n[search]\nmapping = ['diagonal']\n", "search.mapping", "differential"),
    ("[study]\nworkload = 'mlp-digits'\n[search]\nadc_bits = { low = 4.5, high = 8 }\n", "search.adc_bits", "int"),
    ("[study]\nworkload = 'mlp-digits'\n[sampler]\nname = 'cmaes'\n[search]\nadc_bits = [4]\n", "sampler.name", "nsga2"),
    ("[study]\nworkload = 'mlp-digits'\n[sampler]\nname = 'grid'\n[search]\nrow_prune = { low = 0.0, high = 0.5 }\n",
     "search.row_prune", "step"),
    ("[study]\nworkload = 'mlp-digits'\n[objectives]\nenergy = 'minimize'\n[search]\nadc_bits = [4]\n",
     "objectives.energy", "energy_pj"),
    ("[study]\nworkload = 'mlp-digits'\n[objectives]\nenergy_pj = 'smallest'\n[search]\nadc_bits = [4]\n",
     "objectives.energy_pj", "minimize"),
    ("[study]\nworkload = 'mlp-digits'\n[constraints]\naccuracy_mean = '> 0.9'\n[search]\nadc_bits = [4]\n",
     "constraints.accuracy_mean", ">="),
    ("[study]\nworkload = 'mlp-digits'\n[faults]\nsa0_rate = 1.5\n[search]\nadc_bits = [4]\n", "faults.sa0_rate", "[0.0, 1.0]"),
    ("[study]\nworkload = 'mlp-digits'\n[hardware]\nadc_bits = 8\n[search]\nadc_bits = [4]\n", "search.adc_bits", "[hardware]"),
    ("[study]\nworkload = 'mlp-digits'\n[search]\nsa0_rate = [0.1]\n", "search.sa0_rate", "row_prune"),
    ("[study]\nworkload = 'mlp-digits'\n[search]\n", "search", "adc_bits"),
    ("[study]\nworkload = 'mlp-digits'\n[[faults]]\nsa0_rate = 0.1\n[[faults]]\nsa0_rate = 0.2\n[search]\nadc_bits = [4]\n",
     "faults[0].name", "name"),
    ("[study]\nworkload = 'mlp-digits'\n[searchspace]\n", "searchspace", "search"),
    ("[study\n", "(syntax)", "TOML"),
]


@pytest.mark.parametrize("text,key,allowed", BAD)
def test_bad_study_names_file_key_and_allowed_values(tmp_path, text, key, allowed):
    path = write_study(tmp_path, text)
    with pytest.raises(StudyFileError) as info:
        load_study(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}:"), message
    assert allowed in message


def test_searched_values_may_depend_on_each_other():
    # cols_per_adc = 256 is only valid with cols = 256: allowed, since some combination works
    spec = parse_study({"study": {"workload": "mlp-digits"},
                        "search": {"cols": [128, 256], "cols_per_adc": [128, 256]}})
    assert len(spec.search) == 2
    with pytest.raises(StudyFileError, match="search.cols_per_adc: 512"):
        parse_study({"study": {"workload": "mlp-digits"},
                     "search": {"cols": [128, 256], "cols_per_adc": [128, 512]}})


def test_bad_study_fails_before_any_trial_and_leaves_results_alone(tmp_path, capsys):
    results = tmp_path / "results"
    run_tiny(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in (results / "tiny").rglob("*")}
    bad = write_study(tmp_path, STUDY.replace("adc_bits = { low = 4, high = 8 }", "adc_bits = [4, 99]"), "bad.toml")
    code = cli.main(["run", str(bad), "--results", str(results), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{bad}: search.adc_bits:" in err and "1..24" in err
    assert {p: p.stat().st_mtime_ns for p in (results / "tiny").rglob("*")} == before


def test_cli_rejects_bad_workers_before_writing(tmp_path, capsys):
    path = write_study(tmp_path)
    code = cli.main(["run", str(path), "--results", str(tmp_path / "r"), "--workers", "0", "--no-progress"])
    assert code == 2 and "workers" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------------------------------ running

def test_cli_run_writes_documented_tables(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("dse.study.run.evaluate_design", fake_objective)
    path = write_study(tmp_path)
    results = tmp_path / "results"
    assert cli.main(["run", str(path), "--results", str(results), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "8 completed" in out and "non-dominated" in out

    folder = results / "tiny"
    trials = pd.read_parquet(folder)  # the folder itself reads as the trials table
    assert len(trials) == 8
    assert [c.name for c in TRIALS_COLUMNS] == list(trials.columns[: len(TRIALS_COLUMNS)])
    assert {"constraint_accuracy_mean", "energy_adc_pj"} <= set(trials.columns)
    assert trials["trial_number"].tolist() == completed_numbers(folder, "tiny")
    assert trials["adc_bits"].dtype == np.int64 and trials["row_prune"].dtype == np.float64
    assert trials["mapping"].eq("differential").all() and trials["rows"].eq(64).all()
    assert trials["sampler"].eq("nsga2").all() and trials["package_version"].notna().all()
    assert (trials["feasible"] == (trials["accuracy_mean"] >= 0.5)).all()
    assert (trials["constraint_accuracy_mean"] == 0.5 - trials["accuracy_mean"]).all()

    layers = read_layers(folder)
    assert len(layers) == 2 * len(trials)
    assert set(layers.columns) >= {"study", "scenario", "trial_number", "name", "layer_crossbars"}
    assert read_metadata(folder)["objectives"] == [["accuracy_mean", "maximize"], ["energy_pj", "minimize"],
                                                   ["area_mm2", "minimize"]]


def test_trial_numbers_are_optuna_user_attributes(tmp_path):
    run_tiny(tmp_path)
    storage = open_storage(None, tmp_path / "results" / "tiny")
    trial = optuna.load_study(study_name="tiny", storage=storage).get_trials(states=(TrialState.COMPLETE,))[0]
    for name in ("accuracy_mean", "energy_pj", "area_mm2", "crossbars", "wall_time_s", "package_version"):
        assert name in trial.user_attrs
    assert trial.constraints["accuracy_mean"] == pytest.approx(0.5 - trial.user_attrs["accuracy_mean"])


def test_resume_adds_trials_without_duplicate_rows(tmp_path):
    first = run_tiny(tmp_path)
    assert first.scenarios[0].new_trials == 8
    again = run_tiny(tmp_path)  # the budget is met: nothing to do
    assert again.scenarios[0].new_trials == 0
    more = run_tiny(tmp_path, STUDY.replace("trials = 8", "trials = 13"))
    assert more.scenarios[0].new_trials == 5
    folder = tmp_path / "results" / "tiny"
    trials = read_trials(folder)
    assert len(trials) == 13 and trials["trial_number"].is_unique
    assert trials["trial_number"].tolist() == completed_numbers(folder, "tiny")


def test_resume_after_a_killed_run(tmp_path):
    run_tiny(tmp_path, STUDY.replace("trials = 8", "trials = 3"))
    folder = tmp_path / "results" / "tiny"
    study = optuna.load_study(study_name="tiny", storage=open_storage(None, folder))
    study.ask()  # a trial left RUNNING, as a killed worker leaves it
    (folder / ".trials.parquet.999.tmp").write_bytes(b"half a file")  # a write cut short
    assert len(pd.read_parquet(folder)) == 3  # dot files are ignored: the table still reads
    summary = run_tiny(tmp_path, STUDY.replace("trials = 8", "trials = 6"))
    states = [t.state for t in study.get_trials()]
    assert states.count(TrialState.FAIL) == 1 and states.count(TrialState.COMPLETE) == 6
    assert summary.scenarios[0].completed == 6
    assert read_trials(folder)["trial_number"].tolist() == completed_numbers(folder, "tiny")


def test_one_run_per_results_folder(tmp_path):
    folder = tmp_path / "results" / "tiny"
    folder.mkdir(parents=True)
    with _run_lock(folder):
        with pytest.raises(ValueError, match="another `dse run`"):
            run_tiny(tmp_path)
    assert not (folder / TRIALS_FILE).exists()
    run_tiny(tmp_path)  # the lock is free again
    assert len(read_trials(folder)) == 8


def test_changed_search_space_is_refused_on_resume(tmp_path):
    run_tiny(tmp_path, STUDY.replace("trials = 8", "trials = 2"))
    with pytest.raises(ValueError, match="search.dup_copies: changed"):
        run_tiny(tmp_path, STUDY.replace("dup_copies = [1, 2, 3]", "dup_copies = [1, 2]"))
    assert len(read_trials(tmp_path / "results" / "tiny")) == 2


def test_same_file_and_seed_give_the_same_rows(tmp_path):
    columns = ["trial_number", "row_prune", "dup_copies", "adc_bits", "accuracy_mean", "energy_pj", "area_mm2"]
    run_tiny(tmp_path / "a")
    run_tiny(tmp_path / "b")
    a = read_trials(tmp_path / "a" / "results" / "tiny")[columns]
    b = read_trials(tmp_path / "b" / "results" / "tiny")[columns]
    pd.testing.assert_frame_equal(a, b)
    run_tiny(tmp_path / "c", STUDY.replace("seed = 3", "seed = 4"))
    c = read_trials(tmp_path / "c" / "results" / "tiny")[columns]
    assert not a["row_prune"].equals(c["row_prune"])


def test_repeated_designs_are_reused_not_reevaluated(tmp_path):
    calls = []

    def counting(*args, **kwargs):
        calls.append(args)
        return fake_objective(*args, **kwargs)

    text = STUDY.replace("row_prune = { low = 0.0, high = 0.5 }", "").replace("trials = 8", "trials = 20")
    run_tiny(tmp_path, text, objective=counting)
    trials = read_trials(tmp_path / "results" / "tiny")
    fresh = trials[trials["reused_from"].isna()]
    assert len(calls) == len(fresh) <= 15  # 3 x 5 distinct designs
    assert not fresh.duplicated(["dup_copies", "adc_bits"]).any()
    reused = trials[trials["reused_from"].notna()]
    assert len(reused) == 20 - len(fresh) and not reused["is_pareto"].any()


def test_invalid_designs_are_pruned_not_tabled(tmp_path):
    # cols_per_adc 128 does not fit cols 64, and the objective refuses three copies
    text = STUDY.replace("cols = 64\ncols_per_adc = 64\n", "").replace("trials = 8", "trials = 12")
    text = text.replace("[search]\n", "[search]\ncols = [64, 128]\ncols_per_adc = [32, 128]\n")
    summary = run_tiny(tmp_path, text, objective=refusing_objective)
    trials = read_trials(tmp_path / "results" / "tiny")
    s = summary.scenarios[0]
    assert s.invalid > 0 and s.invalid + s.completed == 12
    assert len(trials) == s.completed
    assert not ((trials["cols_per_adc"] > trials["cols"]) | (trials["dup_copies"] == 3)).any()
    assert s.invalid_example


def test_searching_crossbar_width_alone_needs_no_adc_sharing_pair(tmp_path):
    # cols_per_adc left out follows narrow crossbars (min(128, cols)), so no design is invalid
    text = STUDY.replace("cols = 64\ncols_per_adc = 64\n", "").replace("[search]\n", "[search]\ncols = [32, 64, 256]\n")
    summary = run_tiny(tmp_path, text)
    trials = read_trials(tmp_path / "results" / "tiny")
    assert summary.scenarios[0].invalid == 0 and len(trials) == 8
    assert set(trials["cols"]) > {32} or set(trials["cols"]) > {64}
    assert (trials["cols_per_adc"] == np.minimum(128, trials["cols"])).all()


def test_grid_sampler_covers_the_grid_once(tmp_path):
    text = STUDY.replace('name = "nsga2"', 'name = "grid"').replace("population_size = 4\n", "").replace(
        "row_prune = { low = 0.0, high = 0.5 }", "row_prune = { low = 0.0, high = 0.2, step = 0.1 }").replace(
        "adc_bits = { low = 4, high = 8 }", "adc_bits = [4, 8]").replace("trials = 8", "trials = 100")
    summary = run_tiny(tmp_path, text)
    trials = read_trials(tmp_path / "results" / "tiny")
    assert summary.scenarios[0].new_trials == len(trials) == 3 * 3 * 2
    assert not trials.duplicated(["row_prune", "dup_copies", "adc_bits"]).any()


def test_grid_with_workers_reproduces_the_evaluated_designs(tmp_path):
    text = STUDY.replace('name = "nsga2"', 'name = "grid"').replace("population_size = 4\n", "").replace(
        "row_prune = { low = 0.0, high = 0.5 }", "row_prune = [0.0, 0.2]").replace(
        "adc_bits = { low = 4, high = 8 }", "adc_bits = [4, 6, 8]").replace("trials = 8", "trials = 12")
    columns = ["trial_number", "row_prune", "dup_copies", "adc_bits", "accuracy_mean"]
    a = read_trials(run_tiny(tmp_path / "a", text, workers=2).results_dir)[columns]
    b = read_trials(run_tiny(tmp_path / "b", text, workers=2).results_dir)[columns]
    pd.testing.assert_frame_equal(a, b)  # trial n is grid point n whichever worker ran it
    assert not a.duplicated(["row_prune", "dup_copies", "adc_bits"]).any()


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_other_samplers_run(tmp_path, sampler):
    text = STUDY.replace('name = "nsga2"', f'name = "{sampler}"').replace("population_size = 4\n", "")
    assert len(read_trials(run_tiny(tmp_path, text).results_dir)) == 8


def noisy_objective(workload, hw, faults, protection, analog=None) -> TrialResult:
    result = fake_objective(workload, hw, faults, protection)
    result.metrics["accuracy_mean"] -= 2 * analog.variation  # analog effects reach the objective
    return result


def test_scenarios_carry_analog_effects(tmp_path):
    text = STUDY.replace("n_chips = 2\n", "n_chips = 2\nvariation = 0.05\nvariation_table = []\n")
    spec = load_study(write_study(tmp_path, text))
    assert spec.scenarios[0].analog.variation == 0.05
    clean = read_trials(run_tiny(tmp_path / "clean").results_dir)
    noisy = read_trials(run_tiny(tmp_path / "noisy", text, objective=noisy_objective).results_dir)
    assert (noisy["variation"] == 0.05).all() and (clean["variation"] == 0.0).all()
    assert (noisy["variation_table"] == "[]").all()  # per-level tables are JSON text
    assert np.allclose(noisy["accuracy_mean"], clean["accuracy_mean"] - 0.1)
    bad = write_study(tmp_path, STUDY.replace("n_chips = 2\n", "n_chips = 2\nread_noise = -1\n"), "bad.toml")
    with pytest.raises(StudyFileError, match=r"faults.read_noise: read_noise must be in"):
        load_study(bad)


def test_scenarios_are_separate_studies(tmp_path):
    text = STUDY.replace("[faults]\nsa0_rate = 0.01\nsa1_rate = 0.04\nn_chips = 2\n", """
[[faults]]
name = "low"
sa0_rate = 0.001
sa1_rate = 0.004

[[faults]]
name = "high"
sa0_rate = 0.02
sa1_rate = 0.08
""")
    summary = run_tiny(tmp_path, text)
    trials = read_trials(summary.results_dir)
    assert trials.groupby("scenario").size().to_dict() == {"low": 8, "high": 8}
    assert set(trials.loc[trials["scenario"] == "high", "sa1_rate"]) == {0.08}
    assert completed_numbers(summary.results_dir, "tiny:low") == list(range(8))


def test_workers_share_one_study(tmp_path):
    summary = run_tiny(tmp_path, STUDY.replace("trials = 8", "trials = 10"), workers=2)
    folder = tmp_path / "results" / "tiny"
    trials = read_trials(folder)
    assert summary.scenarios[0].new_trials == 10
    assert len(trials) == 10 and trials["trial_number"].tolist() == completed_numbers(folder, "tiny")


def test_rdb_storage_url_runs_and_resumes(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"  # the same code path as postgresql://
    run_tiny(tmp_path, STUDY.replace("trials = 8", "trials = 3"), storage=url)
    summary = run_tiny(tmp_path, STUDY.replace("trials = 8", "trials = 5"), storage=url)
    assert summary.storage == url and summary.scenarios[0].new_trials == 2
    folder = tmp_path / "results" / "tiny"
    assert not (folder / "_optuna.journal").exists()
    study = optuna.load_study(study_name="tiny", storage=url)
    assert read_trials(folder)["trial_number"].tolist() == [t.number for t in study.get_trials(
        states=(TrialState.COMPLETE,))] == list(range(5))


def test_bench_study_reports_trials_per_minute(tmp_path):
    path = write_study(tmp_path)
    report = bench_study(path, trials=4, workers=(1,), objective=fake_objective)
    assert report["study"] == "tiny" and report["trials"] == 4
    (run,) = report["runs"]
    assert run["workers"] == 1 and run["trials"] == 4 and run["trials_per_min"] > 0


def test_bench_study_prints_a_table(monkeypatch, capsys):
    report = {"study": "quickstart", "trials": 16, "runs": [
        {"workers": 1, "trials": 16, "wall_s": 30.0, "trials_per_min": 32.0},
        {"workers": 2, "trials": 16, "wall_s": 16.0, "trials_per_min": 60.0}]}
    monkeypatch.setattr("dse.experiments.bench.bench_study", lambda study: report)
    assert cli.main(["bench", "study"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "quickstart" in lines[0] and lines[1].split() == ["workers", "trials", "wall", "s", "trials/min", "speedup"]
    assert lines[2].split() == ["1", "16", "30.0", "32.0", "1.00x"]
    assert lines[3].split() == ["2", "16", "16.0", "60.0", "1.88x"]


# ------------------------------------------------------------------------------------------ commands

@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished study the command tests only read."""
    return run_tiny(tmp_path_factory.mktemp("finished"), STUDY.replace("trials = 8", "trials = 16")).results_dir


def test_query_filters_sorts_and_writes_csv(finished, capsys, tmp_path):
    assert cli.main(["query", str(finished), "accuracy_mean > 0.6 and energy_pj < 3e5", "--sort", "energy_pj",
                     "--csv"]) == 0
    out = capsys.readouterr().out
    rows = pd.read_csv(pd.io.common.StringIO(out))
    expected = read_trials(finished).query("accuracy_mean > 0.6 and energy_pj < 3e5")
    assert len(rows) == len(expected) and rows["energy_pj"].is_monotonic_increasing
    assert "datetime_start" in rows.columns  # CSV carries every column


def test_query_bad_expression_lists_columns(finished, capsys):
    assert cli.main(["query", str(finished), "acuracy > 1"]) == 2
    err = capsys.readouterr().err
    assert "acuracy" in err and "accuracy_mean" in err


def test_query_layers_table(finished, capsys):
    assert cli.main(["query", str(finished), "name == 'fc2'", "--layers", "--csv"]) == 0
    rows = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert len(rows) == 16 and set(rows["name"]) == {"fc2"}


def test_pareto_writes_png_and_svg(finished, tmp_path):
    assert cli.main(["pareto", str(finished)]) == 0
    assert (finished / "_pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(pd.read_parquet(finished)) == 16  # the picture does not disturb the table
    svg = tmp_path / "front.svg"
    assert cli.main(["pareto", str(finished), "--x", "energy_pj", "--y", "accuracy_mean", "-o", str(svg)]) == 0
    assert "<svg" in svg.read_text()[:500]


def test_pareto_rejects_unknown_columns(finished, capsys):
    assert cli.main(["pareto", str(finished), "--x", "joules", "--y", "accuracy_mean"]) == 2
    assert "joules" in capsys.readouterr().err


def test_show_summarises(finished, capsys):
    assert cli.main(["show", str(finished)]) == 0
    out = capsys.readouterr().out
    trials = read_trials(finished)
    assert f"{len(trials)} completed trial(s)" in out
    assert f"{int(trials['is_pareto'].sum())} non-dominated" in out
    assert "best energy_pj" in out


def test_commands_refuse_a_folder_without_results(tmp_path, capsys):
    assert cli.main(["show", str(tmp_path)]) == 2
    assert TRIALS_FILE in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ Pareto maths

def test_pareto_mask_small_example():
    values = np.array([[0.9, 10.0], [0.8, 5.0], [0.7, 7.0], [0.9, 12.0]])
    assert pareto_mask(values, ["maximize", "minimize"]).tolist() == [True, True, False, False]


points = st.lists(st.tuples(*(st.floats(0, 1, allow_nan=False),) * 3), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(points)
def test_pareto_points_are_not_dominated_and_the_rest_are(rows):
    values = np.array(rows)
    mask = pareto_mask(values, ["minimize"] * 3)
    assert mask.any()
    for i, v in enumerate(values):
        dominated = any(np.all(w <= v) and np.any(w < v) for w in values)
        assert mask[i] == (not dominated)


def broken_objective(workload, hw, faults, protection, analog=None) -> TrialResult:
    """A bug (not an invalid design): some designs crash the evaluation."""
    if hw.adc_bits >= 7:
        raise RuntimeError("simulator bug")
    return fake_objective(workload, hw, faults, protection)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_crashing_objective_stops_the_run_and_keeps_the_table(tmp_path, workers):
    text = STUDY.replace('name = "nsga2"', 'name = "random"').replace("population_size = 4\n", "").replace(
        "trials = 8", "trials = 40")
    with pytest.raises(RuntimeError, match="simulator bug"):
        run_tiny(tmp_path, text, objective=broken_objective, workers=workers)
    folder = tmp_path / "results" / "tiny"
    study = optuna.load_study(study_name="tiny", storage=open_storage(None, folder))
    states = [t.state for t in study.get_trials()]
    assert TrialState.FAIL in states and len(states) < 40  # the run stopped early
    assert read_trials(folder)["trial_number"].tolist() == completed_numbers(folder, "tiny")


def test_trials_and_show_say_which_designs_need_a_tested_fault_map(tmp_path, capsys):
    text = STUDY.replace("trials = 8", "trials = 12").replace(
        "dup_copies = [1, 2, 3]", 'dup_copies = [1, 3]\ncompensate = [false, true]\nvote = ["mean", "test-aware"]')
    folder = run_tiny(tmp_path, text).results_dir
    trials = read_trials(folder)
    assert trials["needs_fault_map"].dtype == bool
    assert (trials["needs_fault_map"] == (trials["compensate"] | (trials["vote"] == "test-aware"))).all()
    assert trials["needs_fault_map"].any() and not trials["needs_fault_map"].all()
    feasible = trials[trials["feasible"]]
    best = {needs: feasible.loc[feasible["needs_fault_map"] == needs, "accuracy_mean"].max() for needs in (False, True)}
    run_output = run_tiny(tmp_path, text).format()  # resumes the finished study: the end-of-run summary
    assert (f"best accuracy_mean: fault-map-free {best[False]:.6g}, needs a tested fault map {best[True]:.6g}"
            in run_output)
    assert cli.main(["show", str(folder)]) == 0
    out = capsys.readouterr().out
    for needs, label in ((False, "fault-map-free"), (True, "needs a tested fault map")):
        group = trials[trials["feasible"] & (trials["needs_fault_map"] == needs)]
        assert f"{label}: {len(group)} feasible trial(s), best accuracy_mean {group['accuracy_mean'].max():.6g}" in out
