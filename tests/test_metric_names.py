"""Metric names that would overwrite a column of the trials table are refused before any work: when a
study is parsed (its objectives, constraints, the workload's own metrics) and when an objective of your
own declares what it reports (``dse.study.reports``), naming the collision and what is allowed."""
from __future__ import annotations

import dataclasses
import textwrap

import pytest

from dse import cli
from dse.study import StudyFileError, TrialResult, load_study, parse_study, reports, run_study
from dse.study.objective import METRICS
from dse.study.results import column_clash
from dse.workloads import builtin

BASE = {"study": {"workload": "mlp-digits"}, "search": {"adc_bits": [4, 8]}}


@pytest.mark.parametrize("name, what", [
    ("seed", "a design column (the FaultScenario field seed)"),
    ("rows", "a design column (the HardwareConfig field rows)"),
    ("dup_copies", "a design column (the Protection field dup_copies)"),
    ("row_prune_layers.fc1", "a design column (Protection.row_prune_layers"),
    ("trial_number", "a key column"),
    ("scenario", "a key column"),
    ("constraint_energy_pj", "a constraint column"),
    ("simulator", "a bookkeeping column"),
    ("is_pareto", "a bookkeeping column"),
])
@pytest.mark.parametrize("table", ["objectives", "constraints"])
def test_a_study_naming_a_column_as_metric_is_refused_at_parse_naming_the_collision(table, name, what):
    value = "maximize" if table == "objectives" else ">= 1"
    with pytest.raises(StudyFileError) as error:
        parse_study({**BASE, table: {name: value}})
    key = error.value.key
    assert key in (f"{table}.{name}", f'{table}."{name}"'), key
    assert f"{name!r} is {what}" in error.value.problem and "not a metric" in error.value.problem
    assert "allowed: " in error.value.problem and "accuracy_mean" in error.value.problem


def test_the_cli_refuses_such_a_study_in_one_line_before_any_work(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent("""
        [study]
        name = "s"
        workload = "mlp-digits"
        [search]
        adc_bits = [4, 8]
        [objectives]
        seed = "minimize"
        """))
    assert cli.main(["run", str(path), "--results", str(tmp_path / "r"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "objectives.seed" in err and "FaultScenario field seed" in err, err
    assert not (tmp_path / "r").exists()


def test_every_metric_and_an_unknown_name_pass_the_check():
    assert [m for m in METRICS if column_clash(m)] == []
    assert column_clash("my_score") is None and column_clash("energy_total_pj") is None
    with pytest.raises(StudyFileError, match="objectives.my_score: not a metric; allowed"):
        parse_study({**BASE, "objectives": {"my_score": "maximize"}})  # not a column: just no metric


@pytest.mark.parametrize("own, reported, what", [
    ("accuracy", "accuracy_mean", "a metric every trial reports"),
    ("seed", "ideal_seed", None),  # ideal_seed and seed_mean are free names: accepted
    ("trial_number", "ideal_trial_number", None),
    ("energy", "energy_mean", None),
])
def test_a_registered_workload_whose_own_metric_would_overwrite_a_column_is_refused(own, reported, what,
                                                                                     monkeypatch):
    name = "collide-test"
    info = dataclasses.replace(builtin.workload_info("mlp-digits"), metrics=(own,))
    monkeypatch.setitem(builtin._REGISTRY, name, lambda cache_dir: pytest.fail("loaded at parse"))
    monkeypatch.setitem(builtin._INFO, name, info)
    data = {"study": {"workload": name}, "search": {"adc_bits": [4, 8]}}
    if what is None:
        assert parse_study(data).objectives
        return
    with pytest.raises(StudyFileError) as error:
        parse_study(data)
    assert error.value.key == "study.workload"
    assert f"own metric {own!r}, reported as {reported}, which is {what}" in error.value.problem
    assert "allowed: own metric names" in error.value.problem


def test_two_own_metrics_reported_under_one_name_are_refused(monkeypatch):
    name = "collide-test"
    # x_mean's ideal and ideal_x's mean are both ideal_x_mean
    info = dataclasses.replace(builtin.workload_info("mlp-digits"), metrics=("x_mean", "ideal_x"))
    monkeypatch.setitem(builtin._REGISTRY, name, lambda cache_dir: pytest.fail("loaded at parse"))
    monkeypatch.setitem(builtin._INFO, name, info)
    with pytest.raises(StudyFileError, match="reported as ideal_x_mean, which is reported for another"):
        parse_study({"study": {"workload": name}, "search": {"adc_bits": [4, 8]}})


@pytest.mark.parametrize("names, clash", [
    (("my_score", "seed"), "seed is a design column (the FaultScenario field seed)"),
    (("rows",), "rows is a design column (the HardwareConfig field rows)"),
    (("trial_number",), "trial_number is a key column"),
    (("constraint_x",), "constraint_x is a constraint column"),
    (("wall_time_s",), "wall_time_s is a bookkeeping column"),
])
def test_declaring_an_objective_that_reports_a_column_is_refused_when_it_is_defined(names, clash):
    with pytest.raises(ValueError) as error:
        @reports(*names)
        def objective(workload, hw, faults, protection, *, analog=None):  # pragma: no cover - never defined
            raise AssertionError
    message = str(error.value)
    assert "\n" not in message and clash in message and "allowed: the metrics evaluate_design reports" in message


def test_reports_keeps_the_function_and_run_study_checks_a_declaration_by_hand(tmp_path):
    @reports("my_score", "accuracy_mean")
    def fine(workload, hw, faults, protection, **kwargs):
        return TrialResult({m: 0.5 for m in METRICS} | {"my_score": 1.0})

    assert fine.declared_metrics == ("my_score", "accuracy_mean") and fine.__name__ == "fine"
    with pytest.raises(ValueError, match="non-empty strings"):
        reports("")

    def by_hand(*args, **kwargs):  # pragma: no cover - refused before any trial
        raise AssertionError("a trial ran")

    by_hand.declared_metrics = ("seed",)
    path = tmp_path / "s.toml"
    path.write_text('[study]\nname = "s"\nworkload = "mlp-digits"\n[search]\nadc_bits = [4, 8]\n')
    with pytest.raises(ValueError, match="objective .*by_hand declares metric.*seed is a design column"):
        run_study(load_study(path), results=tmp_path / "r", objective=by_hand, progress=False)
    assert not (tmp_path / "r").exists()
