"""Argument checks for the crossbar entry points: every error names the argument and what is allowed."""
from __future__ import annotations

import numpy as np

from kernels.adc import ADC_RANGES
from kernels.slicing import MAPPINGS, n_arrays, n_slices


def _positive_int(name: str, value, lo: int = 1, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        allowed = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be in {allowed}, got {value}")
    return int(value)


def integer_matrix(name: str, a, lo: int, hi: int) -> np.ndarray:
    """``a`` as a 2-D int64 array with every value in ``[lo, hi]``."""
    arr = np.asarray(a)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "iub":
        if arr.dtype.kind != "f" or not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integers (an integer dtype or integral floats)")
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ValueError(
            f"{name} values must be in [{lo}, {hi}], got [{arr.min()}, {arr.max()}]"
        )
    return arr.astype(np.int64)


def check_mvm_args(
    x_int, w_int, *, rows, cols, cell_bits, weight_bits, input_bits, dac_bits, adc_bits,
    mapping, signed_inputs, adc_range, adc_step, faults, weight_flip=False,
):
    """Validate the arguments of :func:`kernels.crossbar_mvm`; return (x, w, faults) normalised."""
    _positive_int("rows", rows)
    _positive_int("cols", cols)
    _positive_int("cell_bits", cell_bits, 1, 8)
    _positive_int("weight_bits", weight_bits, 2, 16)
    _positive_int("input_bits", input_bits, 1, 16)
    _positive_int("dac_bits", dac_bits, 1, 8)
    _positive_int("adc_bits", adc_bits, 1, 32)
    if mapping not in MAPPINGS:
        raise ValueError(f"mapping must be one of {', '.join(MAPPINGS)}; got {mapping!r}")
    if adc_range not in ADC_RANGES:
        raise ValueError(f"adc_range must be one of {', '.join(ADC_RANGES)}; got {adc_range!r}")
    if not isinstance(signed_inputs, (bool, np.bool_)):
        raise ValueError(f"signed_inputs must be True or False, got {signed_inputs!r}")
    if not isinstance(weight_flip, (bool, np.bool_)):
        raise ValueError(f"weight_flip must be True or False, got {weight_flip!r}")
    if signed_inputs and dac_bits != 1:
        raise ValueError(f"dac_bits must be 1 with signed_inputs=True (two's complement), got {dac_bits}")
    if adc_range == "calibrated":
        if adc_step is None or not np.isfinite(adc_step) or adc_step < 1:
            raise ValueError(f"adc_step must be a finite number >= 1 with adc_range='calibrated', got {adc_step!r}")
    elif adc_step is not None:
        raise ValueError(f"adc_step is only used with adc_range='calibrated'; pass None for {adc_range!r}")

    w_max = (1 << (weight_bits - 1)) - 1
    w = integer_matrix("w_int", w_int, -w_max, w_max)
    if signed_inputs:
        x = integer_matrix("x_int", x_int, -(1 << (input_bits - 1)), (1 << (input_bits - 1)) - 1)
    else:
        x = integer_matrix("x_int", x_int, 0, (1 << input_bits) - 1)
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"x_int has {x.shape[1]} columns but w_int has {w.shape[0]} rows; they must match")

    if faults is not None:
        expected = (n_arrays(mapping), n_slices(weight_bits, cell_bits, mapping)) + w.shape
        f = np.asarray(faults)
        if f.shape != expected:
            raise ValueError(f"faults must have shape (A, S, in, out) = {expected}, got {f.shape}")
        if f.dtype.kind not in "iub" or (f.size and (f.min() < 0 or f.max() > 2)):
            raise ValueError("faults values must be 0 (healthy), 1 (SA0, OFF) or 2 (SA1, ON)")
        faults = f.astype(np.uint8)
    return x, w, faults
