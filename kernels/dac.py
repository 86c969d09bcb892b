"""Bit-serial inputs through ``dac_bits``-wide DACs.

``T = ceil(input_bits / dac_bits)`` cycles; cycle ``k`` drives chunk ``(x_u >> (k*dac_bits)) &
(2**dac_bits - 1)`` where ``x_u`` is the input's unsigned bit pattern (two's complement for signed
inputs). Unsigned: chunk ``k`` weighs ``2**(k*dac_bits)``. Signed (``dac_bits`` must be 1): the sign
bit's cycle weighs ``-2**(input_bits - 1)``.

The fast kernels take the inputs as bit planes (:func:`pack_inputs`): plane ``k*dac_bits + p`` of a row
tile holds bit ``p`` of every row's cycle-``k`` chunk, 64 rows to a word, so a cycle's DAC codes are
``dac_bits`` words per 64 rows (:mod:`kernels.layer_io` packs a layer's activations into the same planes).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

WORD = 64  # rows per packed word


def n_cycles(input_bits: int, dac_bits: int) -> int:
    return -(-input_bits // dac_bits)


def unsigned_pattern(x_int: np.ndarray, input_bits: int) -> np.ndarray:
    """The bit pattern the DACs see: ``x`` itself if unsigned, two's complement if signed, int64."""
    return np.asarray(x_int, dtype=np.int64) & ((1 << input_bits) - 1)


def input_chunks(x_int: np.ndarray, input_bits: int, dac_bits: int) -> np.ndarray:
    """DAC codes per cycle, shape (T, batch, in), int64 in ``[0, 2**dac_bits - 1]``."""
    x_u = unsigned_pattern(x_int, input_bits)
    shifts = dac_bits * np.arange(n_cycles(input_bits, dac_bits), dtype=np.int64)
    return (x_u[None] >> shifts[:, None, None]) & ((1 << dac_bits) - 1)


def cycle_weights(input_bits: int, dac_bits: int, signed: bool) -> np.ndarray:
    """Digital weight of each input cycle, shape (T,), int64."""
    weights = np.left_shift(1, dac_bits * np.arange(n_cycles(input_bits, dac_bits), dtype=np.int64))
    if signed:
        weights[-1] = -weights[-1]  # dac_bits == 1: the last cycle carries the two's-complement sign bit
    return weights


@njit(cache=True, parallel=True)
def _pack_inputs(x_u, rows, n_bits):  # pragma: no cover - compiled
    batch, n_in = x_u.shape
    tiles = (n_in + rows - 1) // rows
    words = (rows + WORD - 1) // WORD
    packed = np.zeros((batch, tiles, n_bits, words), dtype=np.uint64)
    for n in prange(batch):
        row = x_u[n]
        for t in range(tiles):
            for w in range(words):
                first = t * rows + w * WORD
                last = min(n_in, t * rows + min(rows, (w + 1) * WORD))
                if first >= last:
                    continue
                chunk = row[first:last]
                for b in range(n_bits):
                    word = np.uint64(0)
                    for r in range(last - first):  # an OR-reduction LLVM vectorises
                        word |= np.uint64((chunk[r] >> b) & 1) << np.uint64(r)
                    packed[n, t, b, w] = word
    return packed


def pack_inputs(x_int: np.ndarray, rows: int, input_bits: int, dac_bits: int) -> np.ndarray:
    """Input bit planes: ``xp[n, t, bit, word]``, uint64, ``bit`` < ``cycles * dac_bits``."""
    n_bits = n_cycles(input_bits, dac_bits) * dac_bits
    return _pack_inputs(np.ascontiguousarray(unsigned_pattern(x_int, input_bits)), rows, n_bits)
