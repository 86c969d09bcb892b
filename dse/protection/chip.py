"""What a chip does with its post-fabrication fault map: remap rows, pick copies, compensate faults.

After fabrication every chip is tested, so its stuck cells are known before its weights are programmed
(the premise of test-aware voting and of remapping). :class:`ChipRepair` is the per-chip hook of a
mapped layer (``MappedLayer.chip_hook``): given the chip's fault map over the layer's physical bit lines
it returns the cell levels actually programmed and the vote groups, doing any of

``remap``       (baseline, Xia et al., DAC 2017 style) permute the logical rows within each row tile so
                that the weights that matter most land on the healthiest word lines: a linear assignment
                minimising ``sum_i E|x_i| * sum_b c_b * |stuck level - wanted level|`` over rows ``i`` and bit
                lines ``b`` (``c_b`` = the cell's digital weight times its column's loss sensitivity).
``test-aware``  per row tile and group, read the copy whose cells deviate least from the wanted levels
                (the same weighted count restricted to the tile), instead of voting blindly.
``compensate``  program the healthy cells of every weight so that what the periphery computes from all
                of its cells, stuck ones included, equals the weight as closely as the cell ranges allow:
                e.g. a stuck-ON cell (SA1) in the positive array of a small weight is cancelled by
                programming the same slice of the negative array, and the lower slices fill in the rest.

Compensation, exactly. With a linear vote the crossbar computes, per weight ``(i, j)`` and row tile ``t``,
``value = sum_b alpha_t[b] * level[i, b]`` over the bit lines ``b`` of column ``j``, with
``alpha_t[b] = coef[g] * v`` (``v`` = 1/size for mean, 1 for the picked copy and 0 for the others in
test-aware, 1 for the first member otherwise). Stuck cells are fixed; :func:`recode` chooses the healthy
levels in ``[0, 2**cell_bits - 1]`` greedily from the largest ``|alpha|`` down, each time the level that
keeps the remaining residual inside what the remaining healthy cells can still reach, and among those
the one leaving the smallest residual. For the differential digit system (``+-4**s``) this finds the best
representable value (checked against brute force in the tests). Weights none of whose cells deviate keep
their normal levels. The median of three is not linear, so ``compensate`` is refused with it.

Cost: none in space or conversions; a per-chip computation when the chip is programmed (no training).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from numba import njit, prange
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix

from kernels import SA0, SA1, BitlineGroups, apply_faults
from kernels.vote import VOTE_FIRST, VOTE_MEAN, VOTE_MEDIAN, VOTE_PICK


def reference_weights(groups: BitlineGroups) -> np.ndarray:
    """(G, C) weight of each member in the fault-free read: 1/size for mean and median, 1 for the first
    member of first and test-aware (whose default pick is the original)."""
    sizes = groups.sizes
    valid = groups.members >= 0
    if groups.vote in (VOTE_MEAN, VOTE_MEDIAN):
        return np.where(valid, 1.0 / sizes[:, None], 0.0)
    weights = np.zeros(groups.members.shape)
    weights[:, 0] = 1.0
    return weights


def recode(target: np.ndarray, alpha: np.ndarray, fixed: np.ndarray, fixed_level: np.ndarray,
           top: int) -> tuple[np.ndarray, np.ndarray]:
    """Levels for the free cells of N weights so that ``sum_k alpha[n, k] * level[n, k]`` nears ``target[n]``.

    target (N,) float, alpha (N, K) float digital weight of each cell, fixed (N, K) bool (stuck cells, and
    cells without weight), fixed_level (N, K) their levels, ``top = 2**cell_bits - 1``.
    Returns ``(levels (N, K) int64, residual (N,) target - value)``. Compiled (Numba): one weight per
    iteration, a few dozen operations per cell.
    """
    alpha = np.ascontiguousarray(alpha, dtype=np.float64)
    levels = np.where(fixed, fixed_level, 0).astype(np.int64)
    residual = np.asarray(target, dtype=np.float64).copy()
    _recode(residual, alpha, np.ascontiguousarray(fixed, dtype=np.bool_), levels, int(top))
    return levels, residual


@njit(cache=True, parallel=True)
def _recode(residual, alpha, fixed, levels, top):  # pragma: no cover - compiled
    n, k_cells = alpha.shape
    n_chunks = min(n, 256)
    for chunk in prange(n_chunks):
        order = np.empty(k_cells, dtype=np.int64)  # scratch, once per chunk
        lo_after = np.zeros(k_cells + 1)
        hi_after = np.zeros(k_cells + 1)
        for w in range(chunk, n, n_chunks):
            a = alpha[w]
            # Cells by decreasing |alpha| (insertion sort: K is small; stable, equal weights keep order).
            for p in range(k_cells):
                q = p
                while q > 0 and abs(a[order[q - 1]]) < abs(a[p]):
                    order[q] = order[q - 1]
                    q -= 1
                order[q] = p
            for k in range(k_cells):
                if fixed[w, k]:
                    residual[w] -= a[k] * levels[w, k]
            # Reach of the free cells after position p: [sum of negative weights, sum of positive] * top.
            for p in range(k_cells - 1, -1, -1):
                c = order[p]
                lo_after[p] = lo_after[p + 1]
                hi_after[p] = hi_after[p + 1]
                if not fixed[w, c]:
                    if a[c] > 0:
                        hi_after[p] += a[c] * top
                    else:
                        lo_after[p] += a[c] * top
            for p in range(k_cells):
                c = order[p]
                if fixed[w, c]:
                    continue
                # First stay reachable by the cells still to come, then leave the smallest residual
                # (both exact in float64); ties go to the lower level.
                best, best_out, best_abs = 0, np.inf, np.inf
                for level in range(top + 1):
                    left = residual[w] - a[c] * level
                    outside = max(left - hi_after[p + 1], 0.0) + max(lo_after[p + 1] - left, 0.0)
                    if outside < best_out or (outside == best_out and abs(left) < best_abs):
                        best, best_out, best_abs = level, outside, abs(left)
                levels[w, c] = best
                residual[w] -= a[c] * best


@dataclass(eq=False)
class ChipRepair:
    """The chip hook of one protected layer: ``(faulty levels (in, B), fault map (in, B)) -> (levels, groups)``.

    ideal       (in, B) uint8 fault-free levels of every physical bit line
    groups      the layer's vote groups (fault-free: test-aware reads the originals)
    rows        crossbar rows (row tiles are ``rows`` consecutive matrix rows)
    cell_bits   bits per cell
    row_weight  (in,) mean |integer input| of each row on calibration data
    col_weight  (out,) loss sensitivity per unit of integer weight of each column (``importance.py``)
    remap, test_aware, compensate   what to do (module docstring)
    """

    ideal: np.ndarray
    groups: BitlineGroups
    rows: int
    cell_bits: int
    row_weight: np.ndarray
    col_weight: np.ndarray
    remap: bool = False
    test_aware: bool = False
    compensate: bool = False
    _column_of: np.ndarray = field(init=False, repr=False)
    _ref_alpha: np.ndarray = field(init=False, repr=False)
    _target: np.ndarray = field(init=False, repr=False)
    _table: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        g = self.groups
        if self.compensate and g.vote == VOTE_MEDIAN and (g.sizes >= 3).any():
            raise ValueError("compensate needs a linear vote: use mean or test-aware with three copies, not median")
        n_bl = self.ideal.shape[1]
        valid = g.members >= 0
        self._column_of = np.full(n_bl, -1, dtype=np.int64)
        self._column_of[g.members[valid]] = np.broadcast_to(g.out[:, None], g.members.shape)[valid]
        ref = reference_weights(g) * g.coef[:, None]
        self._ref_alpha = np.zeros(n_bl)
        self._ref_alpha[g.members[valid]] = ref[valid]
        # What each weight is worth in the stored domain: sum of its cells' reference contributions
        # (a sparse (B, out) matrix: every bit line feeds one column).
        n_out = len(self.col_weight)
        used = np.flatnonzero(self._column_of >= 0)
        to_columns = csr_matrix((self._ref_alpha[used], (used, self._column_of[used])), shape=(n_bl, n_out))
        self._target = np.asarray((to_columns.T @ self.ideal.T.astype(np.float64)).T)  # (in, out)
        # Bit lines of each column, padded with -1: the cells of one weight.
        by_column = used[np.argsort(self._column_of[used], kind="stable")]
        counts = np.bincount(self._column_of[used], minlength=n_out)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._table = np.full((n_out, counts.max()), -1, dtype=np.int64)
        slot = np.arange(len(by_column)) - np.repeat(starts, counts)
        self._table[np.repeat(np.arange(n_out), counts), slot] = by_column

    @property
    def top(self) -> int:
        return (1 << self.cell_bits) - 1

    def tiles(self):
        n_in = self.ideal.shape[0]
        return [slice(t, min(n_in, t + self.rows)) for t in range(0, n_in, self.rows)]

    def cell_cost(self) -> np.ndarray:
        """(B,) cost of one level of error on each bit line: ``|alpha_ref| * column sensitivity``."""
        col = np.where(self._column_of >= 0, self.col_weight[np.maximum(self._column_of, 0)], 0.0)
        return np.abs(self._ref_alpha) * col

    def __call__(self, faulty: np.ndarray, fault_map: np.ndarray,
                 unseen: np.ndarray | None = None) -> tuple[np.ndarray, BitlineGroups, np.ndarray]:
        """``(levels programmed and read, groups, fault map)`` of one chip's layer.

        faulty, fault_map  the levels and the stuck cells the post-fabrication test reports
        unseen   stuck cells the test does not report (escapes, later failures; ``dse.simulate.chips``):
                 no decision uses them; they are applied to the programmed levels, in the same
                 (possibly remapped) physical row order, and included in the returned fault map
        """
        perm = None
        if self.remap:
            perm = self.row_permutation(fault_map)
            fault_map = fault_map[perm]
            faulty = apply_faults(self.ideal, fault_map, self.cell_bits)
        groups = self.groups
        if self.test_aware:
            groups = replace(groups, pick=self.picks(faulty))
        levels = faulty
        if self.compensate:
            levels = self.compensated(faulty, fault_map, groups)
        if unseen is not None:
            unseen = unseen if perm is None else unseen[perm]
            levels = apply_faults(np.ascontiguousarray(levels), unseen, self.cell_bits)
            fault_map = np.where(unseen != 0, unseen, fault_map).astype(np.uint8)
        return levels, groups, fault_map  # the fault map in the (possibly remapped) row order of levels

    # --- remap ---------------------------------------------------------------------------------

    def row_permutation(self, fault_map: np.ndarray) -> np.ndarray:
        """(in,) physical row of each logical row: a min-cost assignment within each row tile."""
        cost_b = self.cell_cost()
        ideal = self.ideal.astype(np.float64)
        perm = np.arange(self.ideal.shape[0])
        for tile in self.tiles():
            want = ideal[tile]
            sa0 = (fault_map[tile] == SA0).astype(np.float64)
            sa1 = (fault_map[tile] == SA1).astype(np.float64)
            # damage[i, p]: logical row i on physical row p (SA0 loses the level, SA1 adds top - level).
            damage = (want * cost_b) @ sa0.T + ((self.top - want) * cost_b) @ sa1.T
            damage *= self.row_weight[tile][:, None]
            logical, physical = linear_sum_assignment(damage)
            perm[tile.start + logical] = tile.start + physical
        return perm

    # --- test-aware pick -----------------------------------------------------------------------

    def picks(self, levels: np.ndarray) -> np.ndarray:
        """(row_tiles, G) index of the member to read: the copy whose cells deviate least in that tile."""
        deviation = np.abs(levels.astype(np.int64) - self.ideal.astype(np.int64)).astype(np.float64)
        members = self.groups.members
        result = []
        for tile in self.tiles():
            per_bitline = self.row_weight[tile] @ deviation[tile]                      # (B,)
            cost = np.where(members >= 0, per_bitline[np.maximum(members, 0)], np.inf)  # (G, C)
            result.append(cost.argmin(axis=1))  # ties: the lowest index, the original
        return np.asarray(result, dtype=np.int64)

    # --- compensation --------------------------------------------------------------------------

    def alphas(self, groups: BitlineGroups) -> np.ndarray:
        """(row_tiles, B) digital weight of every bit line as the kernel reads it in each tile."""
        n_bl = self.ideal.shape[1]
        valid = groups.members >= 0
        sizes = groups.sizes[:, None]
        result = []
        for t, _ in enumerate(self.tiles()):
            if groups.vote == VOTE_PICK:
                pick = groups.pick[t] if groups.pick is not None else np.zeros(len(groups.out), np.int64)
                weight = (np.arange(groups.members.shape[1])[None, :] == pick[:, None]).astype(np.float64)
            elif groups.vote == VOTE_FIRST:
                weight = np.zeros(groups.members.shape)
                weight[:, 0] = 1.0
            else:  # mean, and median groups of at most two (the kernel averages those)
                weight = np.broadcast_to(1.0 / sizes, groups.members.shape).copy()
            weight[groups.sizes == 1, 0] = 1.0
            alpha = np.zeros(n_bl)
            alpha[groups.members[valid]] = (weight * groups.coef[:, None])[valid]
            result.append(alpha)
        return np.asarray(result)

    def compensated(self, levels: np.ndarray, fault_map: np.ndarray, groups: BitlineGroups) -> np.ndarray:
        """Levels with the healthy cells of every deviating weight re-programmed by :func:`recode`.

        Only weights with a deviating cell are touched, found from the deviating cells themselves, so
        the work grows with the number of faults, not with the size of the layer.
        """
        out = levels.copy()
        table = self._table
        deviating = levels != self.ideal                                   # (in, B)
        alphas = self.alphas(groups)
        for t, tile in enumerate(self.tiles()):
            alpha_b = alphas[t]
            dev_rows, dev_bitlines = np.nonzero(deviating[tile] & (alpha_b != 0)[None, :])
            if len(dev_rows) == 0:
                continue
            # The weights (row, column) those cells belong to, each once.
            n_out = table.shape[0]
            keys = np.unique(dev_rows * n_out + self._column_of[dev_bitlines])
            rows, cols = keys // n_out, keys % n_out
            cells = table[cols]                                            # (N, K) bit lines, -1 padded
            safe = np.maximum(cells, 0)
            a = np.where(cells >= 0, alpha_b[safe], 0.0)
            r_abs = tile.start + rows
            lv = levels[r_abs[:, None], safe].astype(np.int64)
            fixed = (fault_map[r_abs[:, None], safe] != 0) | (a == 0)
            new, _ = recode(self._target[r_abs, cols], a, fixed, lv, self.top)
            write = ~fixed
            out[np.broadcast_to(r_abs[:, None], write.shape)[write], cells[write]] = new[write]
        return out
