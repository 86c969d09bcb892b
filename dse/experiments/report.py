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
import math
import functools
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from dse.config import FaultScenario, HardwareConfig, Protection

CHEN2015 = dict(sa0_rate=0.0175, sa1_rate=0.0904)  # Chen et al., IEEE Trans. Computers 2015


@dataclass(frozen=True)
class Setting:
    """How much work a table's experiments do.

    n_chips   simulated chips per faulty design point of the digits workloads (mean and 95 % CI)
    analog_chips  the same under analog effects (the float path is slower)
    transformer_chips  the same for the transformer workloads (a chip takes seconds, not milliseconds)
    max_test  test samples per chip (None = the whole test split)
    rates     whether to run the tolerated-fault-rate searches (minutes each)
    """

    n_chips: int = 16
    analog_chips: int = 8
    transformer_chips: int = 8
    max_test: int | None = None
    rates: bool = True


FULL = Setting()
TINY = Setting(n_chips=2, analog_chips=2, transformer_chips=1, max_test=24, rates=False)


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


@functools.lru_cache(maxsize=None)
def _workload(name: str):
    from dse.workloads import load_workload
    return load_workload(name)


@functools.lru_cache(maxsize=None)
def _eval(name: str, hw: HardwareConfig, faults: FaultScenario, protection: Protection = Protection(),
          max_test: int | None = None, analog=None):
    """One ``evaluate`` per design point per process: tables that share a point share its run."""
    from dse.simulate import evaluate
    return evaluate(_workload(name), hw, faults, protection, max_test=max_test, analog=analog)


def _ideal(name: str, hw: HardwareConfig, setting: Setting, protection: Protection = Protection()):
    return _eval(name, hw, FaultScenario(n_chips=1), protection, setting.max_test)


def _preset(name: str) -> Protection:
    from dse.protection.presets import PRESETS
    return PRESETS[name]


CHEN = "SA0 1.75 % / SA1 9.04 %"
DIGITS = ("mlp-digits", "cnn-digits")


def readme_adc(setting: Setting) -> str:
    """Accuracy by ADC resolution and range, fault-free, and faulty unprotected at the Chen rates."""
    columns = [(9, "full"), (8, "full"), (6, "full"), (4, "full"), (6, "calibrated"), (4, "calibrated")]
    rows = ["| workload | float | 9-bit ADC (lossless) | 8-bit full | 6-bit full | 4-bit full | 6-bit calibrated "
            "| 4-bit calibrated | faulty, unprotected |", "|---|---|---|---|---|---|---|---|---|"]
    for name in DIGITS:
        cells = [f"{_workload(name).float_accuracy:.4f}"]
        for bits, adc_range in columns:
            cells.append(f"{_ideal(name, HardwareConfig(adc_bits=bits, adc_range=adc_range), setting).ideal_accuracy:.4f}")
        faulty = _eval(name, HardwareConfig(), _faults(setting, **CHEN2015), Protection(), setting.max_test)
        cells.append(f"{faulty.accuracy_mean:.4f} ± {faulty.accuracy_ci95:.4f}")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


README_SCHEMES = [("none", "none"), ("prune 30 %", "prune"),
                  ("paper's three parts (`zero-space-paper`)", "zero-space-paper"),
                  ("paper + its space budget + mean vote (`zero-space-blind`)", "zero-space-blind"),
                  ("spare columns (test-aware pick)", "spare-cols"), ("remap", "remap"),
                  ("compensation alone", "compensate"), ("**zero-space** (three parts + compensation)", "zero-space")]
SECTIONS = ((False, "fault-map-free (any chip as fabricated)"),
            (True, "needs a tested fault map (every chip's stuck cells known before programming)"))


def readme_schemes(setting: Setting) -> str:
    """Every preset at the Chen rates on both digits workloads: accuracy, crossbars, conversions; split by
    whether the preset needs the chip's tested fault map, with the best of each named."""
    def result(name, preset):
        return _eval(name, HardwareConfig(), _faults(setting, **CHEN2015), _preset(preset), setting.max_test)
    rows = ["| scheme | mlp-digits accuracy | crossbars | ADC conversions (on copies) | cnn-digits accuracy "
            "| crossbars | ADC conversions (on copies) |", "|---|---|---|---|---|---|---|"]
    ideal = [f"{result(n, 'none').ideal_accuracy:.3f} / {result(n, 'prune').ideal_accuracy:.3f} | | " for n in DIGITS]
    rows.append("| fault-free ideal (unpruned / pruned) | " + " | ".join(ideal) + " |")
    best = []
    for needs, title in SECTIONS:
        rows.append(f"| *{title}* | | | | | | |")
        members = [(label, preset) for label, preset in README_SCHEMES if _preset(preset).needs_fault_map == needs]
        for label, preset in members:
            cells = []
            for name in DIGITS:
                r = result(name, preset)
                spare = sum(layout.spare_crossbars for layout in r.layouts)
                crossbars = f"{r.crossbars} (+{spare} spare)" if spare else f"{r.crossbars}"
                cells.append(f"{r.accuracy_mean:.3f} ± {r.accuracy_ci95:.3f} | {crossbars} "
                             f"| {r.adc_conversions} ({r.extra_adc_conversions})")
            rows.append(f"| {label} | " + " | ".join(cells) + " |")
        winners = []
        for name in DIGITS:
            preset = max((p for _, p in members), key=lambda p: result(name, p).accuracy_mean)
            winners.append(f"{name} `{preset}` {result(name, preset).accuracy_mean:.3f}")
        best.append(f"{'with a tested fault map' if needs else 'fault-map-free'}: " + ", ".join(winners))
    return "\n".join(rows) + "\n\nBest " + "; best ".join(best) + "."


# Fault-map-aware presets under an imperfect test, against the best fault-map-free one.
ESCAPES = (0.0, 0.01, 0.05, 0.2)
POST_TEST = (0.001, 0.01)
BLIND = "zero-space-blind"


def _imperfect(setting: Setting, presets: list[str]) -> str:
    from dse.experiments.tolerance import crossing
    header = ("| workload | preset | " + " | ".join(f"escapes {100 * e:g} %" for e in ESCAPES)
              + " | stops beating blind at escapes | " + " | ".join(f"post-test {100 * p:g} %" for p in POST_TEST)
              + " | stops beating blind at post-test |")
    rows = [header, "|---" * (4 + len(ESCAPES) + len(POST_TEST)) + "|"]
    grid_escapes = ESCAPES + (0.5, 1.0)  # 100 % escapes: the repair logic sees nothing, so a crossing exists
    grid_post = (0.0,) + POST_TEST + (0.03, 0.1)

    def acc(name, preset, **fields):
        faults = _faults(setting, **CHEN2015).replace(**fields)
        return _eval(name, HardwareConfig(), faults, _preset(preset), setting.max_test).accuracy_mean

    def percent(rate: float) -> str:
        return "never" if math.isinf(rate) else "never ahead" if rate == 0 else f"{100 * rate:.2g} %"

    for name in DIGITS:
        for preset in [BLIND] + presets:
            escapes = [acc(name, preset, test_escape_rate=e) for e in grid_escapes]
            post = [acc(name, preset, post_test_rate=p) for p in grid_post]
            if preset == BLIND:
                blind_escapes, blind_post = escapes[0], np.array(post)
                where = ["(reference)", "(reference)"]
            else:
                where = [percent(crossing(grid_escapes, np.array(escapes) - blind_escapes, 0.0)),
                         percent(crossing(grid_post, np.array(post) - blind_post, 0.0))]
            cells = [f"{a:.3f}" for a in escapes[:len(ESCAPES)]] + [where[0]] \
                + [f"{a:.3f}" for a in post[1:1 + len(POST_TEST)]] + [where[1]]
            rows.append(f"| {name} | `{preset}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def readme_imperfect(setting: Setting) -> str:
    """The two strongest fault-map-aware presets against an imperfect test, beside the best fault-map-free one."""
    return _imperfect(setting, ["compensate", "zero-space"])


def docs_imperfect(setting: Setting) -> str:
    """docs/tolerance.md: every fault-map-aware preset against an imperfect test."""
    return _imperfect(setting, ["spare-cols", "remap", "compensate", "zero-space"])


def _analog_grid(setting: Setting, adcs, protections, fault_rates, with_spread: bool) -> list[str]:
    from dse.config import AnalogEffects
    effects = [None, AnalogEffects(variation=0.02), AnalogEffects(variation=0.05),
               AnalogEffects(variation=0.05, read_noise=0.02)]
    rows = []
    for adc_label, hw in adcs:
        for preset in protections:
            for fault_label, rates in fault_rates:
                cells = []
                for analog in effects:
                    r = _eval("mlp-digits", hw, FaultScenario(**rates, n_chips=setting.analog_chips), _preset(preset),
                              setting.max_test, analog)
                    cells.append(f"{100 * r.accuracy_mean:.1f} ± {100 * r.accuracy_std:.1f}" if with_spread
                                 else f"{100 * r.accuracy_mean:.1f}")
                rows.append((adc_label, preset, fault_label, cells))
    return rows


_ADC8 = ("8-bit full", HardwareConfig())
_ADC4CAL = ("4-bit calibrated", HardwareConfig(adc_bits=4, adc_range="calibrated"))
_ADC4FULL = ("4-bit full", HardwareConfig(adc_bits=4))


def readme_analog(setting: Setting) -> str:
    """mlp-digits under programming variation and read noise, with and without faults and protection."""
    rows = ["| ADC, protection | variation 0 | 2 % | 5 % | 5 % + 2 % read noise |", "|---|---|---|---|---|"]
    for adc, preset, faults, cells in _analog_grid(setting, [_ADC8, _ADC4CAL], ["none", "zero-space"],
                                                   [("no faults", {}), ("faults", CHEN2015)], False):
        if preset == "zero-space" and faults == "no faults":
            continue
        rows.append(f"| {adc}, {preset}, {faults} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def docs_analog(setting: Setting) -> str:
    """docs/nonideal.md: the full grid, mean ± standard deviation over chips, in %."""
    rows = ["| ADC | protection | faults SA0 / SA1 | variation 0 | variation 2 % | variation 5 % "
            "| 5 % + read noise 2 % |", "|---|---|---|---|---|---|---|"]
    for adc, preset, faults, cells in _analog_grid(setting, [_ADC8, _ADC4CAL, _ADC4FULL], ["none", "zero-space"],
                                                   [("none", {}), ("1.75 % / 9.04 %", CHEN2015)], True):
        rows.append(f"| {adc} | {preset} | {faults} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


@functools.lru_cache(maxsize=None)
def _curve(name: str, preset: str, n_chips: int, max_test: int | None):
    """One fault-rate search per design per process (``dse tolerance`` runs the same one)."""
    from dse.experiments.tolerance import tolerance_rates
    return tolerance_rates(_workload(name), HardwareConfig(), _preset(preset), n_chips=n_chips, max_test=max_test)


def _rate_curves(setting: Setting, presets):
    return {(name, preset): _curve(name, preset, setting.n_chips, setting.max_test)
            for name in DIGITS for preset in presets} if setting.rates else None


def _ratio(curve, base, drop: float) -> str:
    """``4.4x (2.1-9.0x)``: the ratio of tolerated rates and its 95 % bootstrap interval over chips."""
    from dse.experiments.tolerance import ratio_interval

    def times(value: float) -> str:
        return "inf" if math.isinf(value) else f"{value:.2g}x" if value < 10 else f"{value:.0f}x"
    if base.rates[drop] <= 0 or math.isinf(curve.rates[drop]):
        return "n/a"
    low, high = ratio_interval(curve, base, drop)
    return f"{times(curve.rates[drop] / base.rates[drop])} ({times(low)}-{times(high)})"


def _rate(curve, drop: float) -> str:
    from dse.experiments.tolerance import bootstrap_rates, interval

    def percent(value: float) -> str:
        return "inf" if math.isinf(value) else f"{100 * value:.2g} %" if value < 0.1 else f"{100 * value:.1f} %"
    low, high = interval(bootstrap_rates(curve, drop))
    return f"{percent(curve.rates[drop])} ({percent(low)}-{percent(high)})"


README_RATE_SCHEMES = [("none", "none"), ("paper's three parts", "zero-space-paper"),
                       ("strongest fault-map-free (`zero-space-blind`)", "zero-space-blind"),
                       ("compensation alone", "compensate"), ("zero-space", "zero-space")]


def readme_rates(setting: Setting) -> str:
    """Tolerated total fault rate (1 and 5 points below the design's own fault-free accuracy), with 95 %
    bootstrap intervals of the rates and of their ratio to no protection's."""
    curves = _rate_curves(setting, [p for _, p in README_RATE_SCHEMES])
    rows = ["| scheme | needs fault map | mlp −1 pt | mlp −5 pt | cnn −1 pt | cnn −5 pt |", "|---|---|---|---|---|---|"]
    for label, preset in README_RATE_SCHEMES:
        cells = []
        for name in DIGITS:
            for drop in (0.01, 0.05):
                if curves is None:
                    cells.append("not run")
                    continue
                curve, base = curves[name, preset], curves[name, "none"]
                cells.append(_rate(curve, drop) if preset == "none" else
                             f"{_rate(curve, drop)}; {_ratio(curve, base, drop)}")
        needs = "yes" if _preset(preset).needs_fault_map else "no"
        rows.append(f"| {label} | {needs} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def docs_rates(setting: Setting) -> str:
    """docs/tolerance.md: tolerated rates of six schemes with ideal accuracy, crossbars and 95 % intervals."""
    presets = ["none", "prune", "zero-space-paper", "zero-space-blind", "compensate", "zero-space"]
    curves = _rate_curves(setting, presets)
    rows = ["| workload | scheme | needs fault map | ideal | crossbars | rate at -1 point | rate at -5 points "
            "| ratio -1 pt | ratio -5 pt |", "|---|---|---|---|---|---|---|---|---|"]
    for name in DIGITS:
        for preset in presets:
            needs = "yes" if _preset(preset).needs_fault_map else "no"
            if curves is None:
                rows.append(f"| {name} | {preset} | {needs} | not run | | | | | |")
                continue
            curve, base = curves[name, preset], curves[name, "none"]
            ratios = ["1x" if preset == "none" else _ratio(curve, base, d) for d in (0.01, 0.05)]
            rows.append(f"| {name} | {preset} | {needs} | {curve.ideal:.3f} | {curve.crossbars} | {_rate(curve, 0.01)} "
                        f"| {_rate(curve, 0.05)} | {ratios[0]} | {ratios[1]} |")
    return "\n".join(rows)


def docs_prune(setting: Setting) -> str:
    """docs/tolerance.md: pruning alone, both methods, 30 and 50 %: float and fault-free hardware accuracy."""
    from dse.mapping.protected import pruned_workload
    rows = ["| workload | method | rows / cols pruned | float accuracy | ideal (fault-free crossbars) | crossbars |",
            "|---|---|---|---|---|---|"]
    for name in DIGITS:
        dense = _ideal(name, HardwareConfig(), setting)
        rows.append(f"| {name} | dense | 0 / 0 | {_workload(name).float_accuracy:.3f} | {dense.ideal_accuracy:.3f} "
                    f"| {dense.crossbars} |")
        for fraction in (0.3, 0.5):
            for method in ("magnitude", "gates"):
                protection = Protection(row_prune=fraction, col_prune=fraction, prune_method=method)
                pruned, _, _ = pruned_workload(_workload(name), protection)
                r = _ideal(name, HardwareConfig(), setting, protection)
                rows.append(f"| {name} | {method} | {100 * fraction:.0f} % / {100 * fraction:.0f} % | {pruned.float_accuracy:.3f} "
                            f"| {r.ideal_accuracy:.3f} | {r.crossbars} |")
    return "\n".join(rows)


_PRUNE = dict(row_prune=0.3, col_prune=0.3, prune_method="gates")
_DUP = dict(dup_copies=3, dup_slices=2)
# (label, protection): the comparison first, then the ablation of the zero-space scheme.
ABLATION: list[tuple[str, Protection | str]] = [
    ("none", "none"), ("spare columns (1 MSB copy, test-aware)", "spare-cols"), ("remap rows", "remap"),
    ("prune 30 %", "prune"),
    ("prune + dup (median)", Protection(**_PRUNE, **_DUP, vote="median")),
    ("prune + dup + MSB embed (median) = paper", "zero-space-paper"),
    ("paper + unpruned budget (median)", Protection(**_PRUNE, **_DUP, msb_embed=1, vote="median", dup_budget="unpruned")),
    ("paper + mean vote", Protection(**_PRUNE, **_DUP, msb_embed=1, vote="mean")),
    ("paper + unpruned budget + mean = `zero-space-blind`", "zero-space-blind"),
    ("prune + dup + MSB embed (test-aware)", Protection(**_PRUNE, **_DUP, msb_embed=1, vote="test-aware")),
    ("compensate alone", "compensate"),
    ("prune + compensate", Protection(**_PRUNE, compensate=True)),
    ("MSB embed + compensate (mean)", Protection(msb_embed=1, vote="mean", compensate=True)),
    ("prune + MSB embed + compensate (mean)", Protection(**_PRUNE, msb_embed=1, vote="mean", compensate=True)),
    ("prune + dup + MSB embed + test-aware + compensate",
     Protection(**_PRUNE, **_DUP, msb_embed=1, vote="test-aware", compensate=True)),
    ("**zero-space** (prune + dup + MSB embed + mean + compensate)", "zero-space"),
]


def _ablation(name: str):
    def build(setting: Setting) -> str:
        faults = _faults(setting, **CHEN2015)
        rows = ["| scheme | fault map | ideal | accuracy (± 95 % CI) | below | crossbars | spare | ADC conv. | copies "
                "| vs prune |", "|---|---|---|---|---|---|---|---|---|---|"]
        pruned = _ideal(name, HardwareConfig(), setting, _preset("prune")).adc_conversions
        reference = None
        for label, protection in ABLATION:
            protection = _preset(protection) if isinstance(protection, str) else protection
            r = _eval(name, HardwareConfig(), faults, protection, setting.max_test)
            reference = r.ideal_accuracy if reference is None else reference
            spare = sum(layout.spare_crossbars for layout in r.layouts)
            rows.append(f"| {label} | {'needed' if protection.needs_fault_map else 'free'} "
                        f"| {r.ideal_accuracy:.3f} | {r.accuracy_mean:.3f} ± {r.accuracy_ci95:.3f} "
                        f"| {100 * (reference - r.accuracy_mean):.1f} | {r.crossbars} | {spare} | {r.adc_conversions} "
                        f"| {r.extra_adc_conversions} | {100 * (r.adc_conversions / pruned - 1):+.0f} % |")
        return "\n".join(rows)
    return build


def docs_clustered(setting: Setting) -> str:
    """docs/tolerance.md: faults clustered along bit lines, four presets."""
    presets = ["none", "zero-space-paper", "compensate", "zero-space"]
    rows = ["| workload | " + " | ".join(presets) + " |", "|---" * (len(presets) + 1) + "|"]
    faults = FaultScenario(**CHEN2015, fault_model="column", n_chips=setting.n_chips)
    for name in DIGITS:
        ideal = (_ideal(name, HardwareConfig(), setting).ideal_accuracy,
                 _ideal(name, HardwareConfig(), setting, _preset("prune")).ideal_accuracy)
        cells = [f"{_eval(name, HardwareConfig(), faults, _preset(p), setting.max_test).accuracy_mean:.3f}"
                 for p in presets]
        rows.append(f"| {name} (ideal {ideal[0]:.3f} / pruned {ideal[1]:.3f}) | " + " | ".join(cells) + " |")
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


def docs_adc_models(setting: Setting) -> str:
    """docs/cost.md: every ADC model against the survey fit and measured converters (``dse cost --adc-table``)."""
    from dse.cost.adc_compare import markdown
    return markdown()


def readme_minilm(setting: Setting) -> str:
    """minilm-l6 at the Chen rates with a lossless 9-bit ADC: crossbars, head accuracy, fidelity, retrieval."""
    hw = HardwareConfig(adc_bits=9)
    faults = FaultScenario(**CHEN2015, n_chips=setting.transformer_chips)
    schemes = [("none", _preset("none")), ("compensate", _preset("compensate")),
               ("zero-space-paper (30 % pruned, median vote)", _preset("zero-space-paper")),
               ("zero-space (30 % pruned)", _preset("zero-space")),
               ("zero-space (no pruning)", _preset("zero-space").replace(row_prune=0.0, col_prune=0.0))]
    rows = ["| protection | crossbars | head accuracy | cosine fidelity | paraphrase top-1 |", "|---|---|---|---|---|"]
    for label, protection in schemes:
        r = _eval("minilm-l6", hw, faults, protection, setting.max_test)
        rows.append(f"| {label} | {r.crossbars} | {r.accuracy_mean:.3f} | {r.metric_mean('cosine_fidelity'):.3f} "
                    f"| {r.metric_mean('paraphrase_top1'):.3f} |")
    return "\n".join(rows)


@functools.lru_cache(maxsize=None)
def _ideal_score(name: str, hw: HardwareConfig, max_test: int | None) -> tuple[float, dict[str, float]]:
    """The fault-free chip only (score, workload metrics): the ADC tables need no faulty chips."""
    from dse.mapping import map_network
    from dse.simulate import chip_layers, run_network
    workload = _workload(name)
    net = map_network(workload, hw)
    x, y = workload.x_test[:max_test], workload.y_test[:max_test]
    outputs = run_network(net, chip_layers(net, None, None), x)
    return workload.score(outputs, y), workload.metrics(outputs, x, y)


ADC_RANGES_BITS = (4, 5, 6, 7, 8, 9)
TRANSFORMER_ADC_BITS = (6, 7, 8, 9)  # a minilm-l6 design maps in tens of seconds: the bits that matter
ADC_RANGE_DESIGNS = [("full", dict(adc_range="full")), ("calibrated", dict(adc_range="calibrated")),
                     ("clip", dict(adc_range="clip")), ("clip + flip", dict(adc_range="clip", weight_flip=True))]


def _adc_range_rows(plan) -> list[str]:
    header = " | ".join(f"{b}-bit" for b in ADC_RANGES_BITS)
    rows = [f"| workload (metric) | mapping | ADC range | {header} |", "|---|---|---|" + "---|" * len(ADC_RANGES_BITS)]
    for name, metric, mapping, bits_run, max_test in plan:
        for label, design in ADC_RANGE_DESIGNS:
            cells = []
            for bits in ADC_RANGES_BITS:
                if bits not in bits_run:
                    cells.append("not run")
                    continue
                score, metrics = _ideal_score(name, HardwareConfig(adc_bits=bits, mapping=mapping, **design), max_test)
                cells.append(f"{score if metric == 'accuracy' else metrics[metric]:.4f}")
            rows.append(f"| {name} ({metric.replace('_', ' ')}) | {mapping} | {label} | " + " | ".join(cells) + " |")
    return rows


def docs_adc_ranges(setting: Setting) -> str:
    """docs/adc.md: fault-free accuracy of the digits workloads by ADC bits for every range, with and without
    weight flipping, both mappings."""
    return "\n".join(_adc_range_rows([(name, "accuracy", mapping, ADC_RANGES_BITS, setting.max_test)
                                      for name in DIGITS for mapping in ("differential", "offset")]))


def docs_adc_ranges_minilm(setting: Setting) -> str:
    """docs/adc.md: the same for minilm-l6, cosine fidelity of the embeddings (its own table: it is slow)."""
    return "\n".join(_adc_range_rows([("minilm-l6", "cosine_fidelity", "differential", TRANSFORMER_ADC_BITS,
                                       setting.max_test)]))


TABLES: dict[str, Table] = {t.name: t for t in (
    Table("readme-adc", "README.md", readme_adc, "accuracy by ADC bits and range, digits workloads"),
    Table("readme-schemes", "README.md", readme_schemes, "every protection preset at the Chen rates"),
    Table("readme-rates", "README.md", readme_rates, "tolerated fault rates of five schemes (slow)"),
    Table("readme-imperfect-test", "README.md", readme_imperfect,
          "fault-map-aware presets under test escapes and post-test failures"),
    Table("docs-imperfect-test", "docs/tolerance.md", docs_imperfect,
          "every fault-map-aware preset under test escapes and post-test failures"),
    Table("readme-analog", "README.md", readme_analog, "mlp-digits under variation and read noise"),
    Table("readme-minilm", "README.md", readme_minilm, "minilm-l6 under faults, five protections (slow)"),
    Table("readme-isaac", "README.md", readme_isaac, "ISAAC IMA and tile against the paper"),
    Table("docs-prune", "docs/tolerance.md", docs_prune, "pruning alone, magnitude and gates, 30 and 50 %"),
    Table("docs-ablation-mlp", "docs/tolerance.md", _ablation("mlp-digits"), "schemes and ablation, mlp-digits"),
    Table("docs-ablation-cnn", "docs/tolerance.md", _ablation("cnn-digits"), "schemes and ablation, cnn-digits"),
    Table("docs-clustered", "docs/tolerance.md", docs_clustered, "faults clustered along bit lines"),
    Table("docs-rates", "docs/tolerance.md", docs_rates, "tolerated fault rates of six schemes (slow)"),
    Table("docs-analog", "docs/nonideal.md", docs_analog, "mlp-digits analog grid, three ADCs"),
    Table("docs-adc-models", "docs/cost.md", docs_adc_models, "ADC models against the survey fit and measured ADCs"),
    Table("docs-adc-ranges", "docs/adc.md", docs_adc_ranges, "digits accuracy by ADC bits and range, flipping"),
    Table("docs-adc-ranges-minilm", "docs/adc.md", docs_adc_ranges_minilm, "minilm-l6 fidelity by ADC bits (slow)"),
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

