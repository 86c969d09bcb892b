"""Weight mapping and bit slicing: signed integer weights to cell levels.

``differential``: two arrays (A = 2). The positive array holds ``max(w, 0)``, the negative array
``max(-w, 0)``; magnitudes have ``weight_bits - 1`` bits, in ``S = ceil((weight_bits - 1) / cell_bits)``
slices. ``offset``: one array (A = 1) holding ``w + 2**(weight_bits - 1)`` in ``S = ceil(weight_bits /
cell_bits)`` slices; the periphery subtracts the offset digitally. Slice ``s`` (0 = least significant)
holds bits ``[s*cell_bits, (s+1)*cell_bits)`` of the stored magnitude.
"""
from __future__ import annotations

import numpy as np

from kernels.names import MAPPINGS  # noqa: F401 (re-exported: the names this module implements)


def n_arrays(mapping: str) -> int:
    return 2 if mapping == "differential" else 1


def n_slices(weight_bits: int, cell_bits: int, mapping: str) -> int:
    magnitude_bits = weight_bits - 1 if mapping == "differential" else weight_bits
    return -(-magnitude_bits // cell_bits)


def array_signs(mapping: str) -> np.ndarray:
    """Digital sign of each array's contribution: +1 positive (or only) array, -1 negative array."""
    return np.array([1, -1] if mapping == "differential" else [1], dtype=np.int64)


def stored_magnitudes(w_int: np.ndarray, weight_bits: int, mapping: str) -> np.ndarray:
    """Unsigned values each array stores, shape (A, in, out), int64."""
    w = np.asarray(w_int, dtype=np.int64)
    if mapping == "differential":
        return np.stack([np.maximum(w, 0), np.maximum(-w, 0)])
    return (w + (1 << (weight_bits - 1)))[None]


def slice_levels(w_int: np.ndarray, cell_bits: int, weight_bits: int, mapping: str) -> np.ndarray:
    """Cell levels of every logical cell, shape (A, S, in, out), uint8 in ``[0, 2**cell_bits - 1]``."""
    mags = stored_magnitudes(w_int, weight_bits, mapping)
    shifts = cell_bits * np.arange(n_slices(weight_bits, cell_bits, mapping), dtype=np.int64)
    levels = (mags[:, None] >> shifts[None, :, None, None]) & ((1 << cell_bits) - 1)
    return levels.astype(np.uint8)
