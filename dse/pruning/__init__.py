"""Structured pruning that frees whole crossbar rows (word lines) and columns (bit-line groups).

:func:`prune` is the one entry: a transformer is pruned through its own structure
(:mod:`dse.pruning.transformer`), any other network as the sequence of its layers
(:mod:`dse.pruning.sequential`); both train their hard-concrete gates with the one loop of
:mod:`dse.pruning.gates` and fine-tune with its masked fine-tuning. Results are cached on disk. The method and its consistency rules are in
:mod:`dse.pruning.sequential` and docs/tolerance.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from dse.pruning.gates import PruneRecipe
from dse.pruning.sequential import METHODS, PrunedNetwork, prune_sequential
from dse.pruning.transformer import TRANSFORMER_RECIPE, prune_transformer
from dse.workloads.transformer import TransformerWorkload

__all__ = ["METHODS", "PruneRecipe", "PrunedNetwork", "TRANSFORMER_RECIPE", "prune"]


def prune(workload, row_prune: float | Mapping[str, float], col_prune: float | Mapping[str, float],
          method: str = "gates", *, recipe: PruneRecipe = PruneRecipe(),
          cache_dir: str | Path | None = None, use_cache: bool = True) -> PrunedNetwork:
    """Prune ``workload`` structurally and fine-tune it; cached on disk.

    row_prune, col_prune  fractions in [0, 0.9] of every weight layer's rows / columns, or
                          ``{layer name: fraction}`` (missing layers: 0). The last layer keeps its columns.
    method                ``magnitude`` or ``gates``
    recipe                the default recipe means each pruner's own (:data:`TRANSFORMER_RECIPE` for a
                          transformer)
    cache_dir             default: the workloads' cache directory (``$RERAM_DSE_CACHE/workloads``)
    """
    if method not in METHODS:
        raise ValueError(f"prune method must be one of {', '.join(METHODS)}; got {method!r}")
    if isinstance(workload, TransformerWorkload):
        return prune_transformer(workload, row_prune, col_prune, method,
                                 recipe=None if recipe == PruneRecipe() else recipe,
                                 cache_dir=cache_dir, use_cache=use_cache)
    return prune_sequential(workload, row_prune, col_prune, method, recipe=recipe, cache_dir=cache_dir,
                            use_cache=use_cache)
