"""Mapping a trained network onto crossbars: quantise, calibrate, slice into bit lines, count crossbars.

A :class:`MappedLayer` is everything the simulator needs for one weight layer, computed once per design
point and shared by every simulated chip: the integer weights and their scales, the activation scale of
the layer's input, the fault-free cell levels of every physical bit line with the groups that combine
them into outputs, the ADC step, and the layout the cost model reads. Protection (pruning, duplication,
MSB embedding, baselines) changes what is mapped; :mod:`dse.mapping.protected` builds those variants on top of
:func:`map_layer`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from dse.config import HardwareConfig
from dse.layout import LayerLayout, plain_layout
from dse.workloads.layers import Conv2d, Linear, WeightLayer
from dse.workloads.workload import Workload
from kernels import (
    BitlineGroups,
    calibrated_step,
    column_sum_histogram,
    full_scale,
    pack_inputs,
    pack_levels,
    plain_bitlines,
    quantize_activations,
    quantize_weights,
    slice_levels,
)
from kernels.adc import adc_step_for
from kernels.flip import flip_mask, flipped_levels
from kernels.quantize import input_quantisation
# The ADC range is calibrated on at most this many calibration samples (enough for a percentile).
ADC_CALIBRATION_SAMPLES = 256

# Per-chip adjustment of a layer after its faults are known: (faulty levels (in, B), fault map
# (in, B)) -> (levels, groups, fault map in the row order of the returned levels). Used by
# test-aware voting, fault compensation and fault-aware remapping (which reorders rows).
ChipHook = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, BitlineGroups, np.ndarray]]


@dataclass(frozen=True)
class MappedLayer:
    """One weight layer as it sits on the crossbars (fault-free); shared by all chips.

    index, name     the layer's position and name in the workload
    keep_rows       (in',) indices of the matrix rows that are mapped (the rest are pruned)
    keep_cols       (out',) indices of the matrix columns that are mapped
    w_int           (in', out') int64 quantised weights; ``W[keep] ~= w_int * w_scale``
    w_scale         (out',) float64 per-column weight scale
    x_scale         float, input activation scale: ``x ~= x_int * x_scale``
    signed_inputs   whether the layer's inputs go negative (two's complement, 1-bit DAC)
    bitline_levels  (in', B) uint8 fault-free cell levels of every physical bit line (logical: the
                    levels a flipped bit line stores are their complement, ``groups.flip``)
    groups          how bit lines combine into the out' outputs (copies, votes, flipped bit lines)
    adc_step        ADC step (full-range power of two, 1 for clip, or calibrated)
    layout          the physical footprint (crossbars, bit lines, conversions)
    chip_hook       optional per-chip adjustment once the chip's faults are known
    """

    index: int
    name: str
    keep_rows: np.ndarray
    keep_cols: np.ndarray
    w_int: np.ndarray
    w_scale: np.ndarray
    x_scale: float
    signed_inputs: bool
    bitline_levels: np.ndarray
    groups: BitlineGroups
    adc_step: float
    layout: LayerLayout
    chip_hook: ChipHook | None = field(default=None, compare=False)
    _input_indices: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def n_out(self) -> int:
        return len(self.keep_cols)

    def quantize_inputs(self, cols: np.ndarray, hw: HardwareConfig) -> np.ndarray:
        """Crossbar input vectors (mvms, in) float -> (mvms, in') int64 on the kept rows."""
        return quantize_activations(cols[:, self.keep_rows], self.x_scale, hw.input_bits, self.signed_inputs)

    def input_index(self, layer: WeightLayer, sample_shape: tuple[int, ...]) -> np.ndarray | None:
        """Where each crossbar input comes from: (positions, in') int64 indices into one flattened sample
        of shape ``sample_shape``, -1 for zero padding; the rows of ``layer.im2col`` on the kept rows,
        ``positions`` per sample. None when the layer's im2col is not the gather of :class:`Linear` or
        :class:`Conv2d` (the simulator then takes the im2col matrix)."""
        if type(layer).im2col not in (Linear.im2col, Conv2d.im2col):
            return None
        key = (type(layer), getattr(layer, "kernel_hw", None), getattr(layer, "stride", None),
               getattr(layer, "padding", None), tuple(sample_shape))
        index = self._input_indices.get(key)
        if index is None:  # once per input shape: every chip and batch of a layer gathers the same way
            probe = np.arange(1, math.prod(sample_shape) + 1, dtype=np.float64).reshape((1, *sample_shape))
            index = layer.im2col(probe)[:, self.keep_rows].astype(np.int64) - 1  # padding reads 0: index -1
            index.flags.writeable = False
            self._input_indices[key] = index
        return index

    def dequantize(self, y_int: np.ndarray, n_cols_full: int) -> np.ndarray:
        """(mvms, out') integer-domain outputs -> (mvms, out) floats; pruned columns read 0."""
        y = np.zeros((y_int.shape[0], n_cols_full), dtype=np.float64)
        y[:, self.keep_cols] = y_int * (self.x_scale * self.w_scale)[None, :]
        return y


@dataclass(frozen=True)
class MappedNetwork:
    """A workload on a hardware design: mapped layers by layer index, plus the design itself."""

    workload: Workload
    hw: HardwareConfig
    layers: dict[int, MappedLayer]

    @property
    def layouts(self) -> list[LayerLayout]:
        return [m.layout for m in self.layers.values()]

    @property
    def crossbars(self) -> int:
        return sum(layout.crossbars for layout in self.layouts)


def programmed_groups(bitline_levels: np.ndarray, groups: BitlineGroups, hw: HardwareConfig) -> BitlineGroups:
    """``groups`` with the bit lines ``hw.weight_flip`` stores complemented (``kernels/flip.py``), decided
    once on the fault-free levels ``bitline_levels`` (in, B) and kept for every chip."""
    if not hw.weight_flip:
        return groups
    return replace(groups, flip=flip_mask(bitline_levels, hw.rows, hw.cell_bits))


def calibrate_adc_step(bitline_levels: np.ndarray, x_int: np.ndarray, hw: HardwareConfig,
                       flip: np.ndarray | None = None) -> float:
    """ADC step for ``hw``: the full-range power of two, 1 for ``clip``, or ``max(1, q / (2**adc_bits - 1))``
    with ``q`` the ``adc_percentile`` of the fault-free column sums the calibration inputs produce (on the
    stored levels: complemented where ``flip`` says)."""
    if hw.adc_range != "calibrated":
        return adc_step_for(hw.rows, hw.cell_bits, hw.dac_bits, hw.adc_bits, hw.adc_range, None, hw.weight_flip)
    stored = flipped_levels(bitline_levels, flip, hw.rows, hw.cell_bits)
    counts, width = column_sum_histogram(
        pack_inputs(x_int, hw.rows, hw.input_bits, hw.dac_bits), pack_levels(stored, hw.rows, hw.cell_bits),
        input_bits=hw.input_bits, dac_bits=hw.dac_bits, cell_bits=hw.cell_bits,
        full_scale=full_scale(hw.rows, hw.cell_bits, hw.dac_bits),
    )
    cumulative = np.cumsum(counts)
    target = hw.adc_percentile / 100.0 * cumulative[-1]
    upper_edge = (int(np.searchsorted(cumulative, target)) + 1) * width - 1
    return calibrated_step(upper_edge, hw.adc_bits)


def map_layer(
    index: int, layer: WeightLayer, calib_cols: np.ndarray, hw: HardwareConfig,
    keep_rows: np.ndarray | None = None, keep_cols: np.ndarray | None = None, mvms_per_inference: int = 1,
) -> MappedLayer:
    """Map one weight layer without protection: ``ceil(in'/rows) * ceil(out'*S*A/cols)`` crossbars."""
    matrix = layer.matrix()
    keep_rows = np.arange(matrix.shape[0]) if keep_rows is None else np.asarray(keep_rows, dtype=np.int64)
    keep_cols = np.arange(matrix.shape[1]) if keep_cols is None else np.asarray(keep_cols, dtype=np.int64)
    w_int, w_scale = quantize_weights(matrix[np.ix_(keep_rows, keep_cols)], hw.weight_bits, per_column=True)
    x_scale, signed = input_quantisation(calib_cols[:, keep_rows], hw.input_bits, hw.dac_bits, layer.name)
    levels = slice_levels(w_int, hw.cell_bits, hw.weight_bits, hw.mapping)
    bitline_levels, groups = plain_bitlines(levels, hw.cell_bits, hw.mapping)
    groups = programmed_groups(bitline_levels, groups, hw)
    x_calib = quantize_activations(calib_cols[:ADC_CALIBRATION_SAMPLES * mvms_per_inference][:, keep_rows],
                                   x_scale, hw.input_bits, signed)
    return MappedLayer(
        index=index, name=layer.name, keep_rows=keep_rows, keep_cols=keep_cols, w_int=w_int,
        w_scale=np.broadcast_to(w_scale, (len(keep_cols),)).astype(np.float64), x_scale=x_scale,
        signed_inputs=signed, bitline_levels=bitline_levels, groups=groups,
        adc_step=calibrate_adc_step(bitline_levels, x_calib, hw, groups.flip),
        layout=plain_layout(layer.name, len(keep_rows), len(keep_cols), hw, mvms_per_inference),
    )
