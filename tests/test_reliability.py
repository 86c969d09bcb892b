"""Reliability of studies (issue 7): killed runs, concurrent workers, PostgreSQL, reproducibility,
hostile study/model/data files, and results folders that cannot be used.

Crash safety kills real ``dse run`` processes (SIGKILL, at random moments and inside Parquet and
journal writes) and resumes them; everything else uses a fast stand-in objective. The PostgreSQL
tests start a throwaway server (``initdb`` + ``pg_ctl`` on 127.0.0.1) and are skipped, with the reason,
where none can be started; under CI (``CI=true``) they fail instead.
"""
from __future__ import annotations

import copy
import errno
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState

from dse import cli
from dse.study.objective import TrialResult
from dse.study.folder import LAYERS_FILE, TRIALS_FILE
from dse.study.results import read_trials
from dse.study import (ResultsFolderError, StudyFileError, TrialFunction, SurplusTrial, load_study,
                       open_storage, parse_study, repair_journal, run_study)

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def quick_objective(workload, hw, faults, protection, analog=None, data=None) -> TrialResult:
    """Deterministic trade-offs, like the simulator's, in microseconds (or ``DSE_TEST_SLEEP`` seconds)."""
    delay = float(os.environ.get("DSE_TEST_SLEEP", "0"))
    if delay:
        time.sleep(delay)
    accuracy = 0.98 - 0.3 * protection.row_prune ** 2 - 3 * faults.total_rate / protection.dup_copies - 0.2 / hw.adc_bits
    energy_pj = 1e4 * hw.adc_bits ** 1.5 * protection.dup_copies * (1 - 0.5 * protection.row_prune)
    area_mm2 = 0.01 * (1 - protection.row_prune) * 2.0 ** hw.adc_bits / 256
    metrics = {"accuracy_mean": accuracy, "accuracy_std": 0.01, "accuracy_ci95": 0.007, "accuracy_min": accuracy - 0.02,
               "float_accuracy": 0.98, "ideal_accuracy": 0.975, "crossbars": 4 * protection.dup_copies,
               "energy_pj": energy_pj, "area_um2": area_mm2 * 1e6, "area_mm2": area_mm2, "latency_ns": 800.0,
               "adc_conversions": 1000 * hw.adc_bits}
    return TrialResult(metrics, [{"name": "fc1", "layer_crossbars": 2}, {"name": "fc2", "layer_crossbars": 2}])


STUDY = """
[study]
name = "rel"
workload = "mlp-digits"
trials = {trials}

[sampler]
name = "{sampler}"
seed = 7

[hardware]
rows = 64
cols = 64
cols_per_adc = 64

[faults]
sa0_rate = 0.01
sa1_rate = 0.04
n_chips = 2

[search]
row_prune = {{ low = 0.0, high = 0.5, step = 0.05 }}
dup_copies = [1, 2, 3]
adc_bits = {{ low = 4, high = 8 }}
"""


def write_study(folder: Path, trials: int = 12, sampler: str = "random", name: str = "study.toml",
                text: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text if text is not None else STUDY.format(trials=trials, sampler=sampler)))
    return path


def storage_trials(folder: Path, url: str | None = None, name: str = "rel") -> list:
    """The study's trials as Optuna holds them (read without taking any lock)."""
    study = optuna.load_study(study_name=name, storage=open_storage(url, folder))
    return study.get_trials(deepcopy=False)


def check_tables_match_storage(folder: Path, url: str | None = None, name: str = "rel") -> pd.DataFrame:
    """Both Parquet tables read; one row per completed trial, none twice, none missing."""
    trials = read_trials(folder)
    layers = pd.read_parquet(folder / LAYERS_FILE)
    completed = sorted(t.number for t in storage_trials(folder, url, name) if t.state == TrialState.COMPLETE)
    assert trials["trial_number"].is_unique
    assert sorted(trials["trial_number"]) == completed
    assert sorted(set(layers["trial_number"])) == completed and len(layers) == 2 * len(completed)
    return trials


# --------------------------------------------------------------------------------------------------
# A real `dse run` in a subprocess, with the stand-in objective and optional self-kill points
# --------------------------------------------------------------------------------------------------

def _subprocess_main(argv: list[str]) -> None:
    """``python -c`` entry point of the `dse run` subprocesses below.

    DSE_TEST_KILL=parquet:N  SIGKILL this process halfway through writing the N-th Parquet file
    DSE_TEST_KILL=journal:N  SIGKILL it halfway through the N-th journal append, holding Optuna's lock
    """
    import io

    import dse.study.results
    import dse.study.run
    import dse.study.storage
    from optuna.storages.journal import _file as journal_file

    dse.study.run.evaluate_design = quick_objective
    dse.study.run.EXPORT_EVERY_S = float(os.environ.get("DSE_TEST_EXPORT_S", "5"))
    if os.environ.get("DSE_TEST_HEARTBEAT"):
        dse.study.storage.HEARTBEAT_S = tuple(int(v) for v in os.environ["DSE_TEST_HEARTBEAT"].split(","))
    kind, _, count = os.environ.get("DSE_TEST_KILL", "").partition(":")
    calls = [0]

    def due() -> bool:
        calls[0] += 1
        return calls[0] == int(count)

    if kind == "parquet":
        write_table = dse.study.results.pq.write_table

        def killing_write_table(table, where, **kwargs):
            if not due():
                return write_table(table, where, **kwargs)
            buffer = io.BytesIO()
            write_table(table, buffer, **kwargs)
            where.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            where.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        dse.study.results.pq.write_table = killing_write_table
    elif kind == "journal":
        append_logs = journal_file.JournalFileBackend.append_logs

        def killing_append(self, logs):
            if not due():
                return append_logs(self, logs)
            self._lock.acquire()
            text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
            with open(self._file_path, "ab") as f:
                f.write(text.encode()[: max(1, len(text) // 2)])
                f.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        journal_file.JournalFileBackend.append_logs = killing_append
    sys.exit(cli.main(argv))


def start_dse_run(study: Path, results: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    code = f"import sys; sys.path.insert(0, {str(TESTS)!r}); import test_reliability as t; t._subprocess_main(sys.argv[1:])"
    return subprocess.Popen(
        [sys.executable, "-c", code, "run", str(study), "--results", str(results), "--no-progress", *args],
        cwd=ROOT, env={**os.environ, "DSE_TEST_SLEEP": "0.05", **(env or {})}, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


# --------------------------------------------------------------------------------------------------
# Hostile input: study files
# --------------------------------------------------------------------------------------------------

BASE_STUDY = {
    "study": {"name": "fuzz", "workload": "mlp-digits", "trials": 4, "timeout_s": 60, "description": "d"},
    "sampler": {"name": "nsga2", "seed": 1, "population_size": 4},
    "hardware": {"rows": 64, "cols": 64, "cols_per_adc": 64, "adc_range": "calibrated"},
    "protection": {"prune_method": "magnitude", "vote": "median"},
    "faults": {"sa0_rate": 0.01, "sa1_rate": 0.02, "n_chips": 2, "variation": 0.01},
    "search": {"adc_bits": [4, 6], "row_prune": {"low": 0.0, "high": 0.5, "step": 0.1}, "mapping": ["offset"]},
    "objectives": {"accuracy_mean": "maximize", "energy_pj": "minimize"},
    "constraints": {"accuracy_mean": ">= 0.5"},
}


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"


def to_toml(data: dict) -> str:
    lines = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, table in data.items():
        if isinstance(table, dict):
            lines.append(f"[{json.dumps(section)}]")
            lines += [f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


scalars = st.one_of(
    st.integers(-2**63, 2**63 - 1), st.sampled_from([0, -1, 1, 2**31, 2**32, 2**63 - 1, 10**12]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 1e-300]),
    st.text(max_size=12), st.sampled_from(["", "mlp-digits", "grid", "maximize", ">= nan", "<= 1e999", "x" * 5000]),
    st.booleans(),
)
junk = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(st.sampled_from(["low", "high", "step", "log", "name", "x"]), scalars, max_size=4),
    st.just(list(range(3000))),  # huge lists
    st.just({"low": 0, "high": 2**62, "step": 1}),
    st.just({"low": 0.0, "high": 0.9, "step": 1e-12}),  # a huge grid
)


@st.composite
def hostile_studies(draw) -> dict:
    data = json.loads(json.dumps(BASE_STUDY))
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(sorted(data) + ["searchspace", "study"]))
        action = draw(st.sampled_from(["set", "set", "set", "delete", "unknown", "replace"]))
        table = data.get(section)
        if action == "replace" or not isinstance(table, dict):
            data[section] = copy.deepcopy(draw(junk))
        elif action == "delete":
            if table:
                del table[draw(st.sampled_from(sorted(table)))]
            else:
                data.pop(section)
        elif action == "unknown":
            table[draw(st.sampled_from(["seeds", "adc_bit", "rows2", "low", "name", "workload "]))] = copy.deepcopy(draw(junk))
        else:
            keys = sorted(table) + {"search": ["cell_bits", "dup_copies", "tech", "cols"],
                                    "hardware": ["tech", "cell_bits", "adc_percentile"],
                                    "study": ["data", "workload", "trials", "name"],
                                    "sampler": ["name", "mutation_prob", "crossover_prob"]}.get(section, ["x"])
            table[draw(st.sampled_from(keys))] = copy.deepcopy(draw(junk))
    return data


def assert_one_line_naming(error: Exception, path: Path) -> str:
    message = str(error)
    assert "\n" not in message and len(message) < 3000, message
    assert message.startswith(f"{path}: "), message
    key, _, problem = message[len(f"{path}: "):].partition(": ")
    assert key and problem, message  # names a key (or (file), (syntax)) and the problem
    return key


@pytest.fixture(scope="module")
def finished_folder(tmp_path_factory) -> Path:
    """A finished study whose folder hostile input must leave untouched."""
    base = tmp_path_factory.mktemp("finished")
    path = write_study(base, trials=3, text=to_toml(BASE_STUDY))
    run_study(load_study(path), results=base / "results", objective=quick_objective, progress=False)
    return base / "results"


def tree_state(folder: Path) -> dict:
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*")}


HOSTILE_COUNTS: dict[str, int] = {}


@settings(max_examples=int(os.environ.get("DSE_FUZZ_EXAMPLES", 150)), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=hostile_studies())
def test_hostile_study_files_fail_early_with_one_line(finished_folder, data, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "study.toml"
        path.write_text(to_toml(data))
        before = tree_state(finished_folder)
        try:
            spec = load_study(path)
        except StudyFileError as exc:
            assert_one_line_naming(exc, path)
            HOSTILE_COUNTS["study"] = HOSTILE_COUNTS.get("study", 0) + 1
            # the command line says the same in one line and writes nothing, even into the folder
            # of the study whose name the file carries
            assert cli.main(["run", str(path), "--results", str(finished_folder), "--no-progress"]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and str(path) in err, err
            assert tree_state(finished_folder) == before
        else:
            assert spec.trials >= 1 and spec.search


# --------------------------------------------------------------------------------------------------
# Hostile input: model and data files
# --------------------------------------------------------------------------------------------------

def base_model(conv: bool) -> tuple[dict, list, dict]:
    """(arrays, layer list, data) of a small valid model: an MLP, or a CNN on 1x6x6 images."""
    rng = np.random.default_rng(0)
    if conv:
        x = rng.random((40, 1, 6, 6))
        arrays = {"c.w": rng.normal(size=(2, 1, 3, 3)), "c.b": np.zeros(2), "f.w": rng.normal(size=(18, 3))}
        layers = [{"type": "conv2d", "name": "c", "weight": "c.w", "bias": "c.b", "padding": 1},
                  {"type": "relu"}, {"type": "maxpool2d", "kernel": 2}, {"type": "flatten"},
                  {"type": "linear", "name": "f", "weight": "f.w"}]
    else:
        x = rng.random((40, 8))
        arrays = {"w1": rng.normal(size=(8, 4)), "b1": np.zeros(4), "w2": rng.normal(size=(4, 3))}
        layers = [{"type": "linear", "name": "fc1", "weight": "w1", "bias": "b1"}, {"type": "relu"},
                  {"type": "linear", "name": "fc2", "weight": "w2"}]
    return arrays, layers, {"x": x, "y": np.arange(40) % 3}


bad_arrays = st.one_of(
    st.sampled_from([np.array([np.nan, 1.0]), np.array([[np.inf, 1.0], [0.0, 1.0]]), np.array(["a", "b"]),
                     np.array([1 + 2j]), np.zeros((0, 4)), np.zeros((2, 2, 2, 2, 2)), np.array(3.0),
                     np.full((4, 3), -np.inf), np.array([True, False]), np.zeros((1, 1 << 16), np.float32)]),
)
bad_layer_values = st.one_of(scalars, st.lists(scalars, max_size=3),
                             st.sampled_from([10**9, -1, 0, 1.5, "2", None, "w1", "c.w", [1, 2], {"a": 1}]))


@st.composite
def hostile_models(draw) -> tuple[dict, object, dict, str]:
    """(arrays, layers (a list, or junk), data, how the files are damaged)."""
    arrays, layers, data = base_model(draw(st.booleans()))
    damage = "none"
    for _ in range(draw(st.integers(1, 3))):
        what = draw(st.sampled_from(["array", "array", "nan", "layer", "layer", "layers", "data", "file", "huge"]))
        if what == "huge":  # consistent shapes, absurd memory: a padding of thousands, then a global pool
            padding = draw(st.integers(1500, 10**6))
            arrays, layers, data = base_model(conv=True)
            layers[0]["padding"] = padding
            layers[2] = {"type": "avgpool2d", "kernel": 6 + 2 * padding - 2}
            arrays["f.w"] = np.ones((2, 3))
        elif what == "array":
            arrays[draw(st.sampled_from(sorted(arrays)))] = draw(bad_arrays)
        elif what == "nan":
            name = draw(st.sampled_from(sorted(arrays)))
            if arrays[name].dtype.kind in "fi" and arrays[name].size:
                arrays[name] = np.array(arrays[name], dtype=float)
                arrays[name].flat[draw(st.integers(0, arrays[name].size - 1))] = draw(
                    st.sampled_from([np.nan, np.inf, -np.inf]))
        elif what == "layer" and isinstance(layers, list) and layers and isinstance(layers[0], dict):
            entry = layers[draw(st.integers(0, len(layers) - 1))]
            key = draw(st.sampled_from(sorted(entry) + ["stride", "padding", "kernel", "weight_layout", "unknown"]))
            if draw(st.booleans()) and key in entry:
                del entry[key]
            else:
                entry[key] = draw(bad_layer_values)
        elif what == "layers" and draw(st.booleans()):
            layers = copy.deepcopy(draw(st.one_of(junk, st.just([]), st.just("not json {"),
                                                  st.just([{"type": "linear"}] * 3))))
        elif what == "data":
            key = draw(st.sampled_from(["x", "y", "extra"]))
            data[key] = draw(st.one_of(bad_arrays, st.sampled_from([
                np.arange(40) % 7, np.arange(40) - 1.0, np.arange(40) + 0.5, np.zeros((3, 8)), np.arange(5)])))
            if draw(st.booleans()):
                data.pop(draw(st.sampled_from(["x", "y"])), None)
        else:
            damage = draw(st.sampled_from(["truncated model", "random model", "empty data", "pickled data",
                                           "truncated data"]))
    return arrays, layers, data, damage


def write_model_files(folder: Path, arrays: dict, layers, data: dict, damage: str) -> tuple[Path, Path]:
    model, data_file = folder / "model.npz", folder / "data.npz"
    layer_text = layers if isinstance(layers, str) else json.dumps(layers)
    np.savez(model, layers=np.array(layer_text), **arrays)
    np.savez(data_file, **data)
    if damage == "truncated model":
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    elif damage == "random model":
        model.write_bytes(random.Random(len(layer_text)).randbytes(300))
    elif damage == "empty data":
        data_file.write_bytes(b"")
    elif damage == "pickled data":
        np.save(folder / "obj.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
        with zipfile.ZipFile(data_file, "w") as zf:
            zf.write(folder / "obj.npy", "x.npy")
    elif damage == "truncated data":
        data_file.write_bytes(data_file.read_bytes()[:100])
    return model, data_file


MODEL_STUDY = """
[study]
workload = "models/model.npz"
data = "models/data.npz"
trials = 2
[sampler]
name = "random"
[search]
adc_bits = [4, 6]
"""


@settings(max_examples=int(os.environ.get("DSE_FUZZ_EXAMPLES", 150)), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(model=hostile_models())
def test_hostile_model_files_fail_early_naming_file_and_key(model, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "models").mkdir()
        model_file, data_file = write_model_files(Path(tmp) / "models", *model)
        path = write_study(Path(tmp), text=MODEL_STUDY)
        try:
            load_study(path)
        except StudyFileError as exc:
            key = assert_one_line_naming(exc, path)
            assert key in ("study.workload", "study.data"), str(exc)
            assert (model_file.name if key == "study.workload" else data_file.name) in str(exc), str(exc)
            HOSTILE_COUNTS["model"] = HOSTILE_COUNTS.get("model", 0) + 1
            assert not (Path(tmp) / "results").exists()


def test_a_study_runs_your_own_model_file(tmp_path):
    """workload = a model file, data = its data, both relative to the study file; the real objective."""
    from dse.workloads import save_model_file
    from dse.workloads.model_file import load_model_file

    arrays, layers, data = base_model(conv=False)
    folder = tmp_path / "models"
    folder.mkdir()
    write_model_files(folder, arrays, layers, data, "none")
    workload = load_model_file(folder / "model.npz", data["x"], data["y"])
    save_model_file(workload, folder / "model.npz")  # round trip through the writer
    path = write_study(tmp_path / "studies", text=MODEL_STUDY.replace("models/", "../models/"))
    spec = load_study(path)
    assert spec.workload == "../models/model.npz" and spec.model_path == str((folder / "model.npz").resolve())
    summary = run_study(spec, results=tmp_path / "results", progress=False)
    trials = read_trials(summary.results_dir)
    assert len(trials) == 2 and trials["workload"].eq("../models/model.npz").all()
    assert trials["accuracy_mean"].between(0, 1).all() and (trials["energy_pj"] > 0).all()
    # a changed model is another study: the folder refuses it
    np.savez(folder / "model.npz", layers=np.array(json.dumps(layers)), **{k: v * 2 for k, v in arrays.items()})
    with pytest.raises(ResultsFolderError, match="belongs to another study.*workload"):
        run_study(load_study(path), results=tmp_path / "results", progress=False)


def test_model_file_keys_are_named(tmp_path):
    arrays, layers, data = base_model(conv=False)
    (tmp_path / "models").mkdir()
    write_model_files(tmp_path / "models", arrays, layers, data, "none")
    cases = [
        (MODEL_STUDY.replace('data = "models/data.npz"\n', ""), "study.data", "missing"),
        (MODEL_STUDY.replace("models/data.npz", "models/nothere.npz"), "study.data", "not found"),
        (MODEL_STUDY.replace("models/model.npz", "models/nothere.npz"), "study.workload", "not found"),
        (MODEL_STUDY.replace('"models/model.npz"', '"resnet"'), "study.workload", "model file"),
        (MODEL_STUDY.replace('"models/model.npz"', '"mlp-digits"'), "study.data", "built-in"),
        (MODEL_STUDY.replace('"models/data.npz"', "3"), "study.data", ".npz"),
    ]
    for text, key, words in cases:
        path = write_study(tmp_path, text=text)
        with pytest.raises(StudyFileError, match=f"{key}: .*{words}"):
            load_study(path)
    arrays["w1"][0, 0] = np.nan
    write_model_files(tmp_path / "models", arrays, layers, data, "none")
    with pytest.raises(StudyFileError, match=r"study.workload: model.npz: layer 0 \('fc1', linear\).*NaN"):
        load_study(write_study(tmp_path, text=MODEL_STUDY))


# --------------------------------------------------------------------------------------------------
# Crash safety: SIGKILL real `dse run` processes, resume, lose nothing
# --------------------------------------------------------------------------------------------------

def wait_for_progress(journal: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    """Until the run has written to the journal since it started (it is running trials)."""
    start_size = journal.stat().st_size if journal.exists() else 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if journal.exists() and journal.stat().st_size > start_size + 2000:
            return
        time.sleep(0.05)


def check_after_kill(folder: Path, seen: dict[int, tuple]) -> None:
    """Whatever the moment of the kill: the tables read, hold no trial twice and no trial the storage
    does not hold as completed; every trial completed before is still completed, with its values."""
    trials = storage_trials(folder)
    completed = {t.number: tuple(t.values) for t in trials if t.state == TrialState.COMPLETE}
    for number, values in seen.items():
        assert completed.get(number) == values, f"trial {number} lost or changed"
    seen.update(completed)
    if (folder / TRIALS_FILE).exists():
        table = read_trials(folder)
        assert table["trial_number"].is_unique and set(table["trial_number"]) <= set(completed)
        pd.read_parquet(folder / LAYERS_FILE)
        pd.read_parquet(folder)  # the folder reads as one table, temporary files or not


# (how the run is killed, workers, environment)
KILL_ROUNDS = [
    ("random moment", 1, {}),
    ("inside a Parquet write", 1, {"DSE_TEST_KILL": "parquet:3", "DSE_TEST_EXPORT_S": "0.2"}),
    ("inside a journal append", 1, {"DSE_TEST_KILL": "journal:40"}),
    ("random moment, main process only", 2, {}),
    ("random moment, whole process group", 3, {}),
    ("inside a Parquet write", 1, {"DSE_TEST_KILL": "parquet:2", "DSE_TEST_EXPORT_S": "0.1"}),
]


def kill_and_resume(tmp_path: Path, rounds: list, seed: int, trials: int, increment: int | None = None) -> dict:
    """Run the study, killing it as ``rounds`` say; then resume it to the end and check everything.

    ``increment``: each round (and the last run) aims at that many trials more than are completed,
    so that no round finds the study already done.
    """
    rng = random.Random(seed)
    study = write_study(tmp_path, trials=trials)
    results = tmp_path / "results"
    folder, journal = results / "rel", results / "rel" / "_optuna.journal"
    seen: dict[int, tuple] = {}
    log = []
    def target() -> list[str]:
        return ["--trials", str(len(seen) + increment)] if increment else []

    for how, workers, env in rounds:
        process = start_dse_run(study, results, "--workers", str(workers), *target(), env=env)
        if "DSE_TEST_KILL" not in env:
            wait_for_progress(journal, process)
            time.sleep(rng.uniform(0.0, 1.0))
            try:
                os.kill(process.pid if "main process" in how else -process.pid, signal.SIGKILL)
            except ProcessLookupError:  # it finished first
                pass
        code, out, err = finish(process)
        if code == 0:  # finished before the kill: nothing to check but the end result
            log.append((how, "finished first"))
            continue
        assert code == -signal.SIGKILL, (how, code, err[-2000:])
        if "journal append" in how:  # killed mid-write, holding Optuna's lock: the next run repairs both
            assert not journal.read_bytes().endswith(b"\n") and os.path.lexists(f"{journal}.lock")
        check_after_kill(folder, seen)
        log.append((how, workers, len(seen)))
    if increment:
        trials = len(seen) + increment
    code, out, err = finish(start_dse_run(study, results, "--workers", "2", "--trials", str(trials)))
    assert code == 0, err[-3000:]
    check_after_kill(folder, seen)
    table = check_tables_match_storage(folder)
    states = [t.state for t in storage_trials(folder)]
    assert len(table) == states.count(TrialState.COMPLETE) == trials  # exactly the budget, none lost
    assert TrialState.RUNNING not in states
    assert not any(p.name.endswith(".tmp") for p in folder.rglob("*"))  # leftovers cleaned up
    assert not (folder / "_optuna.journal.lock").exists()
    return {"rounds": log, "failed": states.count(TrialState.FAIL), "output": out}


def test_killed_runs_resume_without_losing_or_duplicating_trials(tmp_path):
    report = kill_and_resume(tmp_path, KILL_ROUNDS, seed=1, trials=60)
    killed = [r for r in report["rounds"] if r[1] != "finished first"]
    assert len(killed) >= len(KILL_ROUNDS) - 1, report["rounds"]
    assert report["failed"] >= 1  # the killed runs' unfinished trials were failed, and replaced


@pytest.mark.slow
def test_many_random_kills(tmp_path):
    rng = random.Random(5)
    rounds = [("random moment" + (", main process only" if rng.random() < 0.3 else ""), rng.choice([1, 2, 4]), {})
              for _ in range(25)]
    rounds += [("inside a Parquet write", 1, {"DSE_TEST_KILL": f"parquet:{n}", "DSE_TEST_EXPORT_S": "0.1"})
               for n in (1, 2, 3, 4)]
    rounds += [("inside a journal append", 1, {"DSE_TEST_KILL": f"journal:{n}"}) for n in (1, 2, 5, 17, 60)]
    rng.shuffle(rounds)
    report = kill_and_resume(tmp_path, rounds, seed=5, trials=400, increment=40)
    killed = [r for r in report["rounds"] if r[1] != "finished first"]
    assert len(killed) >= len(rounds) - 5, report["rounds"]


def test_a_journal_damaged_in_the_middle_is_salvaged(tmp_path):
    """A write cut short (a full disk) with later writes appended to it: Optuna cannot read the file;
    the next run keeps every complete entry, drops the cut one, and goes on."""
    study = write_study(tmp_path, trials=4)
    run_study(load_study(study), results=tmp_path / "r", objective=quick_objective, progress=False)
    journal = tmp_path / "r" / "rel" / "_optuna.journal"
    lines = journal.read_bytes().split(b"\n")
    cut = len(lines) // 2
    lines[cut] = lines[cut][: len(lines[cut]) // 2] + b'{"op_code":99'  # a half entry glued to junk ...
    journal.write_bytes(b"\n".join(lines[:cut + 1]) + lines[cut + 1] + b"\n" + b"\n".join(lines[cut + 2:]))
    with pytest.raises(Exception):  # ... which Optuna refuses to read
        open_storage(None, tmp_path / "r" / "rel")
    summary = run_study(load_study(write_study(tmp_path, trials=8)), results=tmp_path / "r",
                        objective=quick_objective, progress=False)
    assert any("damaged" in note for note in summary.notes)
    assert list((tmp_path / "r" / "rel").glob("_optuna.journal.damaged-*"))  # the original is kept
    table = check_tables_match_storage(tmp_path / "r" / "rel")
    assert len(table) == 8


def test_repair_journal_completes_or_drops_the_last_entry(tmp_path):
    journal = tmp_path / "j"
    journal.write_bytes(b'{"op_code":0,"a":1}\n{"op_code":1,"b":')
    (tmp_path / "j.lock").symlink_to(journal)
    notes = repair_journal(journal)
    assert journal.read_bytes() == b'{"op_code":0,"a":1}\n' and not os.path.lexists(tmp_path / "j.lock")
    assert len(notes) == 2
    [cut] = tmp_path.glob("j.cut-*")  # the dropped bytes are kept beside it
    assert cut.read_bytes() == b'{"op_code":1,"b":'
    journal.write_bytes(b'{"op_code":0,"a":1}\n{"op_code":1,"b":2}')
    repair_journal(journal)
    assert journal.read_bytes() == b'{"op_code":0,"a":1}\n{"op_code":1,"b":2}\n'
    assert repair_journal(journal) == []  # nothing to do


def test_a_journal_without_one_complete_entry_is_refused_and_nothing_is_lost(tmp_path, capsys):
    """The fuzz campaign's finding: such a journal used to be truncated to nothing, the study started
    afresh and its tables were overwritten. Now the run stops before any work, naming the file."""
    study = write_study(tmp_path, trials=3)
    run_study(load_study(study), results=tmp_path / "r", objective=quick_objective, progress=False)
    folder = tmp_path / "r" / "rel"
    journal = folder / "_optuna.journal"
    journal.write_bytes(journal.read_bytes().replace(b"\n", b" ")[:-7])  # one long line, cut short
    before = {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert cli.main(["run", str(study), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "_optuna.journal" in err and "no complete journal entry" in err and len(err.strip().splitlines()) == 1
    after = {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before


# --------------------------------------------------------------------------------------------------
# Concurrency: exact budgets with 4 workers
# --------------------------------------------------------------------------------------------------

def test_four_workers_run_exactly_the_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("DSE_TEST_SLEEP", "0.01")
    summary = run_study(load_study(write_study(tmp_path, trials=30)), workers=4, results=tmp_path / "r",
                        objective=quick_objective, progress=False)
    folder = tmp_path / "r" / "rel"
    table = check_tables_match_storage(folder)
    states = [t.state for t in storage_trials(folder)]
    assert summary.scenarios[0].new_trials == len(table) == states.count(TrialState.COMPLETE) == 30
    # any trial beyond the budget was failed before it evaluated anything
    extra = [t for t in storage_trials(folder) if t.state == TrialState.FAIL]
    assert all("surplus" in t.user_attrs and not t.params for t in extra)


def test_a_trial_beyond_the_budget_is_failed_unevaluated(tmp_path):
    """The race behind 11 trials for a budget of 10: two workers both see one trial left. Trial
    numbers come from the storage in order; the later trial finds the budget taken and stops."""
    spec = load_study(write_study(tmp_path, trials=3))
    study = optuna.create_study(storage=open_storage(None, tmp_path), study_name="rel",
                                directions=spec.directions)
    calls = []
    trial_fn = TrialFunction(spec, spec.scenarios[0], lambda *a, **k: calls.append(a) or quick_objective(*a, **k))
    asked = [study.ask() for _ in range(4)]  # four workers asked at once
    with pytest.raises(SurplusTrial):
        trial_fn(asked[3])
    assert asked[3].user_attrs["surplus"] and not calls
    for trial in asked[:3]:
        study.tell(trial, trial_fn(trial))
    assert len(calls) == 3
    # a failed trial frees its place: the next trial may run
    study.tell(asked[3], state=TrialState.FAIL)
    (tmp_path / "b").mkdir()
    study2 = optuna.create_study(storage=open_storage(None, tmp_path / "b"), study_name="rel",
                                 directions=spec.directions)
    first = [study2.ask() for _ in range(3)]
    study2.tell(first[0], state=TrialState.FAIL)
    trial_fn(study2.ask())  # trials before it: two running, one failed


# --------------------------------------------------------------------------------------------------
# Reproducibility
# --------------------------------------------------------------------------------------------------

COLUMNS = ["trial_number", "row_prune", "dup_copies", "adc_bits", "accuracy_mean", "energy_pj", "area_mm2"]


@pytest.mark.parametrize("sampler", ["random", "grid"])
def test_seeded_samplers_reproduce_serially_and_with_workers(tmp_path, sampler):
    text = STUDY.format(trials=16, sampler=sampler).replace("step = 0.05", "step = 0.25")
    tables = []
    for label, workers in (("serial", 1), ("two", 2)):
        spec = load_study(write_study(tmp_path / label, text=text))
        summary = run_study(spec, workers=workers, results=tmp_path / label / "r", objective=quick_objective,
                            progress=False)
        tables.append(read_trials(summary.results_dir)[COLUMNS])
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert len(tables[0]) == 16 and not tables[0].duplicated(COLUMNS[1:4]).all()


# --------------------------------------------------------------------------------------------------
# Results folders that cannot be used
# --------------------------------------------------------------------------------------------------

def test_a_folder_owned_by_another_study_is_refused(tmp_path, capsys):
    results = tmp_path / "r"
    run_study(load_study(write_study(tmp_path, trials=2)), results=results, objective=quick_objective, progress=False)
    before = tree_state(results)
    other = write_study(tmp_path, name="other.toml", text=STUDY.format(trials=2, sampler="random").replace(
        "rows = 64", "rows = 128"))
    with pytest.raises(ResultsFolderError, match=r"r/rel belongs to another study .*hardware.rows is 64 there, 128"):
        run_study(load_study(other), results=results, objective=quick_objective, progress=False)
    metric = write_study(tmp_path, name="metric.toml", text=STUDY.format(trials=2, sampler="random") +
                         '[objectives]\naccuracy_mean = "maximize"\nenergy_pj = "minimize"\nlatency_ns = "minimize"\n')
    assert cli.main(["run", str(metric), "--results", str(results), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "belongs to another study" in err and "objectives" in err
    assert tree_state(results) == before
    # the same study with a bigger budget, a new description or timeout is the same study
    same = write_study(tmp_path, name="same.toml", text=STUDY.format(trials=3, sampler="random").replace(
        "trials = 3", 'trials = 3\ndescription = "more"\ntimeout_s = 100'))
    assert run_study(load_study(same), results=results, objective=quick_objective,
                     progress=False).scenarios[0].new_trials == 1
    # a folder holding someone else's files
    (tmp_path / "r2" / "rel").mkdir(parents=True)
    (tmp_path / "r2" / "rel" / "thesis.tex").write_text("mine")
    with pytest.raises(ResultsFolderError, match="did not write.*thesis.tex"):
        run_study(load_study(same), results=tmp_path / "r2", objective=quick_objective, progress=False)
    assert os.listdir(tmp_path / "r2" / "rel") == ["thesis.tex"]


def test_a_read_only_results_folder_gives_a_clear_error(tmp_path, monkeypatch, capsys):
    results = tmp_path / "r"
    study = write_study(tmp_path, trials=2)
    run_study(load_study(study), results=results, objective=quick_objective, progress=False)
    if os.geteuid() != 0:  # root ignores permissions: there, a read-only mount is simulated below
        os.chmod(results / "rel", 0o555)
        try:
            assert cli.main(["run", str(write_study(tmp_path, trials=3)), "--results", str(results),
                             "--no-progress"]) == 2
            assert "cannot write" in capsys.readouterr().err
        finally:
            os.chmod(results / "rel", 0o755)
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path).startswith(str(results)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    before = tree_state(results)
    assert cli.main(["run", str(write_study(tmp_path, trials=3)), "--results", str(results), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write (read-only file system)" in err and "--results" in err
    assert tree_state(results) == before


def test_a_full_disk_gives_a_clear_error_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("dse.study.run.evaluate_design", quick_objective)  # for the command line
    results = tmp_path / "r"
    study = write_study(tmp_path, trials=3)
    run_study(load_study(study), results=results, objective=quick_objective, progress=False)
    folder = results / "rel"
    table_before = (folder / TRIALS_FILE).read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    # the Parquet write fails: the previous table stays whole, no temporary file is left
    with monkeypatch.context() as patch:
        patch.setattr(pq, "write_table", disk_full)
        assert cli.main(["run", str(write_study(tmp_path, trials=5)), "--results", str(results), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no space left on device" in err and "run the same command again" in err
    assert (folder / TRIALS_FILE).read_bytes() == table_before
    assert not list(folder.rglob(".*.tmp"))
    # the journal write fails in the middle of a trial
    from optuna.storages.journal import JournalFileBackend

    appends = [0]
    real_append = JournalFileBackend.append_logs

    def append_until_full(self, logs):
        appends[0] += 1
        if appends[0] > 12:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._file_path)
        return real_append(self, logs)

    with monkeypatch.context() as patch:
        patch.setattr(JournalFileBackend, "append_logs", append_until_full)
        with pytest.raises(ResultsFolderError, match="_optuna.journal: cannot write .no space left on device"):
            run_study(load_study(write_study(tmp_path, trials=9)), results=results, objective=quick_objective,
                      progress=False)
    summary = run_study(load_study(write_study(tmp_path, trials=9)), results=results, objective=quick_objective,
                        progress=False)
    assert len(check_tables_match_storage(folder)) == 9 == summary.scenarios[0].completed


# --------------------------------------------------------------------------------------------------
# PostgreSQL (a throwaway server) and RDB heartbeats
# --------------------------------------------------------------------------------------------------

def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL tests must run under CI, but: {reason}")
    pytest.skip(reason)


def _postgres_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3])
                       if p.parts[-3].isdigit() else 0)
    return installed[-1].parent if installed else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server of its own on 127.0.0.1 (initdb into a temporary folder, pg_ctl start);
    yields the URL of its ``postgres`` database; stopped and deleted afterwards."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("the PostgreSQL driver is not installed (pip install 'reram-dse[postgres]')")
    bindir = _postgres_bindir()
    if bindir is None or not (bindir / "initdb").exists():
        _unavailable("no PostgreSQL server binaries (initdb, pg_ctl); install the postgresql package")
    base = Path(tempfile.mkdtemp(prefix="dse-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no postgres user to run the server as")
        shutil.chown(base, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    data = base / "data"
    try:
        subprocess.run(run_as + [str(bindir / "initdb"), "-D", str(data), "-U", "dse", "-A", "trust", "-E", "UTF8",
                                 "--locale=C", "--no-sync"], check=True, capture_output=True, timeout=180)
        subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"), "-w",
                                 "-t", "120", "-o", f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off "
                                 "-c max_connections=200", "start"], check=True, capture_output=True, timeout=180)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        log = (base / "server.log").read_text()[-1000:] if (base / "server.log").exists() else ""
        detail = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(base, ignore_errors=True)
        _unavailable(f"could not start a PostgreSQL server: {exc} {detail.decode(errors='replace')[-500:]} {log}")
    try:
        yield f"postgresql://dse@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server, request) -> str:
    """A fresh database on the throwaway server."""
    import psycopg

    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    with psycopg.connect(postgres_server, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name}")
        connection.execute(f"CREATE DATABASE {name}")
    return postgres_server.rsplit("/", 1)[0] + f"/{name}"


def rdb_url(kind: str, tmp_path: Path, request) -> str:
    return f"sqlite:///{tmp_path / 'shared.db'}" if kind == "sqlite" else request.getfixturevalue("postgres_url")


def test_four_workers_on_postgresql(tmp_path, postgres_url, monkeypatch):
    monkeypatch.setenv("DSE_TEST_SLEEP", "0.01")
    spec = load_study(write_study(tmp_path, trials=30))
    summary = run_study(spec, workers=4, storage=postgres_url, results=tmp_path / "r", objective=quick_objective,
                        progress=False)
    table = check_tables_match_storage(tmp_path / "r" / "rel", postgres_url)
    assert summary.scenarios[0].new_trials == len(table) == 30
    assert not (tmp_path / "r" / "rel" / "_optuna.journal").exists()
    # a second machine's run (another results folder, same database) resumes the same study
    more = run_study(load_study(write_study(tmp_path, trials=33)), storage=postgres_url,
                     results=tmp_path / "machine2", objective=quick_objective, progress=False)
    assert more.scenarios[0].new_trials == 3
    assert len(check_tables_match_storage(tmp_path / "machine2" / "rel", postgres_url)) == 33


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_stale_trials_of_a_killed_worker_are_failed_and_retried(tmp_path, kind, request):
    """RDB storage: a killed worker's trial stays RUNNING; once its heartbeat is older than the grace
    period, the next run fails it and runs a replacement, up to exactly the budget."""
    url = rdb_url(kind, tmp_path, request)
    study = write_study(tmp_path, trials=8)
    env = {"DSE_TEST_HEARTBEAT": "1,2", "DSE_TEST_SLEEP": "0.3"}
    workers = "2" if kind == "postgresql" else "1"
    process = start_dse_run(study, tmp_path / "r", "--storage", url, "--workers", workers, env=env)
    deadline = time.monotonic() + 120
    running: list = []
    while time.monotonic() < deadline and process.poll() is None:
        try:
            trials = storage_trials(tmp_path, url)
        except KeyError:  # the study does not exist yet
            trials = []
        running = [t for t in trials if t.state == TrialState.RUNNING]
        if running and any(t.state == TrialState.COMPLETE for t in trials):
            break
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    finish(process)
    stale = [t.number for t in storage_trials(tmp_path, url) if t.state == TrialState.RUNNING]
    assert stale, "the kill should leave a trial running"
    time.sleep(2.5)  # the grace period (2 s) passes
    code, out, err = finish(start_dse_run(study, tmp_path / "r", "--storage", url, env=env))
    assert code == 0, err[-3000:]
    assert "left running by a killed run" in out, (out, [(t.number, t.state) for t in storage_trials(tmp_path, url)], stale)
    trials = storage_trials(tmp_path, url)
    assert all(t.state == TrialState.FAIL for t in trials if t.number in stale)
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 8
    check_tables_match_storage(tmp_path / "r" / "rel", url)


def test_bad_storage_urls_give_one_line(tmp_path, capsys):
    study = write_study(tmp_path, trials=2)
    port = _free_port()  # nothing listens there
    for url, words in ((f"postgresql://nobody:secret@127.0.0.1:{port}/db", "cannot open the database"),
                       ("nosuchdb://x/y", "cannot open the database")):
        assert cli.main(["run", str(study), "--results", str(tmp_path / "r"), "--storage", url, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err and "secret" not in err, err


def test_a_trial_killed_before_its_first_heartbeat_becomes_stale(tmp_path):
    """Optuna 5 never fails a RUNNING trial that has no heartbeat yet (its worker died between asking
    for the trial and the heartbeat thread's first write); dse's RDB storage does, after the grace period."""
    url = f"sqlite:///{tmp_path / 'hb.db'}"
    storage = open_storage(url, tmp_path, heartbeat=(1, 1))
    study = optuna.create_study(storage=storage, study_name="hb")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # heartbeats are "meant for Study.optimize"
        study.ask()  # RUNNING, no heartbeat: what a kill right after ask() leaves
        time.sleep(1.2)
        optuna.storages.fail_stale_trials(study)
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL]
