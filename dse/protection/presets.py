"""Named protection settings for ``--protect NAME`` (``dse eval``, ``dse sweep``); field flags override them.

Each says what it needs of the chip (``Protection.needs_fault_map``): the fault-map-free ones (none,
prune, zero-space-paper, zero-space-blind) work on any chip as fabricated; the others (compensate, spare-cols with its
test-aware pick, remap, zero-space) need every chip's post-fabrication fault map.

none              no protection
prune             structured pruning alone: 30 % of rows and columns, learned gates, fine-tuned
compensate        fault-compensating programming alone (needs the chip's tested fault map; no space)
spare-cols        baseline: one copy of every column's most significant slice in spare columns (extra
                  crossbars); the post-fabrication test picks the healthier copy (classic column repair)
remap             baseline: rows permuted per chip so the important weights avoid the stuck cells
zero-space-paper  the three parts of Li et al. 2024 alone: pruning, copies of the two most significant
                  slices in the freed columns (up to two each), MSB embedding, median of three
zero-space-blind  our strongest fault-map-free configuration: zero-space-paper with the paper's space
                  budget (copies in every crossbar of the unpruned network) and a mean vote
zero-space        our best zero-space configuration: zero-space-paper with a mean vote plus
                  fault-compensating programming (see docs/tolerance.md for the ablation)
"""
from __future__ import annotations

from dse.config import Protection

_PRUNE = dict(row_prune=0.3, col_prune=0.3, prune_method="gates")

PRESETS: dict[str, Protection] = {
    "none": Protection(),
    "prune": Protection(**_PRUNE),
    "compensate": Protection(compensate=True),
    "spare-cols": Protection(spare_cols=1, vote="test-aware"),
    "remap": Protection(remap=True),
    "zero-space-paper": Protection(**_PRUNE, dup_copies=3, dup_slices=2, msb_embed=1, vote="median"),
    "zero-space-blind": Protection(**_PRUNE, dup_copies=3, dup_slices=2, msb_embed=1, vote="mean",
                                   dup_budget="unpruned"),
    "zero-space": Protection(**_PRUNE, dup_copies=3, dup_slices=2, msb_embed=1, vote="mean", compensate=True),
}
