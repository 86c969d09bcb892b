"""minilm-l6's hyperparameters, chosen on a validation split carved from its training sentences, never on test.

The split is :func:`dse.workloads.sentences.validation_split`: 50 of the 170 training sentences (per topic 3
singles and 1 paraphrase pair, seed ``VALIDATION_SEED``), disjoint from the calibration and test splits.
Every candidate is fitted on the other 120 training sentences (the topic head, pruning's gates and
fine-tuning), calibrated on the usual calibration split and scored on the 50 validation sentences
(:func:`~dse.workloads.sentences.selection_splits` puts them in the workload's test slot). The winners are the
defaults of the workload (``dse.workloads.minilm_hparams``), which then fit on all 170 training sentences.

1. SmoothQuant ``alpha`` (:data:`ALPHA_GRID`, ``None`` = no smoothing): among the values whose fault-free
   quantised fidelity is no lower than without smoothing (smoothing exists to help quantisation, so one that
   hurts the fault-free chip is out), the one of highest mean cosine fidelity of unprotected chips at a low
   fault rate (:data:`ALPHA_FAULTS`; 8-bit weights and inputs, lossless 9-bit ADC). Stronger smoothing raises
   the fault-free fidelity but leaves the typical weight fewer integer levels, so the fault-free number alone
   would pick the most fragile encoder.
2. The pruning recipe (:data:`RECIPE_GRID`: Adam step of the weights x distillation weight) at the presets'
   pruning, 30 % of rows and columns with gates, with the chosen ``alpha``: by the float cosine of the pruned,
   fine-tuned encoder to the unpruned float model (what the protections then preserve); head accuracy and
   paraphrase top-1 beside it.

Ties go to the earlier candidate of the grid. ``python -m dse.experiments.minilm_choice`` prints the table;
``dse report --write docs-minilm-choice`` writes it into docs/transformer.md. Pruned candidates are cached
like every pruned model, so a rerun costs the alpha evaluations only (minutes), until the model or pruning
code changes (the cache key hashes its source) and the four candidates are pruned again.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from dse.config import FaultScenario, HardwareConfig

SPLIT = "validation split (50 of the 170 training sentences, `validation_split` in dse/workloads/sentences.py)"
ALPHA_GRID: tuple[float | None, ...] = (None, 0.3, 0.5, 0.7)
ALPHA_FAULTS = FaultScenario(sa0_rate=0.0003, sa1_rate=0.0006, n_chips=8)
ALPHA_HW = HardwareConfig(adc_bits=9)
RECIPE_GRID: tuple[tuple[float, float], ...] = tuple(
    (step, weight) for weight in (1.0, 10.0) for step in (1e-4, 3e-4))
PRUNE_FRACTION = 0.3


@dataclass(frozen=True)
class AlphaRow:
    alpha: float | None
    ideal_cosine: float
    faulty_cosine: float       # mean over ALPHA_FAULTS' chips
    faulty_cosine_std: float  # sample standard deviation over the chips


@dataclass(frozen=True)
class RecipeRow:
    learning_rate: float
    distill_weight: float
    cosine: float              # pruned float embeddings against the unpruned float model's, validation mean
    accuracy: float
    paraphrase_top1: float


@dataclass(frozen=True)
class Choice:
    alphas: tuple[AlphaRow, ...]
    recipes: tuple[RecipeRow, ...]

    @property
    def alpha(self) -> float | None:
        return best_alpha(self.alphas)

    @property
    def recipe(self) -> RecipeRow:
        return max(self.recipes, key=lambda r: (r.cosine, -self.recipes.index(r)))


def eligible(rows: tuple[AlphaRow, ...]) -> tuple[AlphaRow, ...]:
    """The alphas whose fault-free fidelity is at least the unsmoothed model's."""
    plain = next(r for r in rows if r.alpha is None)
    return tuple(r for r in rows if r.ideal_cosine >= plain.ideal_cosine)


def best_alpha(rows: tuple[AlphaRow, ...]) -> float | None:
    candidates = eligible(rows)
    return max(candidates, key=lambda r: (r.faulty_cosine, -rows.index(r))).alpha


@functools.lru_cache(maxsize=None)
def _selection_workload(alpha: float | None):
    from dse.workloads.sentences import selection_splits
    from dse.workloads.transformer import minilm_workload
    return minilm_workload(splits=selection_splits(), smooth_alpha=alpha)


def choose_alpha(progress=None) -> tuple[AlphaRow, ...]:
    from dse.simulate import evaluate
    rows = []
    for alpha in ALPHA_GRID:
        r = evaluate(_selection_workload(alpha), ALPHA_HW, ALPHA_FAULTS)
        cosines = r.metrics_per_chip["cosine_fidelity"]
        rows.append(AlphaRow(alpha, r.ideal_metrics["cosine_fidelity"], float(np.mean(cosines)), float(np.std(cosines, ddof=1))))
        if progress:
            progress(f"alpha {alpha}: {rows[-1]}")
    return tuple(rows)


def choose_recipe(alpha: float | None, progress=None) -> tuple[RecipeRow, ...]:
    from dse.pruning.transformer import TRANSFORMER_RECIPE, prune_transformer
    from dse.workloads.sentences import cosine_rows, retrieval_metrics
    base = _selection_workload(alpha)
    x, y = base.x_test, base.y_test  # the validation split
    reference = base.float_embeddings(x)
    rows = []
    for step, weight in RECIPE_GRID:
        pruned = prune_transformer(dataclasses.replace(base, distill_weight=weight), PRUNE_FRACTION, PRUNE_FRACTION,
                                   "gates", recipe=dataclasses.replace(TRANSFORMER_RECIPE, learning_rate=step)).workload
        embeddings = pruned.float_embeddings(x)
        rows.append(RecipeRow(step, weight, float(np.mean(cosine_rows(embeddings, reference))), pruned.score(embeddings, y),
                              retrieval_metrics(embeddings, y, base.pair_test)["paraphrase_top1"]))
        if progress:
            progress(f"recipe {step:g} x{weight:g}: {rows[-1]}")
    return tuple(rows)


def choose(progress=None) -> Choice:
    alphas = choose_alpha(progress)
    return Choice(alphas, choose_recipe(best_alpha(alphas), progress))


def _alpha_label(alpha: float | None) -> str:
    return "none" if alpha is None else f"{alpha:g}"


def markdown(choice: Choice) -> str:
    """The two selection tables, the winners, and whether they are the workload's defaults."""
    from dse.workloads.minilm_hparams import DISTILL_WEIGHT, PRUNE_LEARNING_RATE, SMOOTH_ALPHA
    faults = f"SA0 {100 * ALPHA_FAULTS.sa0_rate:g} % / SA1 {100 * ALPHA_FAULTS.sa1_rate:g} %, {ALPHA_FAULTS.n_chips} chips"
    rows = [f"| smoothing `alpha` | ideal cosine fidelity | eligible (ideal ≥ unsmoothed) "
            f"| cosine at {faults} (mean ± std) |", "|---|---|---|---|"]
    allowed = eligible(choice.alphas)
    for r in choice.alphas:
        mark = "**" if r.alpha == choice.alpha else ""
        rows.append(f"| {mark}{_alpha_label(r.alpha)}{mark} | {r.ideal_cosine:.4f} | {'yes' if r in allowed else 'no'} "
                    f"| {mark}{r.faulty_cosine:.3f}{mark} ± {r.faulty_cosine_std:.3f} |")
    rows += ["", f"| step (Adam) | distillation weight | cosine to the float model | head accuracy | paraphrase top-1 |",
             "|---|---|---|---|---|"]
    for r in choice.recipes:
        mark = "**" if r == choice.recipe else ""
        rows.append(f"| {mark}{r.learning_rate:g}{mark} | {mark}{r.distill_weight:g}{mark} | {mark}{r.cosine:.3f}{mark} "
                    f"| {r.accuracy:.2f} | {r.paraphrase_top1:.2f} |")
    chosen = choice.recipe
    defaults = (SMOOTH_ALPHA == choice.alpha and PRUNE_LEARNING_RATE == chosen.learning_rate
                and DISTILL_WEIGHT == chosen.distill_weight)
    rows += ["", f"Chosen on the {SPLIT}: alpha {_alpha_label(choice.alpha)}, step {chosen.learning_rate:g}, "
             f"distillation weight {chosen.distill_weight:g}; "
             + ("these are the defaults (`dse/workloads/minilm_hparams.py`)."
                if defaults else f"NOT the defaults (alpha {_alpha_label(SMOOTH_ALPHA)}, step "
                f"{PRUNE_LEARNING_RATE:g}, distillation weight {DISTILL_WEIGHT:g}): set them in "
                "`dse/workloads/minilm_hparams.py`.")]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    """``python -m dse.experiments.minilm_choice [--alpha A]``: the tables; ``--alpha`` skips step 1 and
    prunes the recipe candidates at that alpha only (to fill the pruning cache)."""
    import argparse
    import sys

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)
    parser = argparse.ArgumentParser(prog="python -m dse.experiments.minilm_choice")
    parser.add_argument("--alpha", type=float, help="only prune the recipe candidates at this alpha")
    args = parser.parse_args(argv)
    if args.alpha is not None:
        for row in choose_recipe(args.alpha, say):
            print(row)
        return
    print(markdown(choose(say)))


if __name__ == "__main__":
    main()
