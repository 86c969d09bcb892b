"""Bad command-line values: exit 2 with one line naming the flag and what is allowed, before any work."""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from dse import cli
from dse.study import results
from dse.experiments.bench import MAX_SIZE, KernelPoint


def _fail(argv: list[str], capsys) -> str:
    """The one line ``dse ARGV`` prints when it refuses ARGV with exit status 2."""
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _never(*args, **kwargs):
    raise AssertionError("work started although the command line was refused")


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    frame = pd.DataFrame({"trial_number": [0, 1, 2], "accuracy_mean": [0.5, 0.9, 0.7]})
    path = tmp_path / "study"
    results.write_atomic(pa.Table.from_pandas(frame, preserve_index=False), path / results.TRIALS_FILE)
    return path


@pytest.mark.parametrize("argv, flag, allowed", [
    (["eval", "--workload", "mlp-digits", "--max-test", "0"], "--max-test", ">= 1"),
    (["eval", "--workload", "mlp-digits", "--max-test", "-5"], "--max-test", ">= 1"),
    (["eval", "--workload", "mlp-digits", "--workers", "0"], "--workers", "in 1..1024"),
    (["eval", "--workload", "mlp-digits", "--chips", "0"], "--n-chips/--chips", ">= 1"),
    (["bench", "kernels", "--size", "-1"], "--size", f"in 1..{MAX_SIZE}"),
    (["bench", "kernels", "--size", "100000"], "--size", f"in 1..{MAX_SIZE}"),
    (["bench", "kernels", "--batch", "0"], "--batch", "in 1.."),
    (["bench", "kernels", "--repeats", "0"], "--repeats", ">= 1"),
    (["sweep", "--workload", "mlp-digits", "--chips", "0"], "--n-chips/--chips", ">= 1"),
    (["sweep", "--workload", "mlp-digits", "--seed", "-1"], "--seed", ">= 0"),
    (["run", "studies/quickstart.toml", "--workers", "100000"], "--workers", "in 1..1024"),
    (["run", "studies/quickstart.toml", "--trials", "0"], "--trials", ">= 1"),
    (["query", "RESULTS", "--limit", "-1"], "--limit", ">= 0"),
    (["show", "RESULTS", "--top", "-3"], "--top", ">= 0"),
    (["eval", "--workload", "mlp-digits", "--max-test", "ten"], "--max-test", ">= 1"),
])
def test_bad_counts_name_the_flag_and_allowed_values(argv, flag, allowed, folder, capsys, monkeypatch):
    import dse.simulate

    monkeypatch.setattr(dse.simulate, "evaluate", _never)  # dse eval imports it when it runs
    argv = [str(folder) if a == "RESULTS" else a for a in argv]
    err = _fail(argv, capsys)
    assert f"argument {flag}: must be an integer {allowed}" in err, err
    assert err.startswith(f"dse {argv[0]}: error:") and "--help" in err


def test_limit_zero_prints_no_rows_and_top_zero_lists_none(folder, capsys):
    assert cli.main(["query", str(folder), "--limit", "0", "--csv"]) == 0
    assert capsys.readouterr().out.strip() == "trial_number,accuracy_mean"
    assert cli.main(["query", str(folder), "--limit", "2", "--csv"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[1:] == ["0,0.5", "1,0.9"]


def _commands_with(flag: str) -> list[str]:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [name for name, p in sub.choices.items() if any(flag in a.option_strings for a in p._actions)]


# The least each sub-command needs besides --tech to get as far as its checks.
MINIMAL = {"eval": ["--workload", "mlp-digits"], "sweep": ["--workload", "mlp-digits"],
           "bench": ["kernels"], "cost": ["--workload", "mlp-digits"], "tolerance": ["--workload", "mlp-digits"]}


def test_every_subcommand_with_tech_is_known_here():
    assert set(_commands_with("--tech")) == set(MINIMAL)


@pytest.mark.parametrize("command", sorted(MINIMAL))
@pytest.mark.parametrize("tech, problem", [("nosuch", "unknown tech preset 'nosuch'; allowed: "),
                                           ("missing.toml", "tech file 'missing.toml' does not exist")])
def test_tech_checked_on_every_subcommand_before_work(command, tech, problem, capsys, monkeypatch):
    import dse.simulate
    import dse.experiments.bench
    import dse.experiments.sweep
    from dse.commands import cost

    # eval, sweep and bench import their library functions when they run; cost binds its own at import.
    for module, name in ((dse.simulate, "evaluate"), (dse.experiments.bench, "bench_kernels"),
                         (dse.experiments.sweep, "run_sweep"), (cost, "workload_layouts")):
        monkeypatch.setattr(module, name, _never)
    err = _fail([command, *MINIMAL[command], "--tech", tech], capsys)
    assert problem in err, err
    if tech == "nosuch":
        assert "default" in err and "isaac" in err  # the allowed presets are listed


def test_unknown_flag_and_subcommand_are_one_line(capsys):
    assert "unrecognized arguments: --adc-bitz" in _fail(["eval", "--workload", "x", "--adc-bitz", "3"], capsys)
    assert "invalid choice: 'frobnicate'" in _fail(["frobnicate"], capsys)


def test_library_checks_behind_the_flags():
    from dse.config import FaultScenario, HardwareConfig
    from dse.simulate import evaluate

    with pytest.raises(ValueError, match="n_in must be in 1..8192, got -1"):
        KernelPoint(n_in=-1)
    with pytest.raises(ValueError, match="batch must be in"):
        KernelPoint(batch=0)
    with pytest.raises(ValueError, match="sa0_rate"):
        KernelPoint(sa0_rate=1.5)
    for bad in (0, -1, 2.5, True):  # refused before the workload is touched (None would fail on it)
        with pytest.raises(ValueError, match=r"max_test must be an integer >= 1"):
            evaluate(None, HardwareConfig(), FaultScenario(), max_test=bad)
    with pytest.raises(ValueError, match=r"workers must be an integer >= 1, got 0"):
        evaluate(None, HardwareConfig(), FaultScenario(), workers=0)


@pytest.mark.parametrize("argv", [["show", "F"], ["query", "F", "accuracy_mean > 0"], ["query", "F", "--layers"],
                                  ["pareto", "F"]])
def test_damaged_parquet_table_says_how_to_rebuild_it(argv, folder, capsys):
    (folder / "_layers").mkdir()
    (folder / results.LAYERS_FILE).write_bytes(b"PAR1 cut short")
    table = folder / results.TRIALS_FILE
    table.write_bytes(table.read_bytes()[:-20])
    err = _fail([str(folder) if a == "F" else a for a in argv], capsys)
    assert "not a readable Parquet table" in err and "rebuilds the tables from the study's journal" in err, err
    assert f"{folder / results.STUDY_COPY}" in err


def test_file_names_with_line_breaks_or_too_long_stay_one_line(tmp_path, capsys):
    err = _fail(["show", str(tmp_path / "a\nb")], capsys)
    assert "a\\nb" in err
    err = _fail(["show", "x" * 5000], capsys)
    assert "not a results folder (File name too long)" in err
    err = _fail(["run", str(tmp_path / "line\rbreak.toml")], capsys)
    assert "line\\rbreak.toml" in err
