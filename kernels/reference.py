"""The plain numpy reference of ``docs/crossbar.md``: obviously correct and slow.

Only used to check the fast path. Every step of the spec is a line here: slice the weights, flip the
bit lines that would sum high (when asked), apply faults, drive each input chunk on each row tile, sum
each bit line exactly, convert, correct the flipped ones, shift and add.
"""
from __future__ import annotations

import numpy as np

from kernels.adc import adc_codes, full_range_step
from kernels.dac import cycle_weights, input_chunks
from kernels.faults import apply_faults
from kernels.slicing import array_signs, slice_levels
from kernels.validate import check_mvm_args


def crossbar_mvm_reference(
    x_int, w_int, rows=128, cols=128, cell_bits=2, weight_bits=8, input_bits=8, dac_bits=1,
    adc_bits=8, mapping="differential", signed_inputs=False, adc_range="full", adc_step=None,
    faults=None, weight_flip=False,
) -> np.ndarray:
    """Same contract as :func:`kernels.crossbar_mvm`; returns float64 (batch, out)."""
    x, w, faults = check_mvm_args(
        x_int, w_int, rows=rows, cols=cols, cell_bits=cell_bits, weight_bits=weight_bits,
        input_bits=input_bits, dac_bits=dac_bits, adc_bits=adc_bits, mapping=mapping,
        signed_inputs=signed_inputs, adc_range=adc_range, adc_step=adc_step, faults=faults,
        weight_flip=weight_flip,
    )
    top = (1 << cell_bits) - 1
    logical = slice_levels(w, cell_bits, weight_bits, mapping).astype(np.int64)   # (A, S, in, out)
    chunks = input_chunks(x, input_bits, dac_bits)               # (T, batch, in)
    k_weights = cycle_weights(input_bits, dac_bits, signed_inputs)
    step = {"full": full_range_step(rows, cell_bits, dac_bits, adc_bits, weight_flip), "clip": 1}.get(
        adc_range, adc_step)
    signs = array_signs(mapping)

    y = np.zeros((x.shape[0], w.shape[1]), dtype=np.float64)
    for t0 in range(0, w.shape[0], rows):
        tile = slice(t0, t0 + rows)
        n_rows = logical[:, :, tile].shape[2]
        # Weight flipping: a bit line whose levels in this tile sum above half their maximum stores L - level.
        flip = (2 * logical[:, :, tile].sum(axis=2) > n_rows * top) if weight_flip else np.zeros(
            logical.shape[:2] + logical.shape[3:], dtype=bool)                   # (A, S, out)
        stored = np.where(flip[:, :, None, :], top - logical[:, :, tile], logical[:, :, tile])
        if faults is not None:                                   # faults hit the cells as stored
            stored = apply_faults(stored, faults[:, :, tile], cell_bits)
        for a in range(logical.shape[0]):
            for s in range(logical.shape[1]):
                for k in range(chunks.shape[0]):
                    v = chunks[k][:, tile] @ stored[a, s]                        # exact integer column sums
                    v_hat = adc_codes(v, step, adc_bits) * float(step)
                    # A flipped bit line reads L * (sum of the cycle's input chunks) - v_hat.
                    driven = chunks[k][:, tile].sum(axis=1, keepdims=True).astype(np.float64)
                    value = np.where(flip[a, s][None, :], top * driven - v_hat, v_hat)
                    y += float(signs[a] * (1 << (s * cell_bits)) * k_weights[k]) * value
    if mapping == "offset":
        y -= float(1 << (weight_bits - 1)) * x.sum(axis=1, keepdims=True)
    return y
