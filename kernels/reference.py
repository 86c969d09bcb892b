"""The plain numpy reference of ``docs/crossbar.md``: obviously correct and slow.

Only used to check the fast path. Every step of the spec is a line here: slice the weights, apply
faults, drive each input chunk on each row tile, sum each bit line exactly, convert, shift and add.
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
    faults=None,
) -> np.ndarray:
    """Same contract as :func:`kernels.crossbar_mvm`; returns float64 (batch, out)."""
    x, w, faults = check_mvm_args(
        x_int, w_int, rows=rows, cols=cols, cell_bits=cell_bits, weight_bits=weight_bits,
        input_bits=input_bits, dac_bits=dac_bits, adc_bits=adc_bits, mapping=mapping,
        signed_inputs=signed_inputs, adc_range=adc_range, adc_step=adc_step, faults=faults,
    )
    levels = apply_faults(slice_levels(w, cell_bits, weight_bits, mapping), faults, cell_bits).astype(np.int64)
    chunks = input_chunks(x, input_bits, dac_bits)               # (T, batch, in)
    k_weights = cycle_weights(input_bits, dac_bits, signed_inputs)
    step = full_range_step(rows, cell_bits, dac_bits, adc_bits) if adc_range == "full" else adc_step
    signs = array_signs(mapping)

    y = np.zeros((x.shape[0], w.shape[1]), dtype=np.float64)
    for t0 in range(0, w.shape[0], rows):
        tile = slice(t0, t0 + rows)
        for a in range(levels.shape[0]):
            for s in range(levels.shape[1]):
                for k in range(chunks.shape[0]):
                    v = chunks[k][:, tile] @ levels[a, s, tile, :]          # exact integer column sums
                    v_hat = adc_codes(v, step, adc_bits) * float(step)
                    y += float(signs[a] * (1 << (s * cell_bits)) * k_weights[k]) * v_hat
    if mapping == "offset":
        y -= float(1 << (weight_bits - 1)) * x.sum(axis=1, keepdims=True)
    return y
