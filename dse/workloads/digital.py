"""The transformer's digital operations (they run in float64 beside the crossbars): GELU, LayerNorm
(with its backward pass for fine-tuning) and softmax, as BERT defines them."""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from scipy.special import erf


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, ``x * Phi(x)`` with the erf form (BERT's ``hidden_act = "gelu"``).

    Blocks of rows on as many threads as Numba has (scipy's erf and numpy's arithmetic release the GIL):
    the same values, elementwise, with both cores of a chip's run instead of one (a sixth of a MiniLM
    chip on the exact path was this erf)."""
    threads = numba.get_num_threads()
    if threads == 1 or x.ndim == 0 or x.shape[0] < 2 * GELU_BLOCK_ROWS:
        return _gelu(x)
    out = np.empty_like(x, dtype=np.result_type(x, np.float64))
    bounds = np.linspace(0, x.shape[0], threads + 1).astype(np.int64)
    list(_gelu_pool(threads).map(lambda ab: _gelu(x[ab[0]:ab[1]], out[ab[0]:ab[1]]), zip(bounds[:-1], bounds[1:])))
    return out


GELU_BLOCK_ROWS = 64  # fewer rows per thread are not worth a thread's hand-off
_gelu_threads: ThreadPoolExecutor | None = None


def _gelu_pool(threads: int) -> ThreadPoolExecutor:
    global _gelu_threads
    if _gelu_threads is None or _gelu_threads._max_workers < threads:
        _gelu_threads = ThreadPoolExecutor(threads, thread_name_prefix="gelu")
    return _gelu_threads


def _gelu(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    y = erf(x / math.sqrt(2.0))
    y += 1.0
    np.multiply(0.5 * x, y, out=y)  # the order of 0.5 * x * (1 + erf): the same floats
    if out is None:
        return y
    out[...] = y
    return out


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(var + eps) * gamma + beta


def gelu_derivative(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + erf(x / math.sqrt(2.0))) + x * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _layer_norm_parts(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float):
    """(LayerNorm(x), the normalised x, the standard deviation) — the last two for the backward pass."""
    centred = x - x.mean(axis=-1, keepdims=True)
    sigma = np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + eps)
    normalised = centred / sigma
    return normalised * gamma + beta, normalised, sigma


def _layer_norm_backward(grad: np.ndarray, normalised: np.ndarray, sigma: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    g = grad * gamma
    return (g - g.mean(axis=-1, keepdims=True) - normalised * (g * normalised).mean(axis=-1, keepdims=True)) / sigma


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)
