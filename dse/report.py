"""Every number table of README.md and docs/, rerun by one command: ``dse report``.

A generated table sits in its Markdown file between two comment lines naming it::

    <!-- dse report: readme-adc -->
    | workload | float | ... |
    <!-- end dse report: readme-adc -->

``dse report --write NAME...`` reruns the experiments behind the named tables (all when none is named)
and replaces what stands between the markers; ``dse report --check NAME...`` reruns them and exits 1
naming every table whose text differs, so a stale number cannot stand unnoticed. Results are
deterministic (seeded chips, cached trained workloads), so a check on the same machine reproduces a
table character for character. Tables of timings are not here: they are measurements of one machine,
printed by ``dse bench`` and marked in the docs as such (``<!-- measured: dse bench ... -->``).

Each table is a function of a :class:`Setting`: :data:`FULL` is the setting the docs state beside each
table; :data:`TINY` (few chips, a few test samples) exists so the test suite can run the machinery.
"""
from __future__ import annotations

import difflib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dse.config import FaultScenario, HardwareConfig, Protection

CHEN2015 = dict(sa0_rate=0.0175, sa1_rate=0.0904)  # Chen et al., IEEE Trans. Computers 2015


@dataclass(frozen=True)
class Setting:
    """How much work a table's experiments do.

    n_chips   simulated chips per faulty design point of the digits workloads (mean and 95 % CI)
    transformer_chips  the same for the transformer workloads (a chip takes seconds, not milliseconds)
    max_test  test samples per chip (None = the whole test split)
    rates     whether to run the tolerated-fault-rate searches (minutes each)
    """

    n_chips: int = 16
    transformer_chips: int = 8
    max_test: int | None = None
    rates: bool = True


FULL = Setting()
TINY = Setting(n_chips=2, transformer_chips=1, max_test=24, rates=False)


@dataclass(frozen=True)
class Table:
    """One generated table: where it lives and the function that computes its Markdown."""

    name: str
    path: str                       # relative to the repository root
    build: Callable[[Setting], str]
    about: str                      # what it shows, for ``dse report --list``


# --------------------------------------------------------------------------------------------------
# Builders. Imports are inside them: ``dse report --list`` should not load every workload.
# --------------------------------------------------------------------------------------------------

def _faults(setting: Setting, **rates) -> FaultScenario:
    return FaultScenario(**rates, n_chips=setting.n_chips)


def _ideal(workload, hw: HardwareConfig, setting: Setting, protection: Protection | None = None):
    from dse.simulate import evaluate
    return evaluate(workload, hw, FaultScenario(n_chips=1), protection, max_test=setting.max_test)


def readme_adc(setting: Setting) -> str:
    """Accuracy by ADC resolution and range, fault-free, and faulty unprotected at the Chen rates."""
    from dse.simulate import evaluate
    from dse.workloads import load_workload
    columns = [(9, "full"), (8, "full"), (6, "full"), (4, "full"), (6, "calibrated"), (4, "calibrated")]
    rows = ["| workload | float | 9-bit ADC (lossless) | 8-bit full | 6-bit full | 4-bit full | 6-bit calibrated "
            "| 4-bit calibrated | faulty, unprotected |", "|---|---|---|---|---|---|---|---|---|"]
    for name in ("mlp-digits", "cnn-digits"):
        workload = load_workload(name)
        cells = [f"{workload.float_accuracy:.4f}"]
        for bits, adc_range in columns:
            hw = HardwareConfig(adc_bits=bits, adc_range=adc_range)
            cells.append(f"{_ideal(workload, hw, setting).ideal_accuracy:.4f}")
        faulty = evaluate(workload, HardwareConfig(), _faults(setting, **CHEN2015), max_test=setting.max_test)
        cells.append(f"{faulty.accuracy_mean:.4f} ± {faulty.accuracy_ci95:.4f}")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


README_SCHEMES = [("none", "none"), ("spare columns", "spare-cols"), ("remap", "remap"),
                  ("prune 30 %", "prune"), ("paper's three parts (`zero-space-paper`)", "zero-space-paper"),
                  ("compensation alone", "compensate"), ("**zero-space** (three parts + compensation)", "zero-space")]


def readme_schemes(setting: Setting) -> str:
    """Every preset at the Chen rates on both digits workloads: accuracy, crossbars, conversions."""
    from dse.simulate import evaluate
    from dse.tolerance.presets import PRESETS
    from dse.workloads import load_workload
    hw = HardwareConfig()
    results = {}
    for name in ("mlp-digits", "cnn-digits"):
        workload = load_workload(name)
        for _, preset in README_SCHEMES:
            results[name, preset] = evaluate(workload, hw, _faults(setting, **CHEN2015), PRESETS[preset],
                                             max_test=setting.max_test)
    rows = ["| scheme | mlp-digits accuracy | crossbars | ADC conversions (on copies) | cnn-digits accuracy "
            "| crossbars | ADC conversions (on copies) |", "|---|---|---|---|---|---|---|"]
    ideal = [f"{results[n, 'none'].ideal_accuracy:.3f} / {results[n, 'prune'].ideal_accuracy:.3f} | | "
             for n in ("mlp-digits", "cnn-digits")]
    rows.append("| fault-free ideal (unpruned / pruned) | " + " | ".join(ideal) + " |")
    for label, preset in README_SCHEMES:
        cells = []
        for name in ("mlp-digits", "cnn-digits"):
            r = results[name, preset]
            spare = sum(layout.spare_crossbars for layout in r.layouts)
            crossbars = f"{r.crossbars} (+{spare} spare)" if spare else f"{r.crossbars}"
            cells.append(f"{r.accuracy_mean:.3f} ± {r.accuracy_ci95:.3f} | {crossbars} "
                         f"| {r.adc_conversions} ({r.extra_adc_conversions})")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def readme_analog(setting: Setting) -> str:
    """mlp-digits under programming variation and read noise, with and without faults and protection."""
    from dse.config import AnalogEffects
    from dse.simulate import evaluate
    from dse.tolerance.presets import PRESETS
    from dse.workloads import load_workload
    workload = load_workload("mlp-digits")
    effects = [AnalogEffects(), AnalogEffects(variation=0.02), AnalogEffects(variation=0.05),
               AnalogEffects(variation=0.05, read_noise=0.02)]
    rows = ["| ADC, protection | variation 0 | 2 % | 5 % | 5 % + 2 % read noise |", "|---|---|---|---|---|"]
    for adc_label, hw in (("8-bit", HardwareConfig()),
                          ("4-bit calibrated", HardwareConfig(adc_bits=4, adc_range="calibrated"))):
        for label, rates, preset in (("none, no faults", {}, "none"), ("none, faults", CHEN2015, "none"),
                                     ("zero-space, faults", CHEN2015, "zero-space")):
            cells = []
            for analog in effects:
                r = evaluate(workload, hw, _faults(setting, **rates), PRESETS[preset], max_test=setting.max_test,
                             analog=None if analog == AnalogEffects() else analog)
                cells.append(f"{100 * r.accuracy_mean:.1f}")
            rows.append(f"| {adc_label}, {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def readme_rates(setting: Setting) -> str:
    """Tolerated total fault rate (1 and 5 points below the design's own fault-free accuracy)."""
    from dse.tolerance.presets import PRESETS
    from dse.tolerance.rates import tolerance_rates
    from dse.workloads import load_workload
    schemes = [("none", "none"), ("paper's three parts", "zero-space-paper"),
               ("compensation alone", "compensate"), ("zero-space", "zero-space")]
    curves = {}
    for name in ("mlp-digits", "cnn-digits"):
        workload = load_workload(name)
        for _, preset in schemes:
            curves[name, preset] = (tolerance_rates(workload, HardwareConfig(), PRESETS[preset],
                                                    n_chips=setting.n_chips, max_test=setting.max_test)
                                    if setting.rates else None)
    rows = ["| scheme | mlp −1 pt | mlp −5 pt | cnn −1 pt | cnn −5 pt |", "|---|---|---|---|---|"]
    for label, preset in schemes:
        cells = []
        for name in ("mlp-digits", "cnn-digits"):
            for drop in (0.01, 0.05):
                curve, base = curves[name, preset], curves[name, "none"]
                if curve is None:
                    cells.append("not run")
                    continue
                rate = curve.rates[drop]
                ratio = "" if preset == "none" else f" ({rate / base.rates[drop]:.1f}x)"
                cells.append(f"{100 * rate:.2f} %{ratio}")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def readme_isaac(setting: Setting) -> str:
    """The ISAAC IMA and tile from the isaac tech preset, beside the paper's figures (``dse cost --preset isaac``)."""
    from dse.cost import load_tech, tile_report
    tech = load_tech("isaac")
    report = tile_report(tech, tech.architecture)
    paper = tech.tables["paper"]
    rows = ["| ISAAC (32 nm) | model | paper |", "|---|---|---|",
            f"| IMA power | {report.ima_power_mw:.2f} mW | {paper['ima_power_mw']:g} mW |",
            f"| IMA area | {report.ima_area_mm2:.5f} mm2 | {paper['ima_area_mm2']:g} mm2 |",
            f"| tile power | {report.tile_power_mw:.1f} mW | {paper['tile_power_mw']:g} mW |",
            f"| tile area | {report.tile_area_mm2:.4f} mm2 | {paper['tile_area_mm2']:g} mm2 |"]
    return "\n".join(rows)


def readme_minilm(setting: Setting) -> str:
    """minilm-l6 at the Chen rates with a lossless 9-bit ADC: crossbars, head accuracy, fidelity, retrieval."""
    from dse.simulate import evaluate
    from dse.tolerance.presets import PRESETS
    from dse.workloads import load_workload
    workload = load_workload("minilm-l6")
    hw = HardwareConfig(adc_bits=9)
    faults = FaultScenario(**CHEN2015, n_chips=setting.transformer_chips)
    schemes = [("none", PRESETS["none"]), ("compensate", PRESETS["compensate"]),
               ("zero-space-paper (30 % pruned, median vote)", PRESETS["zero-space-paper"]),
               ("zero-space (30 % pruned)", PRESETS["zero-space"]),
               ("zero-space (no pruning)", PRESETS["zero-space"].replace(row_prune=0.0, col_prune=0.0))]
    rows = ["| protection | crossbars | head accuracy | cosine fidelity | paraphrase top-1 |", "|---|---|---|---|---|"]
    for label, protection in schemes:
        r = evaluate(workload, hw, faults, protection, max_test=setting.max_test)
        rows.append(f"| {label} | {r.crossbars} | {r.accuracy_mean:.3f} | {r.metric_mean('cosine_fidelity'):.3f} "
                    f"| {r.metric_mean('paraphrase_top1'):.3f} |")
    return "\n".join(rows)


TABLES: dict[str, Table] = {t.name: t for t in (
    Table("readme-adc", "README.md", readme_adc, "accuracy by ADC bits and range, digits workloads"),
    Table("readme-schemes", "README.md", readme_schemes, "every protection preset at the Chen rates"),
    Table("readme-rates", "README.md", readme_rates, "tolerated fault rates of four schemes (slow)"),
    Table("readme-analog", "README.md", readme_analog, "mlp-digits under variation and read noise"),
    Table("readme-minilm", "README.md", readme_minilm, "minilm-l6 under faults, five protections (slow)"),
    Table("readme-isaac", "README.md", readme_isaac, "ISAAC IMA and tile against the paper"),
)}


# --------------------------------------------------------------------------------------------------
# The Markdown side: find, check and replace the blocks
# --------------------------------------------------------------------------------------------------

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


def select(names: list[str] | None) -> list[Table]:
    """The tables named (all when empty), refusing unknown names with the allowed ones."""
    if not names:
        return list(TABLES.values())
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        raise ValueError(f"unknown table(s) {', '.join(unknown)}; allowed: {', '.join(TABLES)}")
    return [TABLES[n] for n in names]


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

