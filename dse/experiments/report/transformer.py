"""Transformer tables: minilm-l6 under faults and protections (README.md, docs/transformer.md) and the choice
of its hyperparameters on the validation split."""
from __future__ import annotations

from dse.config import FaultScenario
from dse.experiments.report.common import CHEN2015, LOSSLESS, Setting, cached_eval, preset_named, zero_space_unpruned


def _schemes(detail: bool):
    zero_space = preset_named("zero-space")
    return [("none", preset_named("none")), ("compensate", preset_named("compensate")),
            *([("prune (30 %)", preset_named("prune"))] if detail else []),
            ("zero-space-paper (30 % pruned, median vote)", preset_named("zero-space-paper")),
            ("zero-space (30 % pruned)", zero_space),
            *([("zero-space with 20 % pruning", zero_space.replace(row_prune=0.2, col_prune=0.2))] if detail else []),
            ("zero-space (no pruning)", zero_space_unpruned())]


def _results(setting: Setting, detail: bool):
    faults = FaultScenario(**CHEN2015, n_chips=setting.transformer_chips)
    return [(label, cached_eval("minilm-l6", LOSSLESS, faults, protection, setting.max_test))
            for label, protection in _schemes(detail)]


def _std(values) -> float:
    """Sample standard deviation over chips, as ``EvalResult.accuracy_std``."""
    import numpy as np  # here, not at the top: `dse report --help` loads no numeric stack

    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def readme_minilm(setting: Setting) -> str:
    """minilm-l6 at the Chen rates with a lossless 9-bit ADC: crossbars, head accuracy, fidelity, retrieval."""
    rows = ["| protection | crossbars | head accuracy | cosine fidelity | paraphrase top-1 |", "|---|---|---|---|---|"]
    for label, r in _results(setting, False):
        rows.append(f"| {label} | {r.crossbars} | {r.accuracy_mean:.3f} | {r.metric_mean('cosine_fidelity'):.3f} "
                    f"| {r.metric_mean('paraphrase_top1'):.3f} |")
    return "\n".join(rows)


def docs_minilm(setting: Setting) -> str:
    """docs/transformer.md: the same with pruning alone and 20 % pruning, ± standard deviation over chips, the
    topic nearest-neighbour metric and the same design without faults."""
    rows = ["| protection | crossbars | head accuracy | cosine fidelity | paraphrase top-1 | topic NN top-1 "
            "| same design without faults: accuracy / cosine |", "|---|---|---|---|---|---|---|"]
    for label, r in _results(setting, True):
        cells = [f"{r.accuracy_mean:.3f} ± {r.accuracy_std:.3f}"]
        for name in ("cosine_fidelity", "paraphrase_top1", "topic_nn_top1"):
            cells.append(f"{r.metric_mean(name):.3f} ± {_std(r.metrics_per_chip[name]):.3f}")
        rows.append(f"| {label} | {r.crossbars} | " + " | ".join(cells)
                    + f" | {r.ideal_accuracy:.2f} / {r.ideal_metrics['cosine_fidelity']:.3f} |")
    return "\n".join(rows)


def docs_minilm_choice(setting: Setting) -> str:
    """docs/transformer.md: SmoothQuant alpha and the pruning recipe, chosen on the validation split (the
    full selection whatever the setting: it is what sets the defaults)."""
    from dse.experiments.minilm_choice import choose, markdown
    return markdown(choose())
