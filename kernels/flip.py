"""Weight flipping (Shafiee et al., ISAAC, ISCA 2016): bit lines whose cells would sum
high store their complement, so no column sum needs more than half the ADC's range.

Per row tile ``t`` and physical bit line ``b``: with ``L = 2**cell_bits - 1`` and ``n_t`` the tile's rows,
the bit line is *flipped* when its fault-free levels sum to more than half their maximum,
``2 * sum_i level[i, b] > n_t * L``; a flipped bit line stores ``L - level`` in every cell of the tile.
Its column sum is then ``v' = sum_i chunk_i * (L - level_i) = L * sum_i chunk_i - v``, and the periphery,
which knows the tile's inputs exactly, recovers ``L * sum_i chunk_i - v_hat'`` digitally. Over the cycles
of one input that correction is ``L * X_t - step * sum_k w_k code_k`` with ``X_t = sum_k w_k sum_i chunk_k,i``
the (signed) sum of the tile's inputs: one popcount of each input plane per tile and a subtraction.

Every stored sum is then at most ``floor(n_t * L / 2)``, so the largest column sum is
``floor(rows * L / 2) * (2**dac_bits - 1)`` (192 on 128 rows of 2-bit cells with 1-bit DACs: an 8-bit ADC
with step 1 is lossless). Stuck-at faults act on the stored cells: an SA0 cell of a flipped bit line
stores 0 and so reads as the top level ``L`` after the correction, an SA1 cell as level 0.

The decision is made once, on the fault-free levels of the mapped layer (when the weights are encoded),
and kept for every chip.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from kernels.faults import SA0, SA1
from kernels.popcount import popcount64


def flip_mask(bitline_levels: np.ndarray, rows: int, cell_bits: int) -> np.ndarray:
    """(tiles, B) bool: which bit lines of each row tile store complemented levels."""
    levels = np.asarray(bitline_levels)
    n_in = levels.shape[0]
    top = (1 << cell_bits) - 1
    mask = []
    for t0 in range(0, n_in, rows):
        tile = levels[t0:t0 + rows]
        mask.append(2 * tile.sum(axis=0, dtype=np.int64) > tile.shape[0] * top)
    return np.array(mask, dtype=np.bool_).reshape(-(-n_in // rows), levels.shape[1])


def _row_mask(flip: np.ndarray, n_in: int, rows: int) -> np.ndarray:
    """(in, B) bool: ``flip`` of each cell's row tile."""
    return np.repeat(flip, rows, axis=0)[:n_in]


def flipped_levels(bitline_levels: np.ndarray, flip: np.ndarray | None, rows: int, cell_bits: int) -> np.ndarray:
    """Levels (in, B) with the cells of flipped bit lines complemented (``L - level``), uint8.

    Its own inverse: stored levels from logical ones and logical from stored."""
    levels = np.asarray(bitline_levels, dtype=np.uint8)
    if flip is None:
        return levels
    top = np.uint8((1 << cell_bits) - 1)
    return np.where(_row_mask(flip, levels.shape[0], rows), top - levels, levels).astype(np.uint8)


def logical_faults(fault_map: np.ndarray, flip: np.ndarray | None, rows: int) -> np.ndarray:
    """A fault map (in, B) of stored cells as it acts on the logical levels: on flipped bit lines an SA0
    cell (stored 0) reads the top level and an SA1 cell level 0, so the two swap."""
    if flip is None:
        return fault_map
    f = np.asarray(fault_map, dtype=np.uint8)
    swapped = np.where(f == SA0, np.uint8(SA1), np.where(f == SA1, np.uint8(SA0), f)).astype(np.uint8)
    return np.where(_row_mask(flip, f.shape[0], rows), swapped, f).astype(np.uint8)


@njit(cache=True, inline="always")
def tile_input_sum(xp, n, t, cycle_w, dac_bits):  # pragma: no cover - compiled
    """``X_t``: the sum of input ``n``'s values on row tile ``t``, ``sum_k w_k sum_p 2**p popcount(plane)``
    (signed through the cycle weights): what the periphery of a flipped bit line subtracts from."""
    total = np.int64(0)
    for k in range(cycle_w.shape[0]):
        cycle = np.int64(0)
        for p in range(dac_bits):
            for w in range(xp.shape[3]):
                cycle += np.int64(popcount64(xp[n, t, k * dac_bits + p, w])) << p
        total += cycle_w[k] * cycle
    return total


@njit(cache=True)
def flip_values(acc, flip_t, lx, step, values):  # pragma: no cover - compiled
    """Each bit line's read value in one row tile: ``step * acc`` (its cycle-weighted codes), or
    ``lx - step * acc`` where it is flipped (``lx = L * X_t``), into ``values`` (B,) float64."""
    for b in range(values.shape[0]):  # vectorised: a select
        value = step * np.float64(acc[b])
        values[b] = lx - value if flip_t[b] else value
