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
    inv_step = 1.0 / step  # exact: the full-range step is a power of two
    for t0 in range(0, levels.shape[0], rows):
        tile = slice(t0, t0 + rows)
        for k in range(chunks.shape[0]):
            v = chunks[k][:, tile] @ levels[tile]
            _convert_add(v, inv_step, max_code, k_weights[k], exact_products, partial, nonnegative=True)
    return _outputs(partial, groups, step, n_out)


def _convert_add(v, inv_step, max_code, weight, exact_products, partial, nonnegative=False) -> None:
    """The ideal ADC on column sums ``v`` in place, then ``partial += weight * codes``: the fastest numpy
    spelling of the same arithmetic. ``nonnegative``: ``v`` cannot be below zero (no clip needed)."""
    np.multiply(v, v.dtype.type(inv_step), out=v)
    v += v.dtype.type(0.5)
    np.floor(v, out=v)
    if nonnegative:
        np.minimum(v, v.dtype.type(max_code), out=v)
    else:
        np.clip(v, v.dtype.type(0), v.dtype.type(max_code), out=v)
    if exact_products:
        v *= v.dtype.type(weight)
        partial += v
    else:
        partial += weight * v.astype(np.float64)


def _outputs(partial, groups: BitlineGroups, step: float, n_out: int) -> np.ndarray:
    """Shift-and-added bit lines (batch, B) to outputs (batch, n_out), single-member groups."""
    y = np.zeros((partial.shape[0], n_out), dtype=np.float64)
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
    max_code = (1 << adc_bits) - 1
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
            _convert_add(v, 1.0 / step, max_code, k_weights[k], exact_products, partial)
    return _outputs(partial, groups, step, n_out)
