"""The integer crossbar MVM of :func:`kernels.crossbar.mvm_packed` as two CUDA kernels.

Same packed layouts as the CPU kernel (``xp[n, t, bit, word]``, ``wp[t, c, word, b]``, uint64), so
packing, fault application and layer input gathering stay shared.

1. :func:`_bitline_codes`, one thread per (input, bit line): for every row tile, each cycle's column sum
   ``sum_p sum_c 2**(p + c) * popc(x word & cell plane)`` over the tile's words (the plane words are loaded
   once per tile and reused across cycles), the ADC code (exact shift-and-round for a power-of-two step,
   ``floor(v / step + 1/2)`` in float64 otherwise, clamped with the saturations counted), weighted by the
   cycle and summed: ``acc[n, t, b]``, int64, exactly the CPU kernel's per-tile accumulator.
2. :func:`_combine_groups`, one thread per (input, output column): the output's groups in ascending group
   order (the order the CPU kernel adds them), per row tile, each voted from its copies' ``acc`` (first,
   mean, median of three, test-aware pick) and added as ``y += coef * (step * voted)`` in float64.

Bit for bit equal to the CPU backend: the column sums, codes and accumulators are integers; the float64
operations are the CPU kernel's, in its order, with the multiplies and adds as the libdevice ``dmul_rn`` /
``dadd_rn`` intrinsics, because NVVM otherwise contracts ``y + a * b`` into one fused multiply-add with a
single rounding (numba-cuda has no switch for it). The CPU kernel's lookup tables for short row tiles and
its one-pass variants give the same integers as its plain loops, so the device needs only the plain ones.

:class:`DevicePlanes` holds one chip layer's packed (faulty) cell planes and its groups on the device: a
chip's layers are uploaded once and serve every batch; each call moves its packed inputs to the device
once and its outputs back once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import cuda, int64

from kernels.bitlines import BitlineGroups, flip_array
from kernels.cuda import require_cuda, simulated
from kernels.adc import step_shift
from kernels.dac import cycle_weights
from kernels.vote import VOTE_FIRST, VOTE_MEAN, VOTE_PICK

MAX_CYCLES = 16           # input_bits <= 16: at most 16 DAC cycles (kernels.validate)
THREADS = 256             # threads per block; each thread strides over (input, bit line) or (input, output)
MAX_BLOCKS = 1 << 20      # blocks per launch at most (the grid-stride loops cover any size)
SIMULATED_THREADS = 16    # threads of the one block a launch has under the simulator
MAX_ACC_BYTES = 1 << 28   # the per-tile accumulators of one launch: inputs go in chunks that fit 256 MiB
SATURATION_SLOTS = 1024   # saturation counts spread over slots by block, summed on the host (fewer collisions)

if simulated():  # the simulator runs kernels as Python: numpy float64 operations round like the CPU's
    def _mul_rn(a, b):
        return a * b

    def _add_rn(a, b):
        return a + b
else:  # pragma: no cover - needs a GPU
    from numba.cuda import libdevice

    _mul_rn, _add_rn = libdevice.dmul_rn, libdevice.dadd_rn


@cuda.jit(cache=True)
def _bitline_codes(xp, wp, cycle_w, dac_bits, cell_bits, adc_shift, half, step, max_code, first, acc,
                   saturated):  # pragma: no cover - compiled
    n_bl = wp.shape[3]
    n_cycles = cycle_w.shape[0]
    v = cuda.local.array(MAX_CYCLES, int64)
    sat = 0
    for index in range(cuda.grid(1), acc.shape[0] * n_bl, cuda.gridsize(1)):
        i, b = index // n_bl, index % n_bl  # neighbouring threads read neighbouring bit lines' words
        n = first + i
        for t in range(xp.shape[1]):
            for k in range(n_cycles):
                v[k] = 0
            for w in range(xp.shape[3]):
                for c in range(cell_bits):
                    plane = wp[t, c, w, b]
                    if plane == 0:
                        continue
                    for k in range(n_cycles):
                        for p in range(dac_bits):
                            xw = xp[n, t, k * dac_bits + p, w]
                            v[k] += int64(cuda.popc(xw & plane)) << int64(p + c)
            total = int64(0)
            for k in range(n_cycles):
                if v[k] == 0:
                    continue  # code 0: adds nothing, never saturates
                if adc_shift >= 0:  # kernels.adc.code_by_shift / code_by_division on the device
                    code = (v[k] + half) >> adc_shift
                else:
                    code = int64(math.floor(float(v[k]) / step + 0.5))
                if code > max_code:
                    sat += 1
                    code = max_code
                total += cycle_w[k] * code
            acc[i, t, b] = total
    if sat > 0:
        cuda.atomic.add(saturated, cuda.blockIdx.x % saturated.shape[0], sat)


@cuda.jit(device=True)
def _read(acc, i, t, b, flipped, flip, lx, step):  # pragma: no cover - compiled
    """Bit line ``b``'s value in row tile ``t`` as the CPU kernel votes on it: its cycle-weighted codes, or
    in a layer with flipped bit lines (:func:`kernels.flip.flip_values`) the read value
    ``step * codes``, ``lx - step * codes`` where ``b`` is flipped."""
    if not flipped:
        return float(acc[i, t, b])
    value = _mul_rn(step, float(acc[i, t, b]))
    return _add_rn(lx, -value) if flip[t, b] else value


@cuda.jit(device=True)
def _vote(acc, i, t, members, sizes, vote, pick, g, flipped, flip, lx, step):  # pragma: no cover - compiled
    """:func:`kernels.vote.vote_group` on the device, the same float64 operations."""
    size = sizes[g]
    if size == 1 or vote == VOTE_FIRST:
        return _read(acc, i, t, members[g, 0], flipped, flip, lx, step)
    if vote == VOTE_PICK:
        return _read(acc, i, t, members[g, pick[t, g]], flipped, flip, lx, step)
    if vote == VOTE_MEAN or size == 2:
        total = 0.0
        for m in range(size):
            total = _add_rn(total, _read(acc, i, t, members[g, m], flipped, flip, lx, step))
        return total / size
    a0 = _read(acc, i, t, members[g, 0], flipped, flip, lx, step)  # median of three
    a1 = _read(acc, i, t, members[g, 1], flipped, flip, lx, step)
    a2 = _read(acc, i, t, members[g, 2], flipped, flip, lx, step)
    return max(min(a0, a1), min(max(a0, a1), a2))


@cuda.jit(device=True)
def _tile_input_sum(xp, n, t, cycle_w, dac_bits):  # pragma: no cover - compiled
    """:func:`kernels.flip.tile_input_sum`: input ``n``'s signed sum on row tile ``t``, exact."""
    total = int64(0)
    for k in range(cycle_w.shape[0]):
        cycle = int64(0)
        for p in range(dac_bits):
            for w in range(xp.shape[3]):
                cycle += int64(cuda.popc(xp[n, t, k * dac_bits + p, w])) << int64(p)
        total += cycle_w[k] * cycle
    return total


@cuda.jit(cache=True)
def _combine_groups(acc, order, out_ptr, members, sizes, coef, vote, pick, step, first, xp, cycle_w, dac_bits,
                    top, flipped, flip, accumulate, y):  # pragma: no cover - compiled
    n_out = y.shape[1]
    scale = 1.0 if flipped else step  # flipped layers vote on read values, the others on codes
    for index in range(cuda.grid(1), acc.shape[0] * n_out, cuda.gridsize(1)):
        i, j = index // n_out, index % n_out
        total = 0.0
        for t in range(acc.shape[1]):
            lx = _mul_rn(top, float(_tile_input_sum(xp, first + i, t, cycle_w, dac_bits))) if flipped else 0.0
            for q in range(out_ptr[j], out_ptr[j + 1]):
                g = order[q]
                voted = _vote(acc, i, t, members, sizes, vote, pick, g, flipped, flip, lx, step)
                total = _add_rn(total, _mul_rn(coef[g], _mul_rn(scale, voted)))
        y[first + i, j] = _add_rn(y[first + i, j], total) if accumulate else total


@dataclass(frozen=True)
class DevicePlanes:
    """One layer's packed cell planes (faults already in them) and bit-line groups, resident on the device.

    shape      ``(tiles, cell_bits, words, bit lines)`` of the planes
    n_out      output columns the groups add into
    """

    wp: object
    members: object
    sizes: object
    coef: object
    pick: object
    order: object
    out_ptr: object
    flip: object
    flipped: bool
    vote: int
    shape: tuple[int, int, int, int]
    n_out: int


def to_device(wp: np.ndarray, groups: BitlineGroups, n_out: int) -> DevicePlanes:
    """Upload packed planes ``wp`` (from :func:`kernels.crossbar.pack_levels`) and ``groups`` once."""
    wp = np.ascontiguousarray(wp, dtype=np.uint64)
    if wp.ndim != 4:
        raise ValueError(f"packed levels must be (tiles, cell_bits, words, bit lines), got shape {wp.shape}")
    return to_device_groups(groups, wp.shape, n_out, wp)


def to_device_groups(groups: BitlineGroups, shape: tuple[int, int, int, int], n_out: int,
                     wp: np.ndarray | None = None) -> DevicePlanes:
    """``groups`` over bit lines laid out as planes of ``shape`` on the device (with the planes ``wp``, or
    without any: the exact path brings its own sums)."""
    require_cuda()
    out = np.asarray(groups.out, dtype=np.int64)
    if out.size and (out.min() < 0 or out.max() >= n_out):
        raise ValueError(f"groups add into outputs {out.min()}..{out.max()}, outside 0..{n_out - 1}")
    order = np.argsort(out, kind="stable")  # each output's groups in ascending group order
    out_ptr = np.zeros(n_out + 1, dtype=np.int64)
    np.cumsum(np.bincount(out, minlength=n_out), out=out_ptr[1:])
    pick = groups.pick if groups.pick is not None else np.zeros((shape[0], len(out)), np.int64)
    flip = flip_array(groups, shape[0], shape[3])
    return DevicePlanes(
        wp=None if wp is None else _upload(wp, np.uint64),
        members=_upload(groups.members, np.int64),
        sizes=_upload(groups.sizes, np.int64),
        coef=_upload(groups.coef, np.float64),
        pick=_upload(pick, np.int64),
        order=_upload(order, np.int64),
        out_ptr=_upload(out_ptr, np.int64),
        flip=_upload(flip, np.uint8),
        flipped=flip.size > 0,
        vote=int(groups.vote),
        shape=tuple(int(d) for d in shape),
        n_out=int(n_out),
    )


def _upload(a: np.ndarray, dtype) -> object:
    """``a`` on the device; an empty array as one zero element of its rank (the kernels index only what
    the groups name, and no empty allocation is asked of the driver)."""
    a = np.ascontiguousarray(a, dtype=dtype)
    return cuda.to_device(a if a.size else np.zeros((1,) * a.ndim, dtype=dtype))


def _launch(work: int) -> tuple[int, int]:
    """(blocks, threads) for ``work`` items of a grid-stride kernel. The simulator runs each thread as a
    Python thread: there one block of a few threads does all items, which is what keeps it quick."""
    if simulated():
        return 1, min(SIMULATED_THREADS, work)
    return min(-(-work // THREADS), MAX_BLOCKS), THREADS


def mvm_packed_cuda(
    xp: np.ndarray, planes: DevicePlanes, *, input_bits: int, dac_bits: int, signed_inputs: bool,
    adc_bits: int, step: float,
) -> tuple[np.ndarray, int]:
    """:func:`kernels.crossbar.mvm_packed` on the device: the same ``(y, saturated)``, bit for bit.

    xp      (batch, tiles, bits, words) uint64 host array, with at most the planes' words per tile
    planes  the layer on the device (:func:`to_device`); the cell bits are the planes' second axis
    """
    tiles, cell_bits, words, n_bl = planes.shape
    xp = np.ascontiguousarray(xp, dtype=np.uint64)
    if xp.ndim != 4 or xp.shape[1] != tiles or xp.shape[3] > words:
        raise ValueError(f"packed inputs {xp.shape} and packed levels {planes.shape} do not share row tiles")
    cycle_w = cycle_weights(input_bits, dac_bits, signed_inputs)
    if xp.shape[2] < len(cycle_w) * dac_bits:
        raise ValueError(f"packed inputs hold {xp.shape[2]} bit planes, fewer than the {len(cycle_w)} cycles "
                         f"of {dac_bits}-bit DACs need")
    adc_shift = step_shift(step)  # as mvm_packed decides it
    half = (1 << adc_shift) >> 1 if adc_shift >= 0 else 0
    batch, n_out = xp.shape[0], planes.n_out
    if batch == 0 or n_out == 0:
        return np.zeros((batch, n_out), dtype=np.float64), 0
    y_d = cuda.device_array((batch, n_out), dtype=np.float64)
    saturated_d = cuda.to_device(np.zeros(SATURATION_SLOTS, dtype=np.int64))
    xp_d = cuda.to_device(xp)
    cycle_w_d = cuda.to_device(cycle_w)
    chunk = max(1, min(batch, MAX_ACC_BYTES // (8 * max(1, tiles * n_bl))))
    acc_d = cuda.device_array((chunk, tiles, n_bl), dtype=np.int64)
    for first in range(0, batch, chunk):
        acc = acc_d[:min(chunk, batch - first)]
        rows = acc.shape[0]
        _bitline_codes[_launch(rows * n_bl)](
            xp_d, planes.wp, cycle_w_d, dac_bits, cell_bits, adc_shift, half, float(step), (1 << adc_bits) - 1,
            first, acc, saturated_d)
        _combine_groups[_launch(rows * n_out)](
            acc, planes.order, planes.out_ptr, planes.members, planes.sizes, planes.coef, planes.vote,
            planes.pick, float(step), first, xp_d, cycle_w_d, dac_bits, float((1 << cell_bits) - 1),
            planes.flipped, planes.flip, False, y_d)
    return y_d.copy_to_host(), int(saturated_d.copy_to_host().sum())
