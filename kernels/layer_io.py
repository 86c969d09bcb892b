"""A crossbar layer's inputs and outputs in one pass each (Numba): what surrounds the MVM kernel.

Inputs. A layer's crossbar input vectors are a *gather* of its float activations: every row of im2col
(a convolution's receptive field, or a linear layer's input row) takes each of its elements from one
position of one sample, or is zero padding. :func:`pack_layer_inputs` takes the activations (samples,
features) and the gather index (positions, rows) and returns the packed input planes of
:func:`kernels.dac.pack_inputs`, quantising each activation once
(:func:`kernels.quantize.quantize_activations`, bit for bit) and never building the float im2col matrix,
the integer matrix or the unsigned patterns. Row ``m = sample * positions + position`` is the ``m``-th
im2col row, the order of ``Conv2d.im2col``.

Outputs. :func:`dequantize_fold` turns the kernel's integer-domain outputs back into the layer's float
output, bias added, in its output layout, the same floating-point operations in the same order as
``MappedLayer.dequantize`` followed by ``+ bias`` and ``fold``; optionally through a following ReLU
(``np.maximum(., 0.0)``) and, for a convolution, a following max pooling (:func:`dequantize_fold_pool`,
the element ``kernels.pooling.max_pool`` picks), without writing the unpooled output.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from kernels.dac import WORD, n_cycles
from kernels.pooling import _first_max
from kernels.popcount import bit_of_64

PARALLEL_WORK = 1 << 17  # elements below which one thread beats starting the others (and waiting for them)
NAN_INT = np.iinfo(np.int64).min  # what numpy's float -> int64 cast gives NaN on x86; only NaN inputs see it


def activation_range(input_bits: int, signed: bool) -> tuple[int, int]:
    """The integer range inputs are clipped into: unsigned, or two's complement when ``signed``."""
    if signed:
        return -(1 << (input_bits - 1)), (1 << (input_bits - 1)) - 1
    return 0, (1 << input_bits) - 1


@njit(cache=True, inline="always")
def _quantize_one(x, scale, lo, hi):  # pragma: no cover - compiled
    """``int64(clip(rint(x / scale), lo, hi))``, as numpy computes it."""
    q = np.rint(x / scale)
    if q != q:
        return NAN_INT
    return np.int64(min(max(q, lo), hi))


@njit(cache=True)
def _pack_samples(src, index, scale, lo, hi, mask, rows, n_bits, patterns_of, first, last, xp, sums,
                  ints):  # pragma: no cover - compiled
    """Samples ``first .. last-1``: quantise each activation once, then gather and pack every position.
    ``patterns_of`` (empty) gives the pattern buffers' dtype: uint8, or uint16 beyond 8 input bits."""
    n_feat = src.shape[1]
    positions, n_rows = index.shape
    tiles, words = xp.shape[1], xp.shape[3]
    want_sums, want_ints = sums.shape[0] > 0, ints.shape[0] > 0
    q = np.empty(n_feat, dtype=np.int64)  # one sample's activations, quantised once
    patterns = np.empty(n_feat + 1, dtype=patterns_of.dtype)  # their unsigned patterns; [-1] = padding
    row = np.zeros(n_rows + WORD, dtype=patterns_of.dtype)  # one input vector, padded for 64-wide loads
    for s in range(first, last):
        x = src[s]
        for i in range(n_feat):
            q[i] = _quantize_one(x[i], scale, lo, hi)
            patterns[i] = q[i] & mask
        patterns[n_feat] = 0
        for p in range(positions):
            m = s * positions + p
            idx = index[p]
            for r in range(n_rows):  # a gather: index -1 reads the zero at patterns[-1]
                row[r] = patterns[idx[r]]
            if want_sums or want_ints:
                total = 0
                for r in range(n_rows):
                    v = q[idx[r]] if idx[r] >= 0 else 0
                    total += v
                    if want_ints:
                        ints[m, r] = v
                if want_sums:
                    sums[m] = total
            for t in range(tiles):
                for w in range(words):
                    start = t * rows + w * WORD
                    stop = min(n_rows, t * rows + min(rows, (w + 1) * WORD))
                    if start >= stop:
                        continue
                    keep = np.uint64(0xFFFFFFFFFFFFFFFF) >> np.uint64(WORD - (stop - start))
                    for b in range(n_bits):  # bit b of 64 rows at once; rows past the word's end masked off
                        xp[m, t, b, w] = bit_of_64(row, start, b) & keep


@njit(cache=True, parallel=True)
def _pack_parallel(src, index, scale, lo, hi, mask, rows, n_bits, patterns_of, xp, sums, ints):  # pragma: no cover
    n_src = src.shape[0]
    chunks = min(n_src, 64)
    for chunk in prange(chunks):
        _pack_samples(src, index, scale, lo, hi, mask, rows, n_bits, patterns_of, chunk * n_src // chunks,
                      (chunk + 1) * n_src // chunks, xp, sums, ints)


def pack_layer_inputs(
    src: np.ndarray, index: np.ndarray, *, scale: float, input_bits: int, signed: bool, rows: int, dac_bits: int,
    want_sums: bool = False, want_ints: bool = False,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Quantise, gather and pack a layer's crossbar inputs in one pass.

    src     (samples, features) float activations (each sample's activation flattened)
    index   (positions, rows) int64: crossbar row ``r`` of position ``p`` reads ``src[:, index[p, r]]``,
            or zero where ``index[p, r] < 0`` (padding)
    Returns ``(xp, sums, ints)``: the packed planes ``pack_inputs(x_int, rows, input_bits, dac_bits)`` of
    ``x_int = quantize_activations(im2col rows, scale, input_bits, signed)`` (samples * positions, rows),
    without the all-zero words past the rows when there are fewer rows than a crossbar has (``mvm_packed``
    takes them as undriven);
    with ``want_sums`` the row sums ``x_int.sum(axis=1)`` (the offset mapping's correction), with
    ``want_ints`` ``x_int`` itself (for statistics); None otherwise.
    """
    src = np.ascontiguousarray(src, dtype=np.float64)
    index = np.ascontiguousarray(index, dtype=np.int64)
    if src.ndim != 2 or index.ndim != 2:
        raise ValueError(f"src must be (samples, features) and index (positions, rows); got {src.shape}, {index.shape}")
    if index.size and index.max() >= src.shape[1]:
        raise ValueError(f"index reads feature {index.max()} of activations with {src.shape[1]} features")
    lo, hi = activation_range(input_bits, signed)
    n_bits = n_cycles(input_bits, dac_bits) * dac_bits
    n_src, (positions, n_rows) = src.shape[0], index.shape
    batch = n_src * positions
    # Words per tile: as many as the rows need (a layer narrower than a crossbar needs fewer; see mvm_packed)
    xp = np.zeros((batch, -(-n_rows // rows), n_bits, -(-min(rows, n_rows) // WORD)), dtype=np.uint64)
    sums = np.zeros(batch if want_sums else 0, dtype=np.int64)
    ints = np.zeros((batch, n_rows) if want_ints else (0, n_rows), dtype=np.int64)
    args = (src, index, float(scale), float(lo), float(hi), (1 << input_bits) - 1, rows, n_bits,
            np.empty(0, dtype=np.uint8 if input_bits <= 8 else np.uint16))  # input_bits <= 16
    if batch * n_rows >= PARALLEL_WORK:
        _pack_parallel(*args, xp, sums, ints)
    else:
        _pack_samples(*args, 0, n_src, xp, sums, ints)
    return xp, (sums if want_sums else None), (ints if want_ints else None)


@njit(cache=True, inline="always")
def _relu(v):  # pragma: no cover - compiled
    """``np.maximum(v, 0.0)`` bit for bit: NaN stays NaN, ``-0.0`` and negatives become ``+0.0``."""
    return v if (v > 0.0) | (v != v) else 0.0


@njit(cache=True)
def _fold_samples(y, scale, keep_cols, bias, positions, channels_first, relu, first, last, out):  # pragma: no cover
    """Samples ``first .. last-1`` into ``out`` (samples, n_cols * positions); ``relu``: through a ReLU."""
    n_keep = y.shape[1]
    n_cols = bias.shape[0]
    pruned = n_keep < n_cols
    for s in range(first, last):
        o = out[s]
        rows = y[s * positions:(s + 1) * positions]
        if pruned:  # a pruned column reads 0, plus its bias
            for c in range(n_cols):
                for p in range(positions):
                    v = 0.0 + bias[c]
                    o[c * positions + p if channels_first else p * n_cols + c] = _relu(v) if relu else v
        if channels_first:  # (n_cols, positions): one output channel at a time, written contiguously
            for j in range(n_keep):
                c = keep_cols[j]
                plane = o[c * positions:(c + 1) * positions]
                sj, bc = scale[j], bias[c]
                if relu:
                    for p in range(positions):
                        plane[p] = _relu(rows[p, j] * sj + bc)
                else:
                    for p in range(positions):
                        plane[p] = rows[p, j] * sj + bc
        else:
            for p in range(positions):
                line = o[p * n_cols:(p + 1) * n_cols]
                r = rows[p]
                if relu:
                    for j in range(n_keep):
                        line[keep_cols[j]] = _relu(r[j] * scale[j] + bias[keep_cols[j]])
                else:
                    for j in range(n_keep):
                        line[keep_cols[j]] = r[j] * scale[j] + bias[keep_cols[j]]


@njit(cache=True, parallel=True)
def _fold_parallel(y, scale, keep_cols, bias, positions, channels_first, relu, out):  # pragma: no cover - compiled
    n_samples = out.shape[0]
    chunks = min(n_samples, 64)
    for chunk in prange(chunks):
        _fold_samples(y, scale, keep_cols, bias, positions, channels_first, relu, chunk * n_samples // chunks,
                      (chunk + 1) * n_samples // chunks, out)


def dequantize_fold(y: np.ndarray, scale: np.ndarray, keep_cols: np.ndarray, bias: np.ndarray, n_cols: int,
                    positions: int, channels_first: bool, relu: bool = False) -> np.ndarray:
    """Integer-domain outputs (samples * positions, kept columns) to the layer's float output.

    ``out[m, keep_cols[j]] = y[m, j] * scale[j] + bias[keep_cols[j]]`` and ``0.0 + bias[c]`` for the
    columns not kept, where ``scale = x_scale * w_scale``. Returned as (samples, positions, n_cols), or
    as (samples, n_cols, positions) when ``channels_first`` (a convolution's NCHW output). With ``relu``,
    every value goes through ``np.maximum(value, 0.0)`` as well (a following ReLU layer, bit for bit).
    """
    y = np.ascontiguousarray(y, dtype=np.float64)
    if np.shape(bias) != (n_cols,) or np.shape(keep_cols) != (y.shape[1],) or np.shape(scale) != (y.shape[1],):
        raise ValueError(f"bias {np.shape(bias)} must have {n_cols} columns and keep_cols {np.shape(keep_cols)}, "
                         f"scale {np.shape(scale)} one per output column of y {y.shape}")
    if y.shape[0] % positions:
        raise ValueError(f"{y.shape[0]} output rows are not a whole number of samples of {positions} positions")
    n_samples = y.shape[0] // positions
    out = np.empty((n_samples, n_cols * positions), dtype=np.float64)
    args = (y, np.ascontiguousarray(scale, dtype=np.float64), np.ascontiguousarray(keep_cols, dtype=np.int64),
            np.ascontiguousarray(bias, dtype=np.float64), positions, channels_first, bool(relu))
    if out.size >= PARALLEL_WORK:
        _fold_parallel(*args, out)
    else:
        _fold_samples(*args, 0, n_samples, out)
    return out.reshape((n_samples, n_cols, positions) if channels_first else (n_samples, positions, n_cols))


@njit(cache=True, inline="always")
def _max_of(best, value, exact):  # pragma: no cover - compiled
    """:func:`kernels.pooling._first_max` when ``exact``; else the plain ``value > best`` pick, the same
    element whenever neither is NaN (of equal elements the first stays) and quicker."""
    if exact:
        return _first_max(best, value)
    return value if value > best else best


@njit(cache=True, inline="always")
def _pool_sample(rows, scale, bias_kept, relu, w, kernel, stride, h_out, w_out, pooled, check,
                 exact):  # pragma: no cover - compiled
    """One sample's kept columns folded and pooled into ``pooled`` (h_out * w_out, kept columns), every
    loop over the columns (contiguous in ``rows`` and ``pooled``). Unless ``exact``, ``check[j]`` gets a
    sum of column ``j``'s folded values: NaN whenever one was (then the caller redoes it ``exact``)."""
    n_keep = rows.shape[1]
    for oh in range(h_out):
        for ow in range(w_out):
            p = oh * stride * w + ow * stride  # the window's top left position
            out = pooled[oh * w_out + ow]
            first = rows[p]
            for j in range(n_keep):
                v = first[j] * scale[j] + bias_kept[j]
                out[j] = _relu(v) if relu else v
                if not exact:
                    check[j] += out[j]
            for i in range(kernel):
                for k in range(kernel):
                    if i + k == 0:
                        continue
                    r = rows[p + i * w + k]
                    for j in range(n_keep):  # row-major window order, as max_pool compares them
                        v = r[j] * scale[j] + bias_kept[j]
                        v = _relu(v) if relu else v
                        if not exact:
                            check[j] += v
                        out[j] = _max_of(out[j], v, exact)


@njit(cache=True)
def _fold_pool_samples(y, scale, keep_cols, bias, h, w, relu, kernel, stride, first, last,
                       out):  # pragma: no cover - compiled
    """Samples ``first .. last-1``: folded (and through the ReLU) and max-pooled into ``out`` (samples,
    n_cols, h_out, w_out), window elements compared in ``max_pool``'s order (a sample with a NaN again
    with ``max_pool``'s NaN rule)."""
    n_keep = y.shape[1]
    n_cols = bias.shape[0]
    positions = h * w
    h_out, w_out = out.shape[2], out.shape[3]
    kept = np.zeros(n_cols, dtype=np.bool_)
    bias_kept = np.empty(n_keep, dtype=np.float64)
    for j in range(n_keep):
        kept[keep_cols[j]] = True
        bias_kept[j] = bias[keep_cols[j]]
    pooled = np.empty((h_out * w_out, n_keep), dtype=np.float64)
    check = np.zeros(n_keep, dtype=np.float64)
    for s in range(first, last):
        rows = y[s * positions:(s + 1) * positions]
        check[:] = 0.0
        _pool_sample(rows, scale, bias_kept, relu, w, kernel, stride, h_out, w_out, pooled, check, False)
        redo = False
        for j in range(n_keep):
            redo |= check[j] != check[j]
        if redo:
            _pool_sample(rows, scale, bias_kept, relu, w, kernel, stride, h_out, w_out, pooled, check, True)
        o = out[s]
        for c in range(n_cols):
            if not kept[c]:  # a pruned column reads 0, plus its bias: every element of the window alike
                v = 0.0 + bias[c]
                v = _relu(v) if relu else v
                for oh in range(h_out):
                    for ow in range(w_out):
                        o[c, oh, ow] = v
        for q in range(h_out * w_out):
            oh, ow = q // w_out, q % w_out
            for j in range(n_keep):
                o[keep_cols[j], oh, ow] = pooled[q, j]


@njit(cache=True, parallel=True)
def _fold_pool_parallel(y, scale, keep_cols, bias, h, w, relu, kernel, stride, out):  # pragma: no cover - compiled
    n_samples = out.shape[0]
    chunks = min(n_samples, 64)
    for chunk in prange(chunks):
        _fold_pool_samples(y, scale, keep_cols, bias, h, w, relu, kernel, stride, chunk * n_samples // chunks,
                           (chunk + 1) * n_samples // chunks, out)


def dequantize_fold_pool(y: np.ndarray, scale: np.ndarray, keep_cols: np.ndarray, bias: np.ndarray, n_cols: int,
                         out_hw: tuple[int, int], relu: bool, kernel: int, stride: int) -> np.ndarray:
    """A convolution's output pass followed by max pooling, in one pass: the same values, bit for bit, as
    ``kernels.pooling.max_pool(dequantize_fold(y, ..., channels_first=True, relu=relu), kernel, stride)``
    reshaped to NCHW (without writing the unpooled output). Returns (samples, n_cols, h_out, w_out)."""
    y = np.ascontiguousarray(y, dtype=np.float64)
    h, w = out_hw
    positions = h * w
    if np.shape(bias) != (n_cols,) or np.shape(keep_cols) != (y.shape[1],) or np.shape(scale) != (y.shape[1],):
        raise ValueError(f"bias {np.shape(bias)} must have {n_cols} columns and keep_cols {np.shape(keep_cols)}, "
                         f"scale {np.shape(scale)} one per output column of y {y.shape}")
    if y.shape[0] % positions:
        raise ValueError(f"{y.shape[0]} output rows are not a whole number of samples of {positions} positions")
    if not (1 <= kernel <= min(h, w) and stride >= 1):
        raise ValueError(f"pooling kernel {kernel}, stride {stride} does not fit a {h}x{w} output")
    n_samples = y.shape[0] // positions
    h_out, w_out = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    out = np.empty((n_samples, n_cols, h_out, w_out), dtype=np.float64)
    args = (y, np.ascontiguousarray(scale, dtype=np.float64), np.ascontiguousarray(keep_cols, dtype=np.int64),
            np.ascontiguousarray(bias, dtype=np.float64), h, w, bool(relu), kernel, stride)
    if n_samples * n_cols * positions >= PARALLEL_WORK:
        _fold_pool_parallel(*args, out)
    else:
        _fold_pool_samples(*args, 0, n_samples, out)
    return out
