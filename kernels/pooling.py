"""Max pooling for inference (Numba): the element ``argmax`` picks in each window, without copying windows.

Same values, bit for bit, as ``np.take_along_axis(windows, windows.argmax(-1))``: the first maximum of the
window in row-major order, or the first NaN when the window holds one (numpy's argmax treats NaN as the
maximum); of equal elements (``0.0`` and ``-0.0``) the first wins.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

PARALLEL_WORK = 1 << 18  # window elements below which one thread beats starting the others


@njit(cache=True, inline="always")
def _first_max(best, value):  # pragma: no cover - compiled
    """``value`` if it is larger than ``best`` or the first NaN (nothing replaces a NaN), else ``best``."""
    return value if (value > best) | ((value != value) & (best == best)) else best


@njit(cache=True)
def _pool_planes(x, out, kernel, stride, first, last):  # pragma: no cover - compiled
    """Planes (sample, channel) ``first .. last-1`` in flat order."""
    c = x.shape[1]
    h_out, w_out = out.shape[2], out.shape[3]
    for nc in range(first, last):
        n, ch = nc // c, nc % c  # direct indexing: array views per plane or row would cost more than the work
        if kernel == 2:  # the common case, unrolled
            for oh in range(h_out):
                top = oh * stride
                for ow in range(w_out):
                    left = ow * stride
                    best = _first_max(_first_max(x[n, ch, top, left], x[n, ch, top, left + 1]), x[n, ch, top + 1, left])
                    out[n, ch, oh, ow] = _first_max(best, x[n, ch, top + 1, left + 1])
            continue
        for oh in range(h_out):
            for ow in range(w_out):
                best = x[n, ch, oh * stride, ow * stride]
                for i in range(kernel):
                    for j in range(kernel):
                        best = _first_max(best, x[n, ch, oh * stride + i, ow * stride + j])
                out[n, ch, oh, ow] = best


@njit(cache=True, parallel=True)
def _pool_parallel(x, out, kernel, stride):  # pragma: no cover - compiled
    planes = x.shape[0] * x.shape[1]
    chunks = min(planes, 64)
    for chunk in prange(chunks):
        _pool_planes(x, out, kernel, stride, chunk * planes // chunks, (chunk + 1) * planes // chunks)


def max_pool(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """Max pooling of NCHW ``x`` with a square ``kernel`` and ``stride``, no padding: (N, C, H_out, W_out)."""
    x = np.ascontiguousarray(x)
    h_out = (x.shape[2] - kernel) // stride + 1
    w_out = (x.shape[3] - kernel) // stride + 1
    out = np.empty((x.shape[0], x.shape[1], h_out, w_out), dtype=x.dtype)
    if out.size * kernel * kernel >= PARALLEL_WORK:
        _pool_parallel(x, out, kernel, stride)
    else:
        _pool_planes(x, out, kernel, stride, 0, x.shape[0] * x.shape[1])
    return out
