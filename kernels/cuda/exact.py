"""The exact lossless path (:mod:`kernels.exact`) on the device: :func:`kernels.exact.mvm_exact`, bit for bit.

A layer whose ADC cannot lose information on a chip is ``x_int @ (scale * W_eff)`` times ``1 / scale``,
plus, for median groups (or every bit line in ``replay``), per-tile bit-line sums voted as the popcount
kernel votes. On the device:

- :func:`_dense`, one thread per (input, output): the product in float64. Every product and partial sum is
  an integer below ``2**53`` (the bound :func:`kernels.exact.exact_layer` checked), so any order of the
  adds, fused or not, gives the CPU's BLAS result exactly; then ``* inv_scale`` and ``+ 0.0`` as on the CPU.
- :func:`_tile_sums`, one thread per (input, bit line): each row tile's sum ``sum_i x_int[i] * level[i, b]``
  in int64, exact; then :func:`kernels.cuda.mvm._combine_groups` votes, shifts and adds them with step 1, in
  the popcount kernel's order, into the outputs (added to the dense part, where both exist: its values are
  exact binary fractions and the medians integers, so the sum is the CPU's whatever the order).

:class:`DeviceExact` holds a chip layer's weights, tile levels and groups on the device, uploaded once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import cuda, int64

from kernels.cuda.mvm import DevicePlanes, _add_rn, _combine_groups, _launch, _mul_rn, _upload, to_device_groups
from kernels.exact import ExactLayer, checked_inputs


@cuda.jit(cache=True)
def _dense(x, w, inv_scale, y):  # pragma: no cover - compiled
    n_out = y.shape[1]
    for index in range(cuda.grid(1), y.shape[0] * n_out, cuda.gridsize(1)):
        i, j = index // n_out, index % n_out
        total = 0.0
        for k in range(x.shape[1]):
            total += x[i, k] * w[k, j]  # exact integers: a fused multiply-add changes nothing
        y[i, j] = _add_rn(_mul_rn(total, inv_scale), 0.0)


@cuda.jit(cache=True)
def _tile_sums(x, levels, rows, acc):  # pragma: no cover - compiled
    n_bl = levels.shape[1]
    n_in = x.shape[1]
    for index in range(cuda.grid(1), acc.shape[0] * n_bl, cuda.gridsize(1)):
        i, b = index // n_bl, index % n_bl
        for t in range(acc.shape[1]):
            total = int64(0)
            for k in range(t * rows, min(n_in, (t + 1) * rows)):
                total += int64(x[i, k]) * int64(levels[k, b])
            acc[i, t, b] = total


@dataclass(frozen=True)
class DeviceExact:
    """One chip layer's exact form (:class:`kernels.exact.ExactLayer`) on the device."""

    n_in: int
    n_out: int
    rows: int
    x_max: int
    inv_scale: float
    weights: object | None
    tile_levels: object | None
    tile_groups: DevicePlanes | None
    accumulate: bool  # the tile part adds into the dense part (median groups) rather than being all (replay)


def exact_to_device(layer: ExactLayer) -> DeviceExact:
    """Upload ``layer`` once (weights as float64: the same integers, or binary fractions, as their dtype)."""
    if layer.clipped is not None:
        raise ValueError("exact layers with clippable bit lines (kernels.clipped) have no device version: "
                         "build them with max_clipped=0")
    tiles = -(-layer.n_in // layer.rows)
    tile_levels = tile_groups = None
    if layer.tile_levels is not None:
        tile_levels = _upload(layer.tile_levels, np.int64)  # integer levels held in a float dtype
        shape = (tiles, 1, 1, layer.tile_levels.shape[1])
        tile_groups = to_device_groups(layer.tile_groups, shape, layer.n_out)
    return DeviceExact(
        n_in=layer.n_in, n_out=layer.n_out, rows=layer.rows, x_max=layer.x_max, inv_scale=float(layer.inv_scale),
        weights=None if layer.weights is None else _upload(layer.weights, np.float64),
        tile_levels=tile_levels, tile_groups=tile_groups, accumulate=layer.weights is not None,
    )


def mvm_exact_cuda(x_int: np.ndarray, layer: DeviceExact) -> np.ndarray:
    """:func:`kernels.exact.mvm_exact` on the device: (batch, n_out) float64, no offset correction."""
    x = checked_inputs(x_int, layer)
    batch = x.shape[0]
    if batch == 0 or layer.n_out == 0:
        return np.zeros((batch, layer.n_out), dtype=np.float64)
    x_d = cuda.to_device(np.ascontiguousarray(x, dtype=np.float64))  # integers, exact in float64
    y_d = cuda.to_device(np.zeros((batch, layer.n_out), dtype=np.float64))
    if layer.weights is not None:
        _dense[_launch(batch * layer.n_out)](x_d, layer.weights, layer.inv_scale, y_d)
    if layer.tile_levels is not None:
        planes = layer.tile_groups
        tiles, n_bl = planes.shape[0], planes.shape[3]
        acc = cuda.device_array((batch, tiles, n_bl), dtype=np.int64)
        _tile_sums[_launch(batch * n_bl)](x_d, layer.tile_levels, layer.rows, acc)
        # Levels are logical here (flips undone): no input sums are needed, hence the placeholders.
        no_inputs, no_cycles = cuda.to_device(np.zeros((1,) * 4, np.uint64)), cuda.to_device(np.zeros(1, np.int64))
        _combine_groups[_launch(batch * layer.n_out)](
            acc, planes.order, planes.out_ptr, planes.members, planes.sizes, planes.coef, planes.vote,
            planes.pick, 1.0, 0, no_inputs, no_cycles, 1, 0.0, False, planes.flip, layer.accumulate, y_d)
    return y_d.copy_to_host()
