"""Text-task tables: minilm-mr and minilm-snli without faults (README.md), by ADC bits and range (docs/adc.md),
under faults with every protection preset, and their tolerated fault rates (docs/text-tasks.md)."""
from __future__ import annotations

import functools

from dse.config import FaultScenario, HardwareConfig
from dse.experiments.report.common import (CHEN2015, CHEN_PERCENT, LOSSLESS, Setting, cached_eval, cached_workload,
                                           crossbars_cell, ideal_score, preset_named, zero_space_unpruned)
from dse.experiments.report.hardware import _adc_range_rows
from dse.experiments.report.protection import README_SCHEMES, SECTIONS, rate_cell, ratio_cell

TEXT_TASKS = ("minilm-mr", "minilm-snli")
# Test examples per chip: MR's whole test split (1,056 sentences), SNLI's first 1,000 of its 9,824 pairs
# (each pair is two encoder passes in numpy: the whole split is 19,648 sentences per chip).
TEXT_TEST = {"minilm-mr": None, "minilm-snli": 1000}


def text_test(name: str, setting: Setting) -> int | None:
    cap = TEXT_TEST[name]
    if setting.max_test is None:
        return cap
    return setting.max_test if cap is None else min(cap, setting.max_test)


def _examples(name: str, setting: Setting) -> int:
    return len(cached_workload(name).x_test[:text_test(name, setting)])


def readme_text_tasks(setting: Setting) -> str:
    """Fault-free test accuracy of both tasks: float, lossless ADC and 8-bit ``clip`` (step 1, the range the
    studies use), with the lossless design's crossbars and ADC conversions per inference. The default
    8-bit ``full`` range is in ``docs_adc_ranges_text`` and ``text_schemes`` (docs/adc.md, docs/text-tasks.md)."""
    rows = ["| workload | test examples | float | 9-bit ADC (lossless) | 8-bit `clip` "
            "| crossbars | ADC conversions per inference |", "|---|---|---|---|---|---|---|"]
    for name in TEXT_TASKS:
        max_test = text_test(name, setting)
        lossless = cached_eval(name, LOSSLESS, FaultScenario(n_chips=1), preset_named("none"), max_test)
        clip8 = ideal_score(name, HardwareConfig(adc_range="clip"), max_test)[0]
        rows.append(f"| {name} | {_examples(name, setting):,} | {lossless.float_accuracy:.4f} "
                    f"| {lossless.ideal_accuracy:.4f} | {clip8:.4f} "
                    f"| {lossless.crossbars} | {lossless.adc_conversions:,} |")
    return "\n".join(rows)


def docs_adc_ranges_text(setting: Setting) -> str:
    """docs/adc.md: fault-free test accuracy of minilm-mr by ADC bits and range (the digits table's columns),
    6 to 9 bits: below 6 minilm-l6 is unusable with every range, and each design there runs on the
    popcount kernels (5 to 10 minutes on 2 cores). minilm-snli is left out: a design encodes 2,000 sentences
    per chip."""
    return "\n".join(_adc_range_rows([("minilm-mr", "accuracy", "differential", (6, 7, 8, 9),
                                       text_test("minilm-mr", setting))]))


# Protection at the Chen rates. The ADC is the lossless 9-bit one, so what a row loses is the faults' (and
# the pruning's), not the converter's; the fault-free rows above them say what the ADC alone costs.
# Unpruned zero-space is added: on minilm-l6 it is the strongest design (README.md, readme-minilm).
TEXT_SCHEMES = README_SCHEMES + [("zero-space without pruning", "zero-space-unpruned")]


def _protection(preset: str):
    if preset == "zero-space-unpruned":
        return zero_space_unpruned()
    return preset_named(preset)


def text_schemes(name: str):
    """docs/text-tasks.md: one task's fault-free rows (float, lossless, default 8-bit ``full``, 8-bit
    ``clip``) and every protection preset at the Chen rates on the lossless ADC, split by whether the
    preset needs the chip's tested fault map; mean and 95 % CI over ``transformer_chips`` chips."""
    def build(setting: Setting) -> str:
        max_test = text_test(name, setting)
        clean = FaultScenario(n_chips=1)
        faults = FaultScenario(**CHEN2015, n_chips=setting.transformer_chips)
        rows = [f"| {name}: design | needs fault map | fault-free ideal | accuracy at SA0 / SA1 {CHEN_PERCENT} "
                "(± 95 % CI) | crossbars | ADC conversions per inference (on copies) |", "|---|---|---|---|---|---|"]
        lossless = cached_eval(name, LOSSLESS, clean, preset_named("none"), max_test)
        rows.append(f"| float (no crossbars) | | {lossless.float_accuracy:.4f} | | | |")
        for label, hw in (("9-bit ADC (lossless)", LOSSLESS), ("default 8-bit `full` ADC (step 2)", HardwareConfig()),
                          ("8-bit `clip` ADC (step 1)", HardwareConfig(adc_range="clip"))):
            r = cached_eval(name, hw, clean, preset_named("none"), max_test)
            rows.append(f"| {label}, no faults | | {r.ideal_accuracy:.4f} | | {r.crossbars} | {r.adc_conversions:,} |")
        best = []
        for needs, title in SECTIONS:
            rows.append(f"| *{title}*; 9-bit ADC | | | | | |")
            members = [(label, p) for label, p in TEXT_SCHEMES if _protection(p).needs_fault_map == needs]
            results = {p: cached_eval(name, LOSSLESS, faults, _protection(p), max_test) for _, p in members}
            for label, preset in members:
                r = results[preset]
                rows.append(f"| {label} | {'yes' if needs else 'no'} | {r.ideal_accuracy:.4f} "
                            f"| {r.accuracy_mean:.4f} ± {r.accuracy_ci95:.4f} | {crossbars_cell(r)} "
                            f"| {r.adc_conversions:,} ({r.extra_adc_conversions:,}) |")
            winner = max(results, key=lambda p: results[p].accuracy_mean)
            best.append(f"{'with a tested fault map' if needs else 'fault-map-free'} `{winner}` "
                        f"{results[winner].accuracy_mean:.4f}")
        return "\n".join(rows) + f"\n\n{_examples(name, setting):,} test examples, {setting.transformer_chips} " \
            "chips per faulty row. Best " + "; best ".join(best) + "."
    return build


# Tolerated fault rates. A rate search simulates about ten rates per design, so it runs fewer chips on fewer
# test examples than the preset tables: RATE_CHIPS chips on the first RATE_TEST test examples, from
# RATE_START up by factors of RATE_STEP, then RATE_REFINE bisections per drop. The ADC is the lossless one,
# as in the preset tables. The designs: no protection (every ratio's base), the paper's three parts, and the
# strongest design of the digits tables without and with a tested fault map (zero-space-blind, zero-space).
RATE_CHIPS, RATE_TEST = 4, 256
RATE_START, RATE_STEP, RATE_REFINE = 1e-7, 8.0, 3
TEXT_RATE_SCHEMES = [("none", "none"), ("paper's three parts", "zero-space-paper"),
                     ("paper + its space budget + mean vote (`zero-space-blind`)", "zero-space-blind"),
                     ("**zero-space**", "zero-space")]


@functools.lru_cache(maxsize=None)
def _text_curve(name: str, preset: str, max_test: int):
    from dse.experiments.tolerance import tolerance_rates
    return tolerance_rates(cached_workload(name), LOSSLESS, preset_named(preset), n_chips=RATE_CHIPS,
                           max_test=max_test, start=RATE_START, step=RATE_STEP, refine=RATE_REFINE)


def text_rates(name: str):
    """docs/text-tasks.md: one task's tolerated total fault rate (SA1 share of the Chen rates) 1 and 5 points
    below each design's own fault-free accuracy, with 95 % bootstrap intervals over the chips and the ratio
    to no protection's."""
    def build(setting: Setting) -> str:
        max_test = min(RATE_TEST, setting.max_test or RATE_TEST)
        rows = [f"| {name}: design | needs fault map | fault-free ideal | crossbars | rate at −1 pt | rate at −5 pt "
                "| ratio −1 pt | ratio −5 pt |", "|---|---|---|---|---|---|---|---|"]
        if not setting.rates:
            return "\n".join(rows + [f"| {label} | | not run | | | | | |" for label, _ in TEXT_RATE_SCHEMES])
        base = _text_curve(name, "none", max_test)
        for label, preset in TEXT_RATE_SCHEMES:
            curve = _text_curve(name, preset, max_test)
            needs = "yes" if preset_named(preset).needs_fault_map else "no"
            ratios = ["1x" if preset == "none" else ratio_cell(curve, base, d) for d in (0.01, 0.05)]
            rows.append(f"| {label} | {needs} | {curve.ideal:.4f} | {curve.crossbars} | {rate_cell(curve, 0.01)} "
                        f"| {rate_cell(curve, 0.05)} | {ratios[0]} | {ratios[1]} |")
        return "\n".join(rows) + f"\n\n{len(cached_workload(name).x_test[:max_test]):,} test examples, " \
            f"{RATE_CHIPS} chips per rate, 9-bit ADC (lossless)."
    return build
