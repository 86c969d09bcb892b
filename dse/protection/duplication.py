"""Where copies go: bit lines, vote groups and the layout of one protected layer.

A layer's logical cells are ``levels[a, s, i, j]`` (array, slice, row, output column). Physical bit lines
are columns of a level matrix (in, B); the first ``A*S*out`` are the layer's own, in (array, slice,
column) order as in ``kernels.plain_bitlines``. Copies are appended after them. A *group* is one logical
bit line ``(a, s, j)`` with its copies: the kernel votes over the group's members (each an ADC-converted
partial sum accumulated over input cycles, per row tile) and adds ``coef = sign(a) * 2**(s*cell_bits)``
times the vote into output ``j``.

Sources of copies
-----------------
1. MSB embedding (``msb.py``): the bit line of host slice ``k`` joins the group of slice ``S-1-k``.
2. Duplication in freed columns (zero space): with ``dup_budget = "pruned"`` the layer keeps the
   crossbars its pruned, unprotected matrix needs, ``row_tiles * ceil(B / cols)``, and the
   ``ceil(B / cols) * cols - B`` columns left free in every row tile hold copies. With ``"unpruned"`` it
   may occupy the crossbars of the unpruned layer (``budget_crossbars``), ``floor(budget_crossbars /
   row_tiles)`` per row tile: pruning then frees whole crossbars for copies, and the layer still uses no
   crossbar the original model did not. Units ``(slice s, column j)`` (one bit line per array) are copied in decreasing
   *priority* ``importance[j] * 2**(s*cell_bits)``: the output error one level of fault on that bit line
   causes (importance in ``importance.py``), restricted to the top ``dup_slices`` slices that hold weight
   bits. Each unit gets ``dup_copies - 1`` copies while space remains.
3. Spare columns (baseline): the top ``spare_cols`` slices of *every* column get one more copy each; the
   layer grows to ``row_tiles * ceil(B_total / cols)`` crossbars, the extra ones reported as spare.

The kernel's median reads three members, so with the ``median`` vote no group takes more than three
(copies beyond that are not placed). Groups of two are averaged whatever the vote says, except
test-aware, which picks one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.config import HardwareConfig, Protection
from dse.layout import LayerLayout, ceil_div
from dse.protection.msb import host_pairs
from kernels import VOTE_MODES, BitlineGroups
from kernels.slicing import array_signs

MEDIAN_MEMBERS = 3


@dataclass(frozen=True)
class LayerPlan:
    """The physical bit lines of one protected layer (fault-free) and how they are read.

    bitline_levels  (in, B) uint8 cell levels of every physical bit line, copies included
    source          (B, 3) int64: the logical cell ``(a, s, j)`` whose levels bit line ``b`` holds
    groups          the vote groups (``members`` (G, C) with -1 padding, ``out``, ``coef``, ``vote``)
    layout          crossbars, bit lines, copy bit lines, spare crossbars
    dup_bitlines    copies placed in freed columns (zero space)
    spare_bitlines  copies placed in spare columns (cost crossbars)
    embed_bitlines  host bit lines of MSB embedding (no extra bit line: they were the LSB slices)
    """

    bitline_levels: np.ndarray
    source: np.ndarray
    groups: BitlineGroups
    layout: LayerLayout
    dup_bitlines: int
    spare_bitlines: int
    embed_bitlines: int


def plan_layer(name: str, levels: np.ndarray, hw: HardwareConfig, protection: Protection,
               priority_cols: np.ndarray, mvms_per_inference: int = 1,
               budget_crossbars: int | None = None) -> LayerPlan:
    """Lay out one layer's levels (A, S, in, out) with the copies ``protection`` asks for.

    priority_cols     (out,) non-negative importance of each output column (larger = copied first)
    budget_crossbars  with ``dup_budget = "unpruned"``: the crossbars of the unpruned layer (required)
    """
    n_arr, n_sl, n_in, n_out = levels.shape
    cb, m = hw.cell_bits, protection.msb_embed
    own = n_arr * n_sl * n_out
    vote_mode = VOTE_MODES[protection.vote]
    max_members = MEDIAN_MEMBERS if protection.vote == "median" else None

    def bitline(a: int, s: int, j: int) -> int:
        return (a * n_sl + s) * n_out + j

    # One group per logical (a, s, j) whose slice holds weight bits (hosts of MSB embedding are copies).
    members: dict[tuple[int, int, int], list[int]] = {
        (a, s, j): [bitline(a, s, j)] for a in range(n_arr) for s in range(m, n_sl) for j in range(n_out)
    }
    source = [(a, s, j) for a in range(n_arr) for s in range(n_sl) for j in range(n_out)]
    for host, copied in host_pairs(n_sl, m):
        for a in range(n_arr):
            for j in range(n_out):
                members[(a, copied, j)].append(bitline(a, host, j))
                source[bitline(a, host, j)] = (a, copied, j)

    def room(key) -> bool:
        return max_members is None or len(members[key]) < max_members

    def add_copy(s: int, j: int) -> None:
        for a in range(n_arr):
            members[(a, s, j)].append(len(source))
            source.append((a, s, j))

    # Zero-space duplication: copies of the highest-priority (slice, column) units in the free columns.
    row_tiles = ceil_div(n_in, hw.rows)
    wide = ceil_div(own, hw.cols)  # crossbars per row tile of the unprotected layout
    if protection.dup_budget == "unpruned":
        if budget_crossbars is None:
            raise ValueError("dup_budget 'unpruned' needs the crossbar count of the unpruned layer")
        wide = max(wide, budget_crossbars // row_tiles)
    budget = wide * hw.cols - own
    dup_slices = [s for s in range(n_sl - 1, m - 1, -1)][: protection.dup_slices]
    units = [(s, j) for s in dup_slices for j in range(n_out)]
    weight = np.array([priority_cols[j] * float(1 << (s * cb)) for s, j in units])
    for u in np.argsort(-weight, kind="stable"):
        s, j = units[u]
        for _ in range(protection.dup_copies - 1):
            if budget < n_arr or not room((0, s, j)):
                break
            add_copy(s, j)
            budget -= n_arr
    dup = len(source) - own

    # Spare columns: one more copy of the top `spare_cols` slices of every column, in extra crossbars.
    for s in [s for s in range(n_sl - 1, m - 1, -1)][: protection.spare_cols]:
        for j in range(n_out):
            if room((0, s, j)):
                add_copy(s, j)
    spare = len(source) - own - dup

    source_arr = np.asarray(source, dtype=np.int64)
    bitline_levels = _gather(levels, source_arr)

    keys = list(members)
    width = max(len(v) for v in members.values())
    member_arr = np.full((len(keys), width), -1, dtype=np.int64)
    for g, key in enumerate(keys):
        member_arr[g, : len(members[key])] = members[key]
    signs = array_signs(hw.mapping)
    groups = BitlineGroups(
        members=member_arr,
        out=np.array([j for _, _, j in keys], dtype=np.int64),
        coef=np.array([signs[a] * float(1 << (s * cb)) for a, s, _ in keys], dtype=np.float64),
        vote=vote_mode,
    )

    base_crossbars = row_tiles * ceil_div(own + dup, hw.cols)  # what the layer holds before spares
    crossbars = row_tiles * ceil_div(len(source), hw.cols)
    embed = n_arr * m * n_out
    layout = LayerLayout(
        name=name, in_features=n_in, out_features=n_out, bitlines=len(source),
        copy_bitlines=embed + dup + spare, row_tiles=row_tiles, crossbars=crossbars,
        spare_crossbars=crossbars - base_crossbars, mvms_per_inference=mvms_per_inference,
        weights=n_in * n_out,
    )
    return LayerPlan(bitline_levels, source_arr, groups, layout, dup, spare, embed)


def _gather(levels: np.ndarray, source: np.ndarray) -> np.ndarray:
    """(in, B) uint8: column b holds ``levels[a, s, :, j]`` for ``source[b] = (a, s, j)``."""
    return np.ascontiguousarray(levels[source[:, 0], source[:, 1], :, source[:, 2]].T, dtype=np.uint8)
