"""What `dse` says about a damaged results folder: each case one line naming the file and what happens
next (the run repairs it now, the next run salvages it, `dse run` rebuilds the table), and a run never
drops rows of the trials table that its storage lost (dse/study/storage.py, run.py, results.py)."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pandas as pd
import pytest

from dse import cli
from dse.study import load_study, run_study
from dse.study.folder import journal_writers_lock, open_lock
from test_reliability import check_tables_match_storage, quick_objective, write_study


@pytest.fixture
def finished(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """(study file, results folder) of a finished 4-trial study; `dse run` uses the stand-in objective."""
    monkeypatch.setattr("dse.study.run.evaluate_design", quick_objective)
    study = write_study(tmp_path, trials=4)
    run_study(load_study(study), results=tmp_path / "r", objective=quick_objective, progress=False)
    return study, tmp_path / "r" / "rel"


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_cut_short_last_entry_is_dropped_by_the_run_naming_the_journal_and_the_kept_bytes(finished, capsys):
    study, folder = finished
    journal = folder / "_optuna.journal"
    rows = pd.read_parquet(folder / "trials.parquet")
    half = b'{"op_code": 5, "worker_id": "killed", "trial_id": 3, "sta'
    journal.write_bytes(journal.read_bytes() + half)  # what a writer killed mid-append leaves
    code, out, err = _run(["run", str(study), "--results", str(folder.parent), "--no-progress"], capsys)
    assert code == 0, err
    [note] = [line for line in out.splitlines() if "unfinished entry" in line]
    [cut] = folder.glob("_optuna.journal.cut-*")
    assert str(journal) in note and cut.name in note and "killed writer" in note, note
    assert cut.read_bytes() == half and journal.read_bytes().endswith(b"\n")
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "trials.parquet"), rows)
    check_tables_match_storage(folder)


def _damage_middle(journal: Path) -> None:
    lines = journal.read_bytes().split(b"\n")
    cut = len(lines) // 2
    lines[cut] = lines[cut][: len(lines[cut]) // 2]  # a write cut short (a full disk), later ones after it
    journal.write_bytes(b"\n".join(lines))


def test_a_damaged_journal_another_run_uses_is_left_to_the_next_run_which_salvages_it(tmp_path, monkeypatch,
                                                                                       capsys):
    monkeypatch.setattr("dse.study.run.evaluate_design", quick_objective)
    study = write_study(tmp_path, trials=4)
    shared = tmp_path / "shared.journal"  # a journal several runs may use (--storage FILE)
    argv = ["run", str(study), "--results", str(tmp_path / "r"), "--storage", str(shared), "--no-progress"]
    assert _run(argv, capsys)[0] == 0
    _damage_middle(shared)
    before = shared.read_bytes()
    other_run = open_lock(journal_writers_lock(shared))  # another `dse run` writing it holds this shared
    fcntl.flock(other_run, fcntl.LOCK_SH)
    try:
        code, out, err = _run(argv, capsys)
    finally:
        os.close(other_run)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(shared) in err and "the next `dse run` that finds no other one using it salvages it" in err, err
    assert shared.read_bytes() == before and not list(tmp_path.glob("shared.journal.damaged-*"))
    code, out, err = _run(argv, capsys)  # the next run, alone: salvages, names the file and the backup
    assert code == 0, err
    [backup] = tmp_path.glob("shared.journal.damaged-*")
    [note] = [line for line in out.splitlines() if "salvaged" in line]
    assert str(shared) in note and backup.name in note and backup.read_bytes() == before, note


@pytest.mark.parametrize("damage", ["deleted", "emptied", "cut at a line break"])
def test_a_journal_that_lost_trials_of_the_table_is_refused_and_the_rows_are_kept(damage, finished, capsys):
    """A run used to start the study afresh (or resume the shorter journal) and its export rewrote the
    trials table without the lost rows."""
    study, folder = finished
    journal = folder / "_optuna.journal"
    if damage == "deleted":
        journal.unlink()
    elif damage == "emptied":
        journal.write_bytes(b"")
    else:
        lines = journal.read_bytes().split(b"\n")
        journal.write_bytes(b"\n".join(lines[: len(lines) * 2 // 3]) + b"\n")
    table = (folder / "trials.parquet").read_bytes()
    argv = ["run", str(study), "--results", str(folder.parent), "--no-progress"]
    code, out, err = _run(argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(journal) in err and str(folder / "trials.parquet") in err and "would drop those rows" in err, err
    assert "move trials.parquet aside" in err
    assert (folder / "trials.parquet").read_bytes() == table
    (folder / "trials.parquet").rename(folder / "kept.parquet")  # what the message says: the rows are kept
    assert _run(argv, capsys)[0] == 0
    check_tables_match_storage(folder)


@pytest.mark.parametrize("table, damage", [("trials.parquet", "flip"), ("trials.parquet", "delete"),
                                           ("_layers/layers.parquet", "cut")])
def test_a_damaged_table_says_that_dse_run_rebuilds_it_and_that_command_does(table, damage, finished, capsys):
    study, folder = finished
    path = folder / table
    good = _files(folder)
    data = path.read_bytes()
    if damage == "flip":  # in the footer's length (a flip inside a data page may still read)
        at = len(data) - 6
        path.write_bytes(data[:at] + bytes([data[at] ^ 0x5A]) + data[at + 1:])
    elif damage == "delete":
        path.unlink()
    else:
        path.write_bytes(data[: len(data) // 3])
    query = ["query", str(folder)] + (["accuracy_mean > 0"] if table == "trials.parquet" else ["--layers"])
    for argv in (["show", str(folder)], query):
        code, out, err = _run(argv, capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert str(path) in err and "rebuilds the tables from the study's journal" in err, err
    command = err.split("`")[1]  # the command the message gives, run as given
    assert command == f"dse run {folder / '_study.toml'} --results {folder.parent}"
    assert _run(command.split()[1:] + ["--no-progress"], capsys)[0] == 0
    for name in ("trials.parquet", "_layers/layers.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(folder / name),
                                      pd.read_parquet(_restore(good, name, folder.parent / "good")))


def _restore(files: dict[str, bytes], name: str, where: Path) -> Path:
    where.mkdir(exist_ok=True)
    path = where / name.replace("/", "_")
    path.write_bytes(files[name])
    return path


def test_dse_dashboard_on_a_damaged_journal_names_it_and_says_the_next_run_salvages_it(finished, monkeypatch,
                                                                                        capsys):
    import types

    def never(*args, **kwargs):
        raise AssertionError("the server started on a damaged journal")

    monkeypatch.setitem(__import__("sys").modules, "optuna_dashboard", types.SimpleNamespace(run_server=never))
    study, folder = finished
    journal = folder / "_optuna.journal"
    _damage_middle(journal)
    before = _files(folder)
    code, out, err = _run(["dashboard", str(folder)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(journal) in err and "the next `dse run` of its study salvages it" in err, err
    assert _files(folder) == before


def test_a_journal_entry_optuna_cannot_replay_is_refused_after_keeping_the_original(finished, capsys):
    """Whole JSON lines that are no Optuna entry (a flipped byte in a key): salvage keeps them, so the
    run stops, naming the journal and the kept original, instead of a traceback."""
    study, folder = finished
    journal = folder / "_optuna.journal"
    lines = journal.read_bytes().split(b"\n")
    at = len(lines) // 2
    lines[at] = lines[at].replace(b'"op_code"', b'"op_codX"', 1)
    journal.write_bytes(b"\n".join(lines))
    original = journal.read_bytes()
    table = (folder / "trials.parquet").read_bytes()
    code, out, err = _run(["run", str(study), "--results", str(folder.parent), "--no-progress"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    [backup] = folder.glob("_optuna.journal.damaged-*")
    assert str(journal) in err and "restore the journal from a copy" in err and backup.name in err, err
    assert backup.read_bytes() == original and (folder / "trials.parquet").read_bytes() == table


def test_a_flipped_byte_anywhere_in_a_table_is_refused_or_reads_back_the_same_values(finished):
    """Pages carry CRCs that read_trials / read_layers verify: without them about half of single flipped
    bytes read back as other values, silently. 80 bytes spread over each table are flipped in turn. Not
    covered: the footer's names and pandas metadata (a flip there renames a column or changes how pandas
    types text; the values stay right)."""
    from dse.study.results import DamagedTableError, read_layers, read_trials

    study, folder = finished
    for name, read in (("trials.parquet", read_trials), ("_layers/layers.parquet", read_layers)):
        path = folder / name
        good, expected = path.read_bytes(), read(folder)
        refused, step = 0, max(1, len(good) // 80)
        for at in range(0, len(good), step):
            path.write_bytes(good[:at] + bytes([good[at] ^ 0x5A]) + good[at + 1:])
            try:
                frame = read(folder)
            except DamagedTableError:
                refused += 1
                continue
            pd.testing.assert_frame_equal(frame.set_axis(expected.columns, axis=1), expected, check_dtype=False)
        path.write_bytes(good)
        assert refused > len(range(0, len(good), step)) // 2, (name, refused)


@pytest.mark.parametrize("garbage", [b"\x8f\x01junk\n\x13more", b"junk\n{not json\n", b"[1, 2]\n\"x\"\n"])
def test_a_journal_of_garbage_lines_is_refused_and_left_as_it_is(garbage, finished, capsys):
    """The fuzz campaign's finding (64 random bytes holding a line break): the run cut the tail off,
    salvaged nothing and left an empty journal; now it is refused before any change, like one long line."""
    study, folder = finished
    (folder / "_optuna.journal").write_bytes(garbage)
    before = _files(folder)
    code, out, err = _run(["run", str(study), "--results", str(folder.parent), "--no-progress"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(folder / "_optuna.journal") in err and "no complete journal entry" in err, err
    assert _files(folder) == before
