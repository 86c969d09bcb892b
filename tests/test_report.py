"""dse report: the number tables of README.md and docs/ are generated blocks, rerun and checked."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from dse.cli import main
from dse.experiments.report import TABLES, TINY, Table, blocks, replace_block, run_tables

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _doc(tmp_path: Path, body: str = "| a | b |\n|---|---|\n| 1 | 2 |") -> Path:
    path = tmp_path / "doc.md"
    path.write_text(f"# title\n\ntext\n<!-- dse report: t -->\n{body}\n<!-- end dse report: t -->\nafter\n")
    return path


def _table(calls: list, value: str = "| a | b |\n|---|---|\n| 1 | 3 |") -> Table:
    def build(setting):
        calls.append(setting)
        return value
    return Table("t", "doc.md", build, "a test table")


def test_write_replaces_only_the_block_and_check_then_agrees(tmp_path):
    path = _doc(tmp_path)
    calls = []
    [outcome] = run_tables([_table(calls)], tmp_path, TINY, write=True)
    assert outcome.changed and "-| 1 | 2 |" in outcome.diff and "+| 1 | 3 |" in outcome.diff
    text = path.read_text()
    assert text.startswith("# title\n\ntext\n") and text.endswith("<!-- end dse report: t -->\nafter\n")
    assert blocks(text) == {"t": "| a | b |\n|---|---|\n| 1 | 3 |"}
    [again] = run_tables([_table(calls)], tmp_path, TINY, write=False)
    assert not again.changed and calls == [TINY, TINY]


def test_check_reports_a_stale_number_and_leaves_the_file_alone(tmp_path):
    path = _doc(tmp_path)
    before = path.read_bytes()
    [outcome] = run_tables([_table([])], tmp_path, TINY, write=False)
    assert outcome.changed and path.read_bytes() == before


def test_a_missing_marker_fails_before_any_experiment_runs(tmp_path):
    (tmp_path / "doc.md").write_text("no blocks here\n")
    calls = []
    with pytest.raises(ValueError, match="no block for table 't'"):
        run_tables([_table(calls)], tmp_path, TINY, write=True)
    assert calls == []


@pytest.mark.parametrize("text, message", [
    ("<!-- dse report: t -->\nx\n", "unclosed report block"),
    ("<!-- dse report: t -->\nx\n<!-- end dse report: t -->\n<!-- dse report: t -->\ny\n<!-- end dse report: t -->\n",
     "appears twice"),
])
def test_malformed_blocks_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        blocks(text)


def test_replace_block_keeps_a_body_with_regex_characters_literally():
    text = "<!-- dse report: t -->\nold\n<!-- end dse report: t -->\n"
    body = r"| \1 | $0 | (.*) |"
    assert blocks(replace_block(text, "t", body)) == {"t": body}


def test_every_registered_table_has_exactly_one_block_in_its_file():
    for table in TABLES.values():
        assert table.name in blocks((ROOT / table.path).read_text()), table.name


def test_cli_check_on_the_repository_isaac_table_is_up_to_date(capsys):
    assert main(["report", "--check", "--root", str(ROOT), "readme-isaac"]) == 0
    assert "readme-isaac: up to date" in capsys.readouterr().out


def test_cli_unknown_table_names_the_allowed_ones(capsys):
    assert main(["report", "--check", "no-such-table"]) == 2
    err = capsys.readouterr().err
    assert "no-such-table" in err and "readme-adc" in err


# Markdown tables whose body holds a number must be generated (inside a report block), timings of one
# machine (the line before says `<!-- measured: dse bench ... -->`), or say why their numbers are not
# results (`<!-- fixed: ... -->`, e.g. a field's default value or a data set's size pinned by a test).
_MARK = re.compile(r"<!-- (measured: (dse bench|python tests/fuzz_campaign.py|pytest) [^>]+|fixed: [^>]+) -->")


def _numeric_tables(text: str):
    lines = text.splitlines()
    inside = set()
    for match in re.finditer(r"<!-- dse report: ([\w.-]+) -->\n(.*?)<!-- end dse report: \1 -->", text, re.S):
        first = text[: match.start()].count("\n")
        inside.update(range(first, first + match.group(0).count("\n") + 1))
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and (i == 0 or not lines[i - 1].startswith("|")):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            body = lines[i + 2:j]
            if any(re.search(r"\d", row) for row in body) and i not in inside:
                yield i + 1, lines[i], lines[i - 1] if i else ""
            i = j
        else:
            i += 1


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_number_table_is_generated_measured_or_says_why(path):
    loose = [f"{path.name}:{line}: {header}" for line, header, before in _numeric_tables(path.read_text())
             if not _MARK.search(before)]
    assert not loose, "number tables outside `dse report` blocks:\n" + "\n".join(loose)


def test_each_design_point_is_logged_as_it_starts_and_ends(caplog):
    # Generated tables can take an hour; `dse report` shows each evaluation as it starts and ends.
    from dse.config import FaultScenario, HardwareConfig
    from dse.experiments.report.common import cached_eval, preset_named

    with caplog.at_level(logging.INFO, logger="dse.report"):
        result = cached_eval("mlp-digits", HardwareConfig(adc_bits=7), FaultScenario(n_chips=1), preset_named("none"), 17)
    lines = [r.getMessage() for r in caplog.records if r.name == "dse.report"]
    assert lines == ["mlp-digits none, 7-bit full ADC, 1 chip(s), 17 test examples: running",
                     f"mlp-digits none, 7-bit full ADC, 1 chip(s), 17 test examples: accuracy "
                     f"{result.accuracy_mean:.4f} ({lines[1].rsplit('(', 1)[1]}"]
