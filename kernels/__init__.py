"""Numeric kernels of the ReRAM crossbar simulator: arrays in, arrays out, no files, no studies.

The arithmetic contract is ``../shared/spec/crossbar.md``; :func:`crossbar_mvm` is its entry point and
:func:`crossbar_mvm_reference` the plain numpy version it is checked against.
"""
from kernels.adc import adc_codes, calibrated_step, full_range_step, full_scale
from kernels.crossbar import (
    VOTE_MODES,
    BitlineGroups,
    column_sum_histogram,
    crossbar_mvm,
    mvm_int,
    mvm_packed,
    pack_inputs,
    pack_levels,
    plain_bitlines,
)
from kernels.dac import cycle_weights, n_cycles
from kernels.faults import SA0, SA1, apply_faults, sample_faults
from kernels.quantize import activation_scale, quantize_activations, quantize_weights, weight_scale
from kernels.reference import crossbar_mvm_reference
from kernels.slicing import n_arrays, n_slices, slice_levels

__all__ = [
    "BitlineGroups", "SA0", "SA1", "VOTE_MODES", "activation_scale", "adc_codes", "apply_faults",
    "calibrated_step", "column_sum_histogram", "crossbar_mvm", "crossbar_mvm_reference", "cycle_weights",
    "full_range_step", "full_scale", "mvm_int", "mvm_packed", "n_arrays", "n_cycles", "n_slices", "pack_inputs",
    "pack_levels", "plain_bitlines", "quantize_activations", "quantize_weights", "sample_faults",
    "slice_levels", "weight_scale",
]
