"""A study's identity by content (tech tables, weights, simulator), studies that always end, and the
study-file checks that refuse what no run could honour (dse/study/provenance.py, parse.py, trial.py)."""
from __future__ import annotations

import hashlib
import math
import re
import shutil
import textwrap
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from dse import cli
from dse.study import StudyFileError, TrialResult, load_study, open_storage, parse_study, run_study
from dse.study import provenance as provenance_module
from dse.study.objective import METRICS, workload_metrics
from dse.study.results import column_clash
from dse.workloads import list_workloads
from dse.workloads.builtin import workload_info

ROOT = Path(__file__).resolve().parents[1]
ADC_LINE = "energy_pj_per_bit = 0.1954"


def _study(folder: Path, body: str, name: str = "prov") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(textwrap.dedent(f"""
        [study]
        name = "{name}"
        workload = "mlp-digits"
        max_test = 24
        """) + textwrap.dedent(body))
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_resuming_after_editing_the_tech_file_exits_2_naming_it_and_keeps_the_rows(tmp_path, monkeypatch, capsys):
    """Must show: the tech file is part of the study's identity by content, resolved from the study file."""
    studies = tmp_path / "studies"
    studies.mkdir()
    tech = studies / "my-tech.toml"
    shutil.copy(ROOT / "dse" / "tech" / "default.toml", tech)
    path = _study(studies, """
        trials = 2
        [hardware]
        rows = 64
        cols = 64
        tech = "my-tech.toml"
        [faults]
        sa0_rate = 0.01
        sa1_rate = 0.04
        n_chips = 1
        [search]
        adc_bits = [4, 6, 8]
        """)
    elsewhere = tmp_path / "elsewhere"  # the tech file resolves from the study file, not from here
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    results = tmp_path / "results"
    assert cli.main(["run", str(path), "--results", str(results), "--no-progress"]) == 0
    table = results / "prov" / "trials.parquet"
    before = {p: _digest(p) for p in (results / "prov").rglob("*") if p.is_file() and "lock" not in p.name}
    rows = pd.read_parquet(table)
    assert len(rows) == 2 and (rows["tech"] == str(tech)).all()
    assert (rows["simulator"] == provenance_module.simulator_fingerprint()).all()
    capsys.readouterr()

    text = tech.read_text()
    assert ADC_LINE in text
    tech.write_text(text.replace(ADC_LINE, "energy_pj_per_bit = 1.954"))  # ADC energy x 10
    assert cli.main(["run", str(path), "--results", str(results), "--trials", "4", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"the tech table {tech} changed" in err, err
    assert "another [study] name" in err
    assert {p: _digest(p) for p in before} == before  # nothing stored changed
    pd.testing.assert_frame_equal(pd.read_parquet(table), rows)

    tech.write_text(text)  # restored: the same study again, resumed
    assert cli.main(["run", str(path), "--results", str(results), "--trials", "3", "--no-progress"]) == 0
    assert len(pd.read_parquet(table)) == 3


def fake(workload, hw, faults, protection, analog=None, **kwargs) -> TrialResult:
    metrics = {m: 0.5 for m in METRICS}
    metrics.update(accuracy_mean=0.9 - 0.01 * hw.adc_bits, energy_pj=1e3 * hw.adc_bits, area_mm2=0.1 * hw.adc_bits,
                   crossbars=4, adc_conversions=100)
    return TrialResult(metrics, [])


STUDY = """
    trials = 3
    [faults]
    sa0_rate = 0.01
    n_chips = 2
    [search]
    adc_bits = [4, 5, 6, 7, 8]
    """


@pytest.mark.parametrize("what, change, words", [
    ("simulator", lambda m: m.setattr(provenance_module, "simulator_fingerprint", lambda: "0.1.0+0000000000000000"),
     "the simulator changed since its trials ran (dse "),
    ("workload", lambda m: m.setattr(provenance_module, "workload_digest", lambda w: "feedfacefeedface"),
     "the weights or data of workload mlp-digits changed since its trials ran"),
])
def test_resuming_with_changed_simulator_or_weights_is_refused_before_any_work(what, change, words, tmp_path,
                                                                               monkeypatch):
    spec = load_study(_study(tmp_path, STUDY))
    run_study(spec, results=tmp_path / "r", objective=fake, progress=False)
    table = tmp_path / "r" / "prov" / "trials.parquet"
    before = _digest(table)
    change(monkeypatch)
    calls = []
    with pytest.raises(ValueError, match=re.escape(words)) as error:
        run_study(spec.with_overrides(trials=5), results=tmp_path / "r", progress=False,
                  objective=lambda *a, **k: calls.append(1) or fake(*a, **k))
    assert "\n" not in str(error.value) and "resuming would mix rows" in str(error.value)
    assert not calls and _digest(table) == before


def test_provenance_names_every_tech_a_study_searches(tmp_path):
    spec = parse_study({"study": {"workload": "mlp-digits"}, "search": {"tech": ["default", "isaac"]}})
    found = provenance_module.provenance(spec)
    assert set(found["tech"]) == {"default", "isaac"} and found["tech"]["default"] != found["tech"]["isaac"]
    assert found["simulator"].startswith(provenance_module.__version__ + "+")


def test_fingerprint_covers_the_modules_that_compute_results():
    root = provenance_module._ROOT
    files = {str(p.relative_to(root)) for pattern in provenance_module.SIMULATOR_SOURCES for p in root.glob(pattern)}
    for module in ("kernels/crossbar.py", "dse/simulate.py", "dse/mapping.py", "dse/cost/model.py",
                   "dse/tech/default.toml", "dse/study/objective.py"):
        assert module in files or not (root / module).exists(), module
    assert not any(name.startswith(("dse/commands/", "dse/cli")) for name in files)  # the CLI computes nothing


def test_nan_objective_is_a_failed_trial_and_the_study_ends_within_its_budget(tmp_path, capsys):
    """Must show: accuracy_ci95 of one chip is NaN; each trial is recorded with why, the run ends."""
    path = _study(tmp_path, """
        trials = 3
        [hardware]
        rows = 64
        cols = 64
        [faults]
        sa0_rate = 0.01
        n_chips = 1
        [search]
        adc_bits = { low = 4, high = 8 }
        [objectives]
        accuracy_ci95 = "minimize"
        energy_pj = "minimize"
        """)
    assert cli.main(["run", str(path), "--results", str(tmp_path / "r"), "--no-progress"]) == 0
    study = optuna.load_study(study_name="prov", storage=open_storage(None, tmp_path / "r" / "prov"))
    trials = study.get_trials()
    assert len(trials) == 3 and all(t.state == TrialState.PRUNED for t in trials)
    assert all("accuracy_ci95 = nan" in t.user_attrs["invalid"] for t in trials)
    assert "3 invalid design(s)" in capsys.readouterr().out


def test_infinite_constraint_metric_counts_as_a_failed_trial(tmp_path):
    def infinite(*args, **kwargs):
        result = fake(*args, **kwargs)
        return TrialResult({**result.metrics, "energy_pj": math.inf}, [])

    spec = load_study(_study(tmp_path, STUDY + '\n[constraints]\nenergy_pj = "<= 1e9"\n'))
    run_study(spec, results=tmp_path / "r", objective=infinite, progress=False)
    study = optuna.load_study(study_name="prov", storage=open_storage(None, tmp_path / "r" / "prov"))
    assert [t.state for t in study.get_trials()] == [TrialState.PRUNED] * 3
    assert "energy_pj = inf" in study.get_trials()[0].user_attrs["invalid"]


@pytest.mark.parametrize("column", ["seed", "rows", "crossbar" + "s_total", "trial_number", "simulator",
                                    "constraint_x"])
def test_metric_named_like_a_column_stops_the_run_naming_it(column, tmp_path):
    def clashing(*args, **kwargs):
        result = fake(*args, **kwargs)
        return TrialResult({**result.metrics, column: 3.5}, [])

    spec = load_study(_study(tmp_path, STUDY))
    if column_clash(column) is None:
        assert column not in METRICS  # a new metric name: allowed
        run_study(spec, results=tmp_path / "r", objective=clashing, progress=False)
        return
    with pytest.raises(ValueError, match=f"named like columns of the trials table: {column} is "):
        run_study(spec, results=tmp_path / "r", objective=clashing, progress=False)


def test_no_builtin_workload_metric_collides_with_a_column():
    for name in list_workloads():
        own = workload_metrics(workload_info(name).metrics)
        assert not [m for m in own if m in METRICS or column_clash(m)], name


@pytest.mark.parametrize("extra, key, words", [
    ({"objectives": {}}, "objectives", "the table is empty"),
    ({"constraints": {"accuracy_mean": ">= 1.5"}}, "constraints.accuracy_mean",
     ">= 1.5 can never be met: accuracy_mean is in [0, 1]"),
    ({"constraints": {"energy_pj": "<= -1"}}, "constraints.energy_pj", "can never be met: energy_pj is in [0, inf]"),
    ({"search": {"row_prune": {"low": 0.0, "high": 0.5, "step": 0.3}}}, "search.row_prune.step",
     "0.3 does not divide high - low = 0.5; use a step that does, or high = 0.3"),
    ({"search": {"adc_bits": {"low": 4, "high": 9, "step": 2}}}, "search.adc_bits.step", "or high = 8"),
    ({"search": {"cell_bits": [1, 2], "adc_bits": [30]}}, "search.adc_bits", "30 can never be used: adc_bits"),
    ({"search": {"cell_bits": [1, 2], "adc_bits": [4, 30]}}, "search.adc_bits", "30 can never be used"),
    ({"search": {"cols": [64, 128], "cols_per_adc": [64, 256]}}, "search.cols_per_adc", "256 can never be used"),
])
def test_study_file_checks_name_the_key(extra, key, words):
    data = {"study": {"workload": "mlp-digits"}, "search": {"adc_bits": [4, 8]}, **extra}
    with pytest.raises(StudyFileError) as error:
        parse_study(data)
    assert error.value.key == key and words in error.value.problem, str(error.value)


def test_steps_that_divide_and_reachable_constraints_are_accepted():
    spec = parse_study({"study": {"workload": "mlp-digits"},
                        "search": {"row_prune": {"low": 0.0, "high": 0.5, "step": 0.05},
                                   "adc_bits": {"low": 4, "high": 8, "step": 2}},
                        "constraints": {"accuracy_mean": ">= 1.0", "energy_pj": "<= 0"}})
    assert len(spec.search) == 2 and len(spec.constraints) == 2


def _model_files(folder: Path) -> tuple[Path, Path]:
    import json

    import numpy as np

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    layers = [{"type": "linear", "name": "fc1", "weight": "w1"}, {"type": "relu"},
              {"type": "linear", "name": "fc2", "weight": "w2"}]
    np.savez(folder / "net.npz", layers=json.dumps(layers), w1=rng.normal(0, 0.3, (16, 12)).astype(np.float32),
             w2=rng.normal(0, 0.3, (12, 3)).astype(np.float32))
    np.savez(folder / "data.npz", x=rng.random((60, 16)).astype(np.float32), y=rng.integers(0, 3, 60))
    return folder / "net.npz", folder / "data.npz"


def test_results_folder_reruns_itself_without_the_original_files(tmp_path, monkeypatch, capsys):
    """results/<study>/_study.toml names copies in results/<study>/_inputs/: the folder alone resumes it."""
    project = tmp_path / "project"
    _model_files(project / "models")
    shutil.copy(ROOT / "dse" / "tech" / "default.toml", project / "my-tech.toml")
    path = project / "own.toml"
    path.write_text(textwrap.dedent("""
        # a model-file study with its own tech table
        [study]
        name = "own"
        workload = "models/net.npz"
        data = 'models/data.npz'
        trials = 2
        [hardware]
        rows = 16
        cols = 16
        tech = "my-tech.toml"
        [faults]
        n_chips = 1
        [search]
        adc_bits = [4, 6, 8]
        """))
    results = tmp_path / "results"
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", str(path), "--results", str(results), "--no-progress"]) == 0
    copy = results / "own" / "_study.toml"
    text = copy.read_text()
    assert "# a model-file study" in text and "models/net.npz" not in text and "my-tech.toml\"" in text
    inputs = sorted(p.relative_to(results / "own").as_posix() for p in (results / "own" / "_inputs").rglob("*.*"))
    assert [Path(p).name for p in inputs] == ["data.npz", "my-tech.toml", "net.npz"] or len(inputs) == 3
    shutil.rmtree(project)  # the originals are gone
    capsys.readouterr()
    assert cli.main(["run", str(copy), "--results", str(results), "--trials", "3", "--no-progress"]) == 0, \
        capsys.readouterr().err
    rows = pd.read_parquet(results / "own" / "trials.parquet")
    assert len(rows) == 3 and rows["workload"].iloc[0] == rows["workload"].iloc[-1]
