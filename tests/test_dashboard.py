"""What Optuna and optuna-dashboard see of a study: metric names, constraints in both forms."""
from __future__ import annotations

import warnings

import optuna
import pytest

from dse.study import open_storage
from dse.study.trial import LEGACY_CONSTRAINTS_KEY

from test_study import STUDY, run_tiny

CONSTRAINED = STUDY.replace('accuracy_mean = ">= 0.5"', 'accuracy_mean = ">= 0.75"\nenergy_pj = "<= 2e5"')


def _study(tmp_path):
    summary = run_tiny(tmp_path, CONSTRAINED)
    storage = open_storage(None, summary.results_dir)
    (name,) = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    return optuna.load_study(study_name=name, storage=storage)


def test_metric_names_and_constraints_reach_optuna_with_their_names(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study = _study(tmp_path)
        trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert not [w for w in caught if "constraint" in str(w.message)], [str(w.message) for w in caught]
    assert study.metric_names == ["accuracy_mean", "energy_pj", "area_mm2"]
    assert trials
    for trial in trials:
        named = {k: v for k, v in trial.constraints.items() if not k.isdigit()}
        assert set(named) == {"accuracy_mean", "energy_pj"}
        assert trial.system_attrs[LEGACY_CONSTRAINTS_KEY] == [named["accuracy_mean"], named["energy_pj"]]
    # Some designs must break a constraint, or the test shows nothing.
    assert any(max(t.constraints.values()) > 0 for t in trials) and any(max(t.constraints.values()) <= 0 for t in trials)


def test_optuna_dashboard_serializer_sees_names_and_constraints(tmp_path):
    serializer = pytest.importorskip("optuna_dashboard._serializer", reason="pip install 'reram-dse[dashboard]'")
    study = _study(tmp_path)
    trials = study.get_trials()
    (frozen,) = study._storage.get_all_studies()
    detail = serializer.serialize_study_detail(frozen, study.best_trials, trials, [], [], [], False, {}, [])
    assert detail["objective_names"] == ["accuracy_mean", "energy_pj", "area_mm2"]
    for trial, shown in zip(trials, detail["trials"]):
        if trial.state == optuna.trial.TrialState.COMPLETE:
            assert shown["constraints"] == [trial.constraints["accuracy_mean"], trial.constraints["energy_pj"]]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(url: str, deadline: float):
    import json
    import time
    import urllib.error
    import urllib.request

    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_dse_dashboard_serves_the_study_on_loopback(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    pytest.importorskip("optuna_dashboard", reason="pip install 'reram-dse[dashboard]'")
    results = run_tiny(tmp_path, CONSTRAINED).results_dir
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "dse.cli", "dashboard", str(results), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        studies = _get_json(f"http://127.0.0.1:{port}/api/studies", deadline)["study_summaries"]
        assert len(studies) == 1
        detail = _get_json(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}", deadline)
        assert detail["objective_names"] == ["accuracy_mean", "energy_pj", "area_mm2"]
        complete = [t for t in detail["trials"] if t["state"] == "Complete"]
        assert complete and all(len(t["constraints"]) == 2 for t in complete)
        assert any(max(t["constraints"]) > 0 for t in complete)  # infeasible designs are visible as such
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_dse_dashboard_refuses_a_folder_without_a_study(tmp_path, capsys):
    from dse import cli

    assert cli.main(["dashboard", str(tmp_path)]) == 2
    assert "trials.parquet" in capsys.readouterr().err
