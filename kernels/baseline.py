"""The numpy baseline the benchmark measures against: float matrix products on bit planes.

This is how the crossbar model is usually written in numpy (CrossSim-style): for every row tile and
input cycle, one BLAS product of the DAC codes with the cell levels of every bit line, then the same
ADC and shift-and-add. The products run in float32, exact while the full scale is below 2**24, which
makes this the fastest honest numpy formulation we know; it is not used by the simulator itself.
:func:`bitplane_float_mvm` is the same formulation for the float path (:mod:`kernels.analog`): float
conductances, and read noise as one normal draw per conversion from the products of the squared DAC
codes with the cells' noise variances.
"""
from __future__ import annotations

import numpy as np

from kernels.adc import full_range_step
from kernels.crossbar import BitlineGroups
from kernels.dac import cycle_weights, input_chunks


def bitplane_matmul_mvm(
    x_int: np.ndarray, bitline_levels: np.ndarray, groups: BitlineGroups, n_out: int, *, rows: int,
    cell_bits: int, input_bits: int, dac_bits: int, adc_bits: int, signed_inputs: bool,
) -> np.ndarray:
    """Same result as :func:`kernels.crossbar.mvm_packed` for single-member groups (full-range ADC)."""
    step = full_range_step(rows, cell_bits, dac_bits, adc_bits)
    fs = rows * ((1 << cell_bits) - 1) * ((1 << dac_bits) - 1)
    dtype = np.float32 if fs < (1 << 24) else np.float64
    chunks = input_chunks(x_int, input_bits, dac_bits).astype(dtype)    # (T, batch, in)
    levels = bitline_levels.astype(dtype)                               # (in, B)
    k_weights = cycle_weights(input_bits, dac_bits, signed_inputs).astype(np.float64)
    max_code = (1 << adc_bits) - 1
    partial = np.zeros((x_int.shape[0], levels.shape[1]), dtype=np.float64)
    exact_products = max_code * np.abs(k_weights).max() < (1 << 24) or dtype is np.float64
    inv_step = dtype(1.0 / step)  # exact: the full-range step is a power of two
    for t0 in range(0, levels.shape[0], rows):
        tile = slice(t0, t0 + rows)
        for k in range(chunks.shape[0]):
            v = chunks[k][:, tile] @ levels[tile]
            # In-place ADC and accumulation: the fastest numpy spelling of the same arithmetic.
            np.multiply(v, inv_step, out=v)
            v += dtype(0.5)
            np.floor(v, out=v)
            np.minimum(v, dtype(max_code), out=v)
            if exact_products:
                v *= dtype(k_weights[k])
                partial += v
            else:
                partial += k_weights[k] * v.astype(np.float64)
    y = np.zeros((x_int.shape[0], n_out), dtype=np.float64)
    np.add.at(y.T, groups.out, (groups.coef * step)[:, None] * partial[:, groups.members[:, 0]].T)
    return y


def bitplane_float_mvm(
    x_int: np.ndarray, g: np.ndarray, noise_var: np.ndarray | None, groups: BitlineGroups, n_out: int, *,
    rows: int, cell_bits: int, input_bits: int, dac_bits: int, adc_bits: int, signed_inputs: bool,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The float path's arithmetic in numpy, for single-member groups and an ideal full-range ADC.

    g          (in, B) conductance minus the ``G_min`` reference, in level steps (float32)
    noise_var  (in, B) read-noise variance per cell and unit input chunk, ``(s G)**2``, or None
    rng        generator of the read-noise draws (float32 standard normals, one per conversion)
    """
    step = full_range_step(rows, cell_bits, dac_bits, adc_bits)
    chunks = input_chunks(x_int, input_bits, dac_bits).astype(np.float32)    # (T, batch, in)
    k_weights = cycle_weights(input_bits, dac_bits, signed_inputs).astype(np.float64)
    max_code = np.float32((1 << adc_bits) - 1)
    exact_products = max_code * np.abs(k_weights).max() < (1 << 24)
    partial = np.zeros((x_int.shape[0], g.shape[1]), dtype=np.float64)
    for t0 in range(0, g.shape[0], rows):
        tile = slice(t0, t0 + rows)
        for k in range(chunks.shape[0]):
            c = chunks[k][:, tile]
            v = c @ g[tile]
            if noise_var is not None:
                sigma = np.sqrt(np.square(c) @ noise_var[tile])
                sigma *= rng.standard_normal(sigma.shape, dtype=np.float32)
                v += sigma
            np.multiply(v, np.float32(1.0 / step), out=v)
            v += np.float32(0.5)
            np.floor(v, out=v)
            np.clip(v, np.float32(0.0), max_code, out=v)
            if exact_products:
                v *= np.float32(k_weights[k])
                partial += v
            else:
                partial += k_weights[k] * v.astype(np.float64)
    y = np.zeros((x_int.shape[0], n_out), dtype=np.float64)
    np.add.at(y.T, groups.out, (groups.coef * step)[:, None] * partial[:, groups.members[:, 0]].T)
    return y
