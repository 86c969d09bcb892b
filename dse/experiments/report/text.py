"""Text-task tables: minilm-mr and minilm-snli without faults (README.md) and by ADC bits and range (docs/adc.md)."""
from __future__ import annotations

from dse.config import FaultScenario, HardwareConfig
from dse.experiments.report.hardware import _adc_range_rows
from dse.experiments.report.common import Setting, cached_eval, cached_workload, ideal_score, preset_named

TEXT_TASKS = ("minilm-mr", "minilm-snli")
# Test examples per chip: MR's whole test split (1,056 sentences), SNLI's first 1,000 of its 9,824 pairs
# (each pair is two encoder passes in numpy: the whole split is 19,648 sentences per chip).
TEXT_TEST = {"minilm-mr": None, "minilm-snli": 1000}
LOSSLESS = HardwareConfig(adc_bits=9)  # 128 rows of 2-bit cells, 1-bit DACs: every column sum fits


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
    8-bit ``full`` range runs the popcount kernels (its step of 2 loses bits), about ten times the time of
    these columns on a text task, so it is left out (README.md gives its last measurement)."""
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
