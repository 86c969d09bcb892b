"""Random integer layers: the data the kernel tests and the benchmark (``dse bench``) run on.

One builder for both, so a test case and a benchmark point are drawn, sliced, faulted and packed the
same way: weights uniform over the signed symmetric range of ``weight_bits``, inputs over the unsigned
or two's-complement range of ``input_bits``, and a layer laid out as plain bit lines and packed as the
popcount kernels take it.
"""
from __future__ import annotations

import math

import numpy as np

from kernels.adc import full_scale
from kernels.bitlines import BitlineGroups, plain_bitlines
from kernels.crossbar import pack_levels
from kernels.dac import pack_inputs
from kernels.faults import apply_faults
from kernels.slicing import slice_levels


def random_weights(rng: np.random.Generator, weight_bits: int, n_in: int, n_out: int) -> np.ndarray:
    """(n_in, n_out) int64, uniform in ``[-(2**(weight_bits-1) - 1), 2**(weight_bits-1) - 1]``."""
    w_max = (1 << (weight_bits - 1)) - 1
    return rng.integers(-w_max, w_max + 1, (n_in, n_out))


def random_inputs(rng: np.random.Generator, input_bits: int, signed: bool, batch: int, n_in: int) -> np.ndarray:
    """(batch, n_in) int64, uniform over ``input_bits`` unsigned or two's-complement values."""
    if signed:
        return rng.integers(-(1 << (input_bits - 1)), 1 << (input_bits - 1), (batch, n_in))
    return rng.integers(0, 1 << input_bits, (batch, n_in))


def lossless_adc_bits(rows: int, cell_bits: int, dac_bits: int) -> int:
    """The fewest ADC bits whose full range has step 1 (no column sum loses information)."""
    return max(1, math.ceil(math.log2(full_scale(rows, cell_bits, dac_bits) + 1)))


def packed_layer(x: np.ndarray, w: np.ndarray, *, rows: int, cell_bits: int, weight_bits: int, input_bits: int,
                 dac_bits: int, mapping: str, faults: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, BitlineGroups]:
    """``(xp, wp, groups)``: inputs ``x`` and weights ``w`` (with the fault map ``faults`` (A, S, in, out)
    applied) as :func:`kernels.crossbar.mvm_packed` takes them, on plain bit lines."""
    levels = apply_faults(slice_levels(w, cell_bits, weight_bits, mapping), faults, cell_bits)
    bitlines, groups = plain_bitlines(levels, cell_bits, mapping)
    return pack_inputs(x, rows, input_bits, dac_bits), pack_levels(bitlines, rows, cell_bits), groups
