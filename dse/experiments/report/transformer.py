"""Transformer tables: minilm-l6 under faults and protections (README.md)."""
from __future__ import annotations

from dse.config import FaultScenario, HardwareConfig
from dse.experiments.report.common import CHEN2015, Setting, cached_eval, preset_named


def readme_minilm(setting: Setting) -> str:
    """minilm-l6 at the Chen rates with a lossless 9-bit ADC: crossbars, head accuracy, fidelity, retrieval."""
    hw = HardwareConfig(adc_bits=9)
    faults = FaultScenario(**CHEN2015, n_chips=setting.transformer_chips)
    schemes = [("none", preset_named("none")), ("compensate", preset_named("compensate")),
               ("zero-space-paper (30 % pruned, median vote)", preset_named("zero-space-paper")),
               ("zero-space (30 % pruned)", preset_named("zero-space")),
               ("zero-space (no pruning)", preset_named("zero-space").replace(row_prune=0.0, col_prune=0.0))]
    rows = ["| protection | crossbars | head accuracy | cosine fidelity | paraphrase top-1 |", "|---|---|---|---|---|"]
    for label, protection in schemes:
        r = cached_eval("minilm-l6", hw, faults, protection, setting.max_test)
        rows.append(f"| {label} | {r.crossbars} | {r.accuracy_mean:.3f} | {r.metric_mean('cosine_fidelity'):.3f} "
                    f"| {r.metric_mean('paraphrase_top1'):.3f} |")
    return "\n".join(rows)

