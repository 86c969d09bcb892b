"""Stuck-at fault maps and their effect on cell levels.

A fault map has the shape of the cells it covers, usually ``(A, S, in, out)`` (logical cells) or
``(in, bitlines)`` (physical bit lines), with the row (word line) axis second to last. Values:
``0`` healthy, ``1`` SA0 = stuck at high resistance, OFF, lowest conductance (level forced to 0),
``2`` SA1 = stuck at low resistance, ON, highest conductance (level forced to ``2**cell_bits - 1``).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels.names import FAULT_MODELS  # noqa: F401 (re-exported: the names this module implements)

HEALTHY, SA0, SA1 = 0, 1, 2


def _check_rates(sa0_rate: float, sa1_rate: float) -> None:
    for name, rate in (("sa0_rate", sa0_rate), ("sa1_rate", sa1_rate)):
        if not (0.0 <= rate <= 1.0):
            raise ValueError(f"{name} must be in [0, 1], got {rate}")
    if sa0_rate + sa1_rate > 1.0:
        raise ValueError(f"sa0_rate + sa1_rate must be <= 1, got {sa0_rate + sa1_rate}")


def sample_iid(shape, sa0_rate: float, sa1_rate: float, rng: np.random.Generator) -> np.ndarray:
    """Every cell independently SA0 with ``sa0_rate``, SA1 with ``sa1_rate``; uint8 map of ``shape``.

    The map is a function of ``rng.random(shape, dtype=np.float32)``: cell ``i`` is SA0 when draw ``u_i <
    float32(sa0_rate)``, else SA1 when ``u_i < float32(sa0_rate + sa1_rate)`` (float32 draws: 2**-24
    resolution is far below any rate of interest). With numpy's default bit generator (PCG64) the draws
    are taken as raw 64-bit words and compared as integers in a compiled loop (:func:`_iid_map`): the
    same map, and the generator left in the same state, as the float32 draws, at a fraction of the cost.
    """
    _check_rates(sa0_rate, sa1_rate)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    n = math.prod(shape)
    t_sa0 = np.float32(sa0_rate)
    t_any = np.float32(sa0_rate + sa1_rate)
    words = _float32_words(rng, n)
    if words is None:  # another bit generator: its float32 draws as numpy makes them
        u = rng.random(shape, dtype=np.float32)
        faults = (u < t_any).astype(np.uint8) * np.uint8(SA1)
        faults[u < t_sa0] = SA0
        return faults
    raw, first = words
    return _iid_map(raw, first, n, _draw_threshold(t_sa0), _draw_threshold(t_any)).reshape(shape)


def _draw_threshold(rate: np.float32) -> int:
    """The integer ``K`` with ``k * 2**-24 < rate`` exactly when ``k < K``, for every 24-bit ``k``."""
    return math.ceil(float(rate) * (1 << 24))  # exact: a float32 times a power of two


def _float32_words(rng: np.random.Generator, n: int):
    """The 32-bit words behind ``rng.random(n, dtype=np.float32)``, or None for a generator other than PCG64.

    numpy makes each float32 draw from one 32-bit word ``w`` as ``(w >> 8) * 2**-24``, taking the words from
    64-bit outputs low half first and buffering the high half in the generator state (``has_uint32``,
    ``uinteger``). Returns ``(raw, first)``: the 64-bit outputs drawn here and the buffered word used first
    (-1 when none); the generator state afterwards is exactly what the float32 draws leave.
    """
    bit_generator = rng.bit_generator
    if type(bit_generator) is not np.random.PCG64:
        return None
    state = bit_generator.state
    buffered = bool(state["has_uint32"]) and n > 0
    first = int(state["uinteger"]) if buffered else -1
    fresh = n - 1 if buffered else n  # words still to draw
    raw = bit_generator.random_raw((fresh + 1) // 2)
    if buffered or len(raw):
        state = bit_generator.state
        if len(raw):
            state["uinteger"] = int(raw[-1] >> np.uint64(32))  # numpy keeps the last high half here
        state["has_uint32"] = int(fresh % 2 == 1)  # an odd count leaves the last high half buffered
        bit_generator.state = state
    return raw, first


@njit(cache=True, inline="always")
def _fault_code(word, k_sa0, k_any):  # pragma: no cover - compiled
    k = np.int64(word >> np.uint64(8))  # the float32 draw is k * 2**-24
    return np.uint8(SA0) if k < k_sa0 else (np.uint8(SA1) if k < k_any else np.uint8(HEALTHY))


@njit(cache=True)
def _iid_map(raw, first, n, k_sa0, k_any):  # pragma: no cover - compiled
    """Fault codes of ``n`` cells from the 32-bit words of ``raw`` (low half, then high half of each),
    after the buffered word ``first`` when it is >= 0."""
    out = np.empty(n, dtype=np.uint8)
    start = 0
    if first >= 0 and n > 0:
        out[0] = _fault_code(np.uint64(first), k_sa0, k_any)
        start = 1
    low = np.uint64(0xFFFFFFFF)
    pairs = (n - start) // 2
    body = out[start:start + 2 * pairs]
    for j in range(pairs):  # vectorised
        word = raw[j]
        body[2 * j] = _fault_code(word & low, k_sa0, k_any)
        body[2 * j + 1] = _fault_code(word >> np.uint64(32), k_sa0, k_any)
    if start + 2 * pairs < n:
        out[n - 1] = _fault_code(raw[pairs] & low, k_sa0, k_any)
    return out


def sample_column_clustered(
    shape,
    sa0_rate: float,
    sa1_rate: float,
    rng: np.random.Generator,
    rows: int,
    cluster_fraction: float = 0.25,
) -> np.ndarray:
    """Faults concentrated along bit lines, at the same expected rates as :func:`sample_iid`.

    Each physical bit-line segment (one bit line within one ``rows``-tall crossbar) is faulty with
    probability ``cluster_fraction``; cells on faulty segments fail at ``rate / cluster_fraction``
    (capped at 1, which then lowers the overall rate), cells elsewhere are healthy. This mimics the
    bit-line shorts that cluster stuck cells in measured HfO2 arrays (Chen et al., IEEE Trans.
    Computers 2015) and keeps the SA0 : SA1 ratio.
    """
    _check_rates(sa0_rate, sa1_rate)
    if not (0.0 < cluster_fraction <= 1.0):
        raise ValueError(f"cluster_fraction must be in (0, 1], got {cluster_fraction}")
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError("a clustered fault map needs a row axis and a bit-line axis (ndim >= 2)")
    n_rows = shape[-2]
    tiles = -(-n_rows // rows)
    seg_shape = shape[:-2] + (tiles, shape[-1])
    bad_segment = rng.random(seg_shape) < cluster_fraction
    bad_cell = np.repeat(bad_segment, rows, axis=-2)[..., :n_rows, :]
    total = sa0_rate + sa1_rate
    dense_total = min(1.0, total / cluster_fraction)
    scale = dense_total / total if total > 0 else 0.0
    dense_sa0 = min(1.0, sa0_rate * scale)
    faults = sample_iid(shape, dense_sa0, min(1.0 - dense_sa0, sa1_rate * scale), rng)
    faults[~bad_cell] = HEALTHY
    return faults


def sample_faults(
    shape,
    sa0_rate: float,
    sa1_rate: float,
    rng: np.random.Generator,
    model: str = "iid",
    rows: int = 128,
    cluster_fraction: float = 0.25,
) -> np.ndarray:
    """One chip's fault map under ``model`` (``iid`` or ``column``); see the two samplers."""
    if model == "iid":
        return sample_iid(shape, sa0_rate, sa1_rate, rng)
    if model == "column":
        return sample_column_clustered(shape, sa0_rate, sa1_rate, rng, rows, cluster_fraction)
    raise ValueError(f"fault model must be one of {', '.join(FAULT_MODELS)}; got {model!r}")


def apply_faults(levels: np.ndarray, faults: np.ndarray | None, cell_bits: int) -> np.ndarray:
    """Levels the cells actually hold: SA0 cells read 0, SA1 cells read ``2**cell_bits - 1``."""
    if faults is None:
        return levels
    levels = np.asarray(levels)
    faults = np.asarray(faults)
    if (levels.shape == faults.shape and levels.dtype == np.uint8 and faults.dtype == np.uint8
            and levels.flags.c_contiguous and faults.flags.c_contiguous):
        return _apply_faults_flat(levels.reshape(-1), faults.reshape(-1), (1 << cell_bits) - 1).reshape(levels.shape)
    out = levels.copy()
    out[faults == SA0] = 0
    out[faults == SA1] = (1 << cell_bits) - 1
    return out


@njit(cache=True)
def _apply_faults_flat(levels, faults, top):  # pragma: no cover - compiled
    out = np.empty_like(levels)
    for i in range(levels.shape[0]):  # vectorised
        out[i] = stuck_level(levels[i], faults[i], top)
    return out


@njit(cache=True, inline="always")
def stuck_level(level, fault, top):  # pragma: no cover - compiled
    """The level a cell holds: 0 if SA0, ``top`` if SA1, else ``level``."""
    return 0 if fault == SA0 else (top if fault == SA1 else level)
