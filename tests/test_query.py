"""``dse query``'s expression language: what it accepts, and that nothing else runs (dse/query.py)."""
from __future__ import annotations

import os
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings

from dse import cli
from dse.study import results
from dse.query import QueryError, select

FRAME = pd.DataFrame({"trial_number": [0, 1, 2, 3], "accuracy_mean": [0.5, 0.9, 0.97, np.nan],
                      "energy_pj": [1e5, 2e5, 3e5, 4e5], "cell_bits": [1, 2, 2, 4],
                      "name": ["fc1", "fc2", "fc2", "fc3"], "feasible": [True, False, True, True],
                      "energy pj": [1.0, 2.0, 3.0, 4.0]})


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """A results folder holding FRAME as its trials table (nothing else is needed by ``dse query --csv``)."""
    path = tmp_path / "study"
    results.write_atomic(pa.Table.from_pandas(FRAME, preserve_index=False), path / results.TRIALS_FILE)
    return path


@pytest.mark.parametrize("expr, expected", [
    ("accuracy_mean > 0.6 and energy_pj < 3e5", [1]),
    ("accuracy_mean > 0.6 and energy_pj <= 3e5", [1, 2]),
    ("not feasible", [1]),
    ("not feasible or cell_bits == 4", [1, 3]),
    ("cell_bits in [1, 4]", [0, 3]),
    ("cell_bits not in (1, 4)", [1, 2]),
    ("name == 'fc2' and feasible", [2]),
    ("0.6 < accuracy_mean < 0.95", [1]),
    ("energy_pj / 1e5 - cell_bits ** 2 >= -1", [0, 2]),
    ("energy_pj // 1e5 % 2 == 1", [0, 2]),
    ("`energy pj` > 2.5", [2, 3]),
    ("-cell_bits < -1 or accuracy_mean != accuracy_mean", [1, 2, 3]),
    ("True", [0, 1, 2, 3]),
    ("feasible == False", [1]),
])
def test_accepted_expressions_match_pandas_semantics(expr, expected):
    assert select(FRAME, expr)["trial_number"].tolist() == expected


ATTACKS = [
    "@pd.io.common.os.system('touch {x}')",
    "pd.io.common.os.system('touch {x}')",
    "__import__('os').system('touch {x}')",
    "open('{x}', 'w')",
    "name.__class__",
    "feasible.__class__.__mro__",
    "energy_pj[0] > 1",
    "(lambda: open('{x}', 'w'))()",
    "f'{{open(\"{x}\", \"w\")}}' == 'a'",
    "(y := 1) == 1",
    "[open('{x}', 'w') for i in [1]]",
    "{{open('{x}', 'w') for i in [1]}}",
    "__builtins__",
    "cell_bits in [open('{x}', 'w')]",
    "name == 'a' if True else False",
    "`a` + `b`",
    "'a' * 1000000000 == 'b'",
    "energy_pj @ energy_pj",
    "{{'a': 1}} == 1",
    "*name",
    "name in name",
    "name + 1 > 0",
    "accuracy_mean > 0.6 & energy_pj < 3e5",
    "~feasible",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_refused_expressions_run_nothing(attack, folder, tmp_path, capsys):
    marker = tmp_path / "X"
    assert cli.main(["query", str(folder), attack.format(x=marker), "--csv"]) == 2
    err = capsys.readouterr().err
    assert not marker.exists()
    assert err.startswith("dse query: error:") and err.count("\n") == 1
    assert "position" in err or "no column" in err


def test_pwned_example_from_the_issue(folder, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["query", str(folder), "@pd.io.common.os.system('touch X')"]) == 2
    assert not Path("X").exists() and not (tmp_path / "X").exists()
    assert "position 1" in capsys.readouterr().err


def test_refusal_names_position_and_allowed():
    with pytest.raises(QueryError, match=r"position 23: a call is not allowed; allowed: column names"):
        select(FRAME, "accuracy_mean > 0 and abs(energy_pj) > 1")


def test_unknown_column_lists_columns():
    with pytest.raises(QueryError, match="no column 'acuracy'.*accuracy_mean"):
        select(FRAME, "acuracy > 1")


def test_query_cli_csv(folder, capsys):
    assert cli.main(["query", str(folder), "cell_bits == 2", "--csv"]) == 0
    rows = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert rows["trial_number"].tolist() == [1, 2]


printable = st.text(st.sampled_from(list("abcdefgnot_ ()[]<>=!&|~+-*/%.,'\"`@:{}0123456789eE\\")), max_size=40)
fragments = st.lists(st.sampled_from(
    ["accuracy_mean", "cell_bits", "name", "feasible", "`energy pj`", "and", "or", "not", "in", "(", ")",
     "[", "]", ",", "<", ">=", "==", "!=", "+", "-", "*", "**", "/", "//", "%", "&", "|", "~", "0", "2",
     "1e400", "'fc2'", ".", "@", "__class__", "os", "(1)", "lambda:", ":=", "if", "else", "for"]),
    max_size=12).map(" ".join)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.one_of(printable, fragments))
def test_fuzz_select_returns_rows_or_refuses(expr):
    """Any text: a subset of the rows, or a QueryError; never another exception, never a new file."""
    before = set(os.listdir("."))
    try:
        rows = select(FRAME, expr)
    except QueryError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert set(rows.index) <= set(FRAME.index)
    assert set(os.listdir(".")) == before
