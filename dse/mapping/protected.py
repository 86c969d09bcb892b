"""Mapping a workload with protection: prune, quantise, lay out copies, attach the per-chip hook.

``map_protected_network(workload, hw, protection)`` is what :func:`dse.mapping.map_network` calls when
the protection is not empty. Per weight layer:

1. Pruning (:mod:`dse.pruning`, cached): the fine-tuned pruned workload and the kept rows / columns.
2. Quantisation: per-column weight scales as without protection; with MSB embedding the weights are
   multiples of ``2**(msb_embed * cell_bits)`` (``dse/protection/msb.py``). Input scale and signedness from calibration.
3. Layout (``dse/protection/duplication.py``): MSB embedding, copies in the free columns of the pruned layer's
   crossbars, or of the unpruned layer's with ``dup_budget = "unpruned"`` (prioritised by
   ``dse/protection/importance.py``), spare columns.
4. ADC step calibrated on the laid-out bit lines (copies included), as without protection.
5. Chip hook (``dse/protection/chip.py``) when the chip's fault map is needed: test-aware vote, remap, compensate.
"""
from __future__ import annotations

import numpy as np

from dse.config import HardwareConfig, Protection
from dse.layout import plain_layout
from dse.mapping.layer import (
    ADC_CALIBRATION_SAMPLES,
    MappedLayer,
    MappedNetwork,
    calibrate_adc_step,
    programmed_groups,
)
from dse.protection.chip import ChipRepair
from dse.protection.duplication import plan_layer
from dse.protection.importance import column_sensitivity, column_weights
from dse.protection.msb import check_embed, embed_levels, quantize_embedded
from dse.pruning import prune
from dse.workloads.workload import Workload
from kernels import quantize_activations, quantize_weights, slice_levels
from kernels.quantize import input_quantisation


def pruned_workload(workload: Workload, protection: Protection):
    """``(workload to map, keep_rows, keep_cols)``: pruned and fine-tuned when the protection prunes.

    Per-layer fractions (``row_prune_layers``, ``col_prune_layers``) override the global ones for their
    layers; a name that is not a layer of ``workload`` raises a ValueError listing its layers. The
    pruning cache key holds every layer's fraction, so designs that differ in one layer never share
    a cached pruned network.
    """
    if not protection.prunes:
        return workload, None, None
    rows, cols = protection.row_prune, protection.col_prune
    if protection.row_prune_layers or protection.col_prune_layers:
        info = workload.info()
        rows, cols = protection.prune_fractions(info.layers, info.col_layers, repr(workload.name))
    pruned = prune(workload, rows, cols, protection.prune_method)
    return pruned.workload, pruned.keep_rows, pruned.keep_cols


def map_protected_network(workload: Workload, hw: HardwareConfig, protection: Protection) -> MappedNetwork:
    """Map every weight layer of ``workload`` onto ``hw`` with ``protection`` (module docstring).

    The returned network's ``workload`` is the pruned, fine-tuned one (its biases are what the
    simulator adds); its layouts count crossbars, copy bit lines and spare crossbars.
    """
    check_embed(hw, protection.msb_embed)
    work, keep_rows, keep_cols = pruned_workload(workload, protection)
    calib = work.layer_inputs(work.x_calib)
    sensitivity = column_sensitivity(work)
    info = {c.index: c for c in work.crossbar_layers()}
    layers = {}
    for index, cols in calib.items():
        layer = work.layers[index]
        matrix = layer.matrix()
        rows_kept = np.arange(matrix.shape[0]) if keep_rows is None else keep_rows[index]
        cols_kept = np.arange(matrix.shape[1]) if keep_cols is None else keep_cols[index]
        unpruned = plain_layout(layer.name, *matrix.shape, hw).crossbars
        layers[index] = map_protected_layer(
            index, layer.name, matrix[np.ix_(rows_kept, cols_kept)], cols[:, rows_kept], rows_kept, cols_kept,
            sensitivity[index][cols_kept], hw, protection, info[index].mvms_per_inference, unpruned,
        )
    return MappedNetwork(work, hw, layers)


def map_protected_layer(index: int, name: str, matrix: np.ndarray, calib_cols: np.ndarray,
                        keep_rows: np.ndarray, keep_cols: np.ndarray, sensitivity: np.ndarray,
                        hw: HardwareConfig, protection: Protection, mvms_per_inference: int = 1,
                        unpruned_crossbars: int | None = None) -> MappedLayer:
    """One layer: ``matrix`` (in', out') the kept weights, ``calib_cols`` (mvms, in') its calibration inputs,
    ``sensitivity`` (out',) the loss sensitivity of its kept columns, ``unpruned_crossbars`` the crossbars
    the layer occupies unpruned and unprotected (the ``dup_budget = "unpruned"`` budget)."""
    m = protection.msb_embed
    if m:
        w_int, w_scale = quantize_embedded(matrix, hw, m)
    else:
        w_int, w_scale = quantize_weights(matrix, hw.weight_bits, per_column=True)
    w_scale = np.broadcast_to(w_scale, (matrix.shape[1],)).astype(np.float64)
    x_scale, signed = input_quantisation(calib_cols, hw.input_bits, hw.dac_bits, name)
    x_calib = quantize_activations(calib_cols[: ADC_CALIBRATION_SAMPLES * mvms_per_inference],
                                   x_scale, hw.input_bits, signed)
    levels = slice_levels(w_int, hw.cell_bits, hw.weight_bits, hw.mapping)
    if m:
        levels = embed_levels(levels, m)
    col_weight = column_weights(sensitivity, w_scale)
    plan = plan_layer(name, levels, hw, protection, col_weight, mvms_per_inference, unpruned_crossbars)
    groups = programmed_groups(plan.bitline_levels, plan.groups, hw)
    hook = None
    if protection.vote == "test-aware" or protection.remap or protection.compensate:
        # Rows that carry no input on calibration data still weigh a little: the test split may drive them.
        row_weight = np.abs(x_calib).mean(axis=0) + 1e-3 * (1 + np.abs(x_calib).max())
        hook = ChipRepair(
            ideal=plan.bitline_levels, groups=groups, rows=hw.rows, cell_bits=hw.cell_bits,
            row_weight=row_weight, col_weight=col_weight, remap=protection.remap,
            test_aware=protection.vote == "test-aware", compensate=protection.compensate,
        )
    return MappedLayer(
        index=index, name=name, keep_rows=np.asarray(keep_rows, dtype=np.int64),
        keep_cols=np.asarray(keep_cols, dtype=np.int64), w_int=w_int, w_scale=w_scale, x_scale=x_scale,
        signed_inputs=signed, bitline_levels=plan.bitline_levels, groups=groups,
        adc_step=calibrate_adc_step(plan.bitline_levels, x_calib, hw, groups.flip), layout=plan.layout,
        chip_hook=hook,
    )
