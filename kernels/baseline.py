"""The numpy baseline the benchmark measures against: BLAS products on bit planes, written carefully.

This is the crossbar model as a careful numpy user writes it (CrossSim-style, then tuned): for every row
tile, one BLAS product of all input cycles' DAC codes at once (cycles stacked along the batch) with the
cell levels of every bit line, the ADC in place on the products (left out where it cannot change a
value: no rounding at step 1, no clamp where no sum can reach the top code), the cycles weighted and
summed by one more BLAS product, and the bit lines shifted and added into the outputs by a reshape and
a product over (array, slice) segments (no scatter). Everything runs in float32 where float32 is exact
(every column sum, code and weighted sum below 2**24), float64 otherwise. Cell levels are converted to
floats once per chip (:func:`baseline_levels`, not timed, as packing the cells is not timed for the
kernel); the inputs' bit planes are made from the integer inputs inside the timed call, as the kernel
packs them inside its own. It is not used by the simulator itself.

:func:`bitplane_float_mvm` is the same formulation for the float path (:mod:`kernels.analog`): float
conductances, and read noise as one normal draw per conversion from the products of the squared DAC
codes with the cells' noise variances.
"""
from __future__ import annotations

import numpy as np

from kernels.adc import full_range_step, full_scale
from kernels.bitlines import BitlineGroups
from kernels.dac import cycle_weights, n_cycles, unsigned_pattern

EXACT_F32 = 1 << 24  # integers below this are exact in float32, and so is every sum staying below it


def level_dtype(rows: int, cell_bits: int, dac_bits: int) -> type:
    """float32 when every column sum is exact in it, else float64."""
    return np.float32 if full_scale(rows, cell_bits, dac_bits) < EXACT_F32 else np.float64


def baseline_levels(bitline_levels: np.ndarray, rows: int, cell_bits: int, dac_bits: int) -> np.ndarray:
    """Cell levels (in, B) as the floats the baseline multiplies (once per chip, like ``pack_levels``)."""
    return np.ascontiguousarray(bitline_levels, dtype=level_dtype(rows, cell_bits, dac_bits))


def _input_planes(x_int: np.ndarray, input_bits: int, dac_bits: int, dtype) -> np.ndarray:
    """DAC codes of every cycle, (T, batch, in), made directly in ``dtype`` (the baseline's packing)."""
    x_u = unsigned_pattern(x_int, input_bits)
    mask = (1 << dac_bits) - 1
    planes = np.empty((n_cycles(input_bits, dac_bits), *x_u.shape), dtype=dtype)
    for k in range(planes.shape[0]):
        planes[k] = (x_u >> (k * dac_bits)) & mask
    return planes


def _segment_coefs(groups: BitlineGroups, n_out: int) -> np.ndarray:
    """One coefficient per (array, slice) segment of the plain layout: outputs are a reshape and a
    product, not a scatter."""
    segments = groups.plain_segments(n_out)
    if segments == 0 or groups.flip is not None:
        raise ValueError("the numpy baseline takes the plain bit lines of kernels.plain_bitlines (no copies, "
                         "no flipped bit lines)")
    return groups.coef[::n_out].copy()


def bitplane_matmul_mvm(
    x_int: np.ndarray, levels: np.ndarray, groups: BitlineGroups, n_out: int, *, rows: int,
    cell_bits: int, input_bits: int, dac_bits: int, adc_bits: int, signed_inputs: bool,
) -> np.ndarray:
    """Same result as :func:`kernels.crossbar.mvm_packed` (full-range ADC, plain bit lines).

    levels  (in, B) from :func:`baseline_levels` (any integer levels are converted here, outside the
            benchmark's timed calls)
    """
    if levels.dtype != level_dtype(rows, cell_bits, dac_bits):
        levels = baseline_levels(levels, rows, cell_bits, dac_bits)
    dtype = levels.dtype.type
    step = full_range_step(rows, cell_bits, dac_bits, adc_bits)
    max_code = (1 << adc_bits) - 1
    k_weights = cycle_weights(input_bits, dac_bits, signed_inputs)
    n_tiles = -(-levels.shape[0] // rows)
    # float32 accumulation is exact while the largest weighted sum of codes over cycles and tiles is.
    acc_dtype = dtype if max_code * int(np.abs(k_weights).sum()) * n_tiles < EXACT_F32 else np.float64
    k_w = k_weights.astype(acc_dtype)
    planes = _input_planes(x_int, input_bits, dac_bits, dtype)
    n_cyc, batch, _ = planes.shape
    can_clip = (full_scale(rows, cell_bits, dac_bits) + step // 2) // step > max_code
    partial = np.zeros((batch, levels.shape[1]), dtype=acc_dtype)
    for t0 in range(0, levels.shape[0], rows):
        x_tile = planes[:, :, t0:t0 + rows].reshape(n_cyc * batch, -1)  # a view: cycles stacked
        v = x_tile @ levels[t0:t0 + rows]                               # (T*batch, B) column sums
        _adc_in_place(v, step, max_code, can_clip, nonnegative=True)
        partial += (k_w @ v.reshape(n_cyc, -1).astype(acc_dtype, copy=False)).reshape(batch, -1)
    return _outputs(partial, groups, step, n_out)


def _adc_in_place(v: np.ndarray, step: float, max_code: int, can_clip: bool, nonnegative: bool) -> None:
    """``v = min(floor(v / step + 1/2), max_code)`` (and at least 0 unless ``nonnegative``), in place,
    skipping what cannot change a value."""
    t = v.dtype.type
    if step != 1:
        np.multiply(v, t(1.0 / step), out=v)  # exact: the full-range step is a power of two
        v += t(0.5)
        np.floor(v, out=v)
    elif not nonnegative:
        np.floor(v + t(0.5), out=v)  # float sums (the float path) still round to a code
    if not nonnegative:
        np.clip(v, t(0), t(max_code), out=v)
    elif can_clip:
        np.minimum(v, t(max_code), out=v)


def _outputs(partial: np.ndarray, groups: BitlineGroups, step: float, n_out: int) -> np.ndarray:
    """Shift-and-added bit lines (batch, B) to outputs (batch, n_out): a product over the (array, slice)
    segments of the plain layout."""
    coefs = _segment_coefs(groups, n_out) * step
    per_segment = partial.reshape(partial.shape[0], len(coefs), n_out).astype(np.float64, copy=False)
    return np.einsum("bsj,s->bj", per_segment, coefs, optimize=True)


def bitplane_float_mvm(
    x_int: np.ndarray, g: np.ndarray, noise_var: np.ndarray | None, groups: BitlineGroups, n_out: int, *,
    rows: int, cell_bits: int, input_bits: int, dac_bits: int, adc_bits: int, signed_inputs: bool,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The float path's arithmetic in numpy, for plain bit lines and an ideal full-range ADC.

    g          (in, B) conductance minus the ``G_min`` reference, in level steps (float32)
    noise_var  (in, B) read-noise variance per cell and unit input chunk, ``(s G)**2``, or None
    rng        generator of the read-noise draws (float32 standard normals, one per conversion, in the
               order tile, cycle, input, bit line)
    """
    step = full_range_step(rows, cell_bits, dac_bits, adc_bits)
    max_code = (1 << adc_bits) - 1
    k_weights = cycle_weights(input_bits, dac_bits, signed_inputs)
    planes = _input_planes(x_int, input_bits, dac_bits, np.float32)
    n_cyc, batch, _ = planes.shape
    n_tiles = -(-g.shape[0] // rows)
    exact = max_code * int(np.abs(k_weights).sum()) * n_tiles < EXACT_F32
    acc_dtype = np.float32 if exact else np.float64
    k_w = k_weights.astype(acc_dtype)
    partial = np.zeros((batch, g.shape[1]), dtype=acc_dtype)
    for t0 in range(0, g.shape[0], rows):
        c = planes[:, :, t0:t0 + rows].reshape(n_cyc * batch, -1)
        v = c @ g[t0:t0 + rows]
        if noise_var is not None:
            sigma = np.sqrt(np.square(c) @ noise_var[t0:t0 + rows])
            sigma *= rng.standard_normal(sigma.shape, dtype=np.float32)
            v += sigma
        _adc_in_place(v, step, max_code, True, nonnegative=False)
        partial += (k_w @ v.reshape(n_cyc, -1).astype(acc_dtype, copy=False)).reshape(batch, -1)
    return _outputs(partial, groups, step, n_out)
