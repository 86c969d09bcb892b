"""Bit-serial inputs through ``dac_bits``-wide DACs.

``T = ceil(input_bits / dac_bits)`` cycles; cycle ``k`` drives chunk ``(x_u >> (k*dac_bits)) &
(2**dac_bits - 1)`` where ``x_u`` is the input's unsigned bit pattern (two's complement for signed
inputs). Unsigned: chunk ``k`` weighs ``2**(k*dac_bits)``. Signed (``dac_bits`` must be 1): the sign
bit's cycle weighs ``-2**(input_bits - 1)``.
"""
from __future__ import annotations

import numpy as np


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
