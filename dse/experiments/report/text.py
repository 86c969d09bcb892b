"""Text-task tables: minilm-mr and minilm-snli without faults (README.md), by ADC bits and range (docs/adc.md),
and under faults with every protection preset (docs/text-tasks.md)."""
from __future__ import annotations

from dse.config import FaultScenario, HardwareConfig
from dse.experiments.report.common import (CHEN2015, CHEN_PERCENT, LOSSLESS, Setting, cached_eval, cached_workload,
                                           crossbars_cell, ideal_score, preset_named, zero_space_unpruned)
from dse.experiments.report.hardware import _adc_range_rows
from dse.experiments.report.protection import README_SCHEMES, SECTIONS

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
