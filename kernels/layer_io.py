"""A crossbar layer's inputs and outputs in one pass each (Numba): what surrounds the MVM kernel.

Inputs. A layer's crossbar input vectors are a *gather* of its float activations: every row of im2col
(a convolution's receptive field, or a linear layer's input row) takes each of its elements from one
position of one sample, or is zero padding. :func:`pack_layer_inputs` takes the activations (samples,
features) and the gather index (positions, rows) and returns the packed input planes of
:func:`kernels.crossbar.pack_inputs`, quantising each activation once
(:func:`kernels.quantize.quantize_activations`, bit for bit) and never building the float im2col matrix,
the integer matrix or the unsigned patterns. Row ``m = sample * positions + position`` is the ``m``-th
im2col row, the order of ``Conv2d.im2col``.

Outputs. :func:`dequantize_fold` turns the kernel's integer-domain outputs back into the layer's float
output, bias added, in its output layout, the same floating-point operations in the same order as
``MappedLayer.dequantize`` followed by ``+ bias`` and ``fold``.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from kernels.dac import n_cycles

WORD = 64
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


@njit(cache=True, parallel=True)
def _pack_layer_inputs(src, index, scale, lo, hi, mask, rows, n_bits, want_sums, want_ints):  # pragma: no cover
    n_src, n_feat = src.shape
    positions, n_rows = index.shape
    batch = n_src * positions
    tiles = (n_rows + rows - 1) // rows
    words = (rows + WORD - 1) // WORD
    xp = np.zeros((batch, tiles, n_bits, words), dtype=np.uint64)
    sums = np.zeros(batch if want_sums else 0, dtype=np.int64)
    ints = np.empty((batch if want_ints else 0, n_rows), dtype=np.int64)
    n_chunks = min(n_src, 64)
    for chunk in prange(n_chunks):
        q = np.empty(n_feat, dtype=np.int64)  # one sample's activations, quantised once
        row = np.empty(n_rows, dtype=np.int64)  # one crossbar input vector (unsigned patterns)
        fold = np.empty(WORD, dtype=np.int64)
        for s in range(chunk * n_src // n_chunks, (chunk + 1) * n_src // n_chunks):
            x = src[s]
            for i in range(n_feat):
                q[i] = _quantize_one(x[i], scale, lo, hi)
            for p in range(positions):
                m = s * positions + p
                idx = index[p]
                total = 0
                for r in range(n_rows):
                    i = idx[r]
                    v = q[i] if i >= 0 else 0
                    total += v
                    row[r] = v & mask
                    if want_ints:
                        ints[m, r] = v
                if want_sums:
                    sums[m] = total
                for t in range(tiles):
                    for w in range(words):
                        first = t * rows + w * WORD
                        last = min(n_rows, t * rows + min(rows, (w + 1) * WORD))
                        if first >= last:
                            continue
                        width = last - first
                        fold[:width] = row[first:last]
                        for b in range(n_bits):
                            word = np.uint64(0)
                            for r in range(width):  # an OR-reduction LLVM vectorises
                                word |= np.uint64((fold[r] >> b) & 1) << np.uint64(r)
                            xp[m, t, b, w] = word
    return xp, sums, ints


def pack_layer_inputs(
    src: np.ndarray, index: np.ndarray, *, scale: float, input_bits: int, signed: bool, rows: int, dac_bits: int,
    want_sums: bool = False, want_ints: bool = False,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Quantise, gather and pack a layer's crossbar inputs in one pass.

    src     (samples, features) float activations (each sample's activation flattened)
    index   (positions, rows) int64: crossbar row ``r`` of position ``p`` reads ``src[:, index[p, r]]``,
            or zero where ``index[p, r] < 0`` (padding)
    Returns ``(xp, sums, ints)``: the packed planes ``pack_inputs(x_int, rows, input_bits, dac_bits)`` of
    ``x_int = quantize_activations(im2col rows, scale, input_bits, signed)`` (samples * positions, rows);
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
    xp, sums, ints = _pack_layer_inputs(src, index, float(scale), float(lo), float(hi), (1 << input_bits) - 1,
                                        rows, n_bits, want_sums, want_ints)
    return xp, (sums if want_sums else None), (ints if want_ints else None)


@njit(cache=True, parallel=True)
def _dequantize_fold(y, scale, keep_cols, bias, n_cols, positions, channels_first):  # pragma: no cover
    batch, n_keep = y.shape
    out = np.empty(batch * n_cols, dtype=np.float64)
    pruned = n_keep < n_cols
    n_samples = batch // positions
    for s in prange(n_samples):
        for p in range(positions):
            m = s * positions + p
            # element (m, c) of the (batch, n_cols) output rows goes to out[base + c * stride]
            base = (s * n_cols * positions + p) if channels_first else m * n_cols
            stride = positions if channels_first else 1
            if pruned:
                for c in range(n_cols):
                    out[base + c * stride] = 0.0 + bias[c]  # a pruned column reads 0, plus its bias
            y_m = y[m]
            for j in range(n_keep):
                c = keep_cols[j]
                out[base + c * stride] = y_m[j] * scale[j] + bias[c]
    return out


def dequantize_fold(y: np.ndarray, scale: np.ndarray, keep_cols: np.ndarray, bias: np.ndarray, n_cols: int,
                    positions: int, channels_first: bool) -> np.ndarray:
    """Integer-domain outputs (samples * positions, kept columns) to the layer's float output.

    ``out[m, keep_cols[j]] = y[m, j] * scale[j] + bias[keep_cols[j]]`` and ``0.0 + bias[c]`` for the
    columns not kept, where ``scale = x_scale * w_scale``. Returned as (samples, positions, n_cols), or
    as (samples, n_cols, positions) when ``channels_first`` (a convolution's NCHW output).
    """
    y = np.ascontiguousarray(y, dtype=np.float64)
    if y.shape[0] % positions:
        raise ValueError(f"{y.shape[0]} output rows are not a whole number of samples of {positions} positions")
    out = _dequantize_fold(y, np.ascontiguousarray(scale, dtype=np.float64),
                           np.ascontiguousarray(keep_cols, dtype=np.int64),
                           np.ascontiguousarray(bias, dtype=np.float64), n_cols, positions, channels_first)
    n_samples = y.shape[0] // positions
    return out.reshape((n_samples, n_cols, positions) if channels_first else (n_samples, positions, n_cols))
