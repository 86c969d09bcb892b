"""The Markdown side of ``dse report``: find, check and replace the generated blocks."""
from __future__ import annotations

import difflib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dse.experiments.report.common import Setting, Table

BEGIN = "<!-- dse report: {name} -->"
END = "<!-- end dse report: {name} -->"
_BLOCK = re.compile(r"<!-- dse report: (?P<name>[\w.-]+) -->\n(?P<body>.*?)\n?<!-- end dse report: (?P=name) -->",
                    re.S)


def blocks(text: str) -> dict[str, str]:
    """Generated blocks of one Markdown text: name -> the text between its markers."""
    found: dict[str, str] = {}
    for match in _BLOCK.finditer(text):
        if match["name"] in found:
            raise ValueError(f"table {match['name']!r} appears twice")
        found[match["name"]] = match["body"]
    opened = re.findall(r"<!-- dse report: ([\w.-]+) -->", text)
    if sorted(opened) != sorted(found):
        unclosed = sorted(set(opened) - set(found))
        raise ValueError(f"unclosed report block(s) {unclosed}: each needs its line {END.format(name='NAME')}")
    return found


def replace_block(text: str, name: str, body: str) -> str:
    if name not in blocks(text):
        raise ValueError(f"no block for table {name!r} (add {BEGIN.format(name=name)} and its end marker)")
    pattern = re.compile(re.escape(BEGIN.format(name=name)) + r"\n.*?\n?" + re.escape(END.format(name=name)), re.S)
    return pattern.sub(lambda _: f"{BEGIN.format(name=name)}\n{body.rstrip()}\n{END.format(name=name)}", text, count=1)


@dataclass
class Outcome:
    name: str
    path: Path
    changed: bool
    diff: str
    seconds: float



def run_tables(tables: list[Table], root: Path, setting: Setting, *, write: bool,
               progress: Callable[[str], None] | None = None) -> list[Outcome]:
    """Rerun ``tables`` and compare with (``write``: replace) their blocks under ``root``.

    Every block is located before any experiment runs, so a missing marker fails at once.
    Files are rewritten atomically, one table at a time, so an interrupted ``--write`` keeps every
    table already regenerated and damages none.
    """
    from dse.atomic import write_text_atomic
    for table in tables:
        path = root / table.path
        if not path.is_file():
            raise ValueError(f"{table.name}: {path} does not exist")
        replace_block(path.read_text(), table.name, "")  # the markers exist and are well formed
    outcomes = []
    for table in tables:
        path = root / table.path
        if progress:
            progress(f"{table.name}: running ({table.about})")
        start = time.perf_counter()
        body = table.build(setting).rstrip()
        text = path.read_text()
        old = blocks(text)[table.name].rstrip()
        diff = "\n".join(difflib.unified_diff(old.splitlines(), body.splitlines(), f"{table.path} (now)",
                                              "regenerated", lineterm=""))
        if write and old != body:
            write_text_atomic(path, replace_block(text, table.name, body))
        outcomes.append(Outcome(table.name, path, old != body, diff, time.perf_counter() - start))
    return outcomes

