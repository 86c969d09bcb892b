"""MSB embedding: a duplicate of the most significant slice(s) stored in the least significant cells.

Encoding (``m = msb_embed`` slices, ``cb = cell_bits``, ``S`` slices per stored value, ``q = 2**(m*cb)``)
--------------------------------------------------------------------------------------------------
1. Quantise each weight column to a multiple of ``q``: ``w_int = q * round(w / (q * scale))`` with the
   per-column ``scale = max|w| / w_max`` and ``w_max = q * floor((2**(weight_bits-1) - 1) / q)``
   (e.g. 8-bit weights on 2-bit cells, m = 1: ``q = 4``, ``|w_int| <= 124``, 31 magnitude steps).
   The stored values (``max(+-w, 0)`` per array for differential, ``w + 2**(weight_bits-1)`` for offset,
   a multiple of ``q`` too) then have zeros in slices ``0 .. m-1``: those cells are free.
2. Host slice ``k < m`` stores a copy of slice ``S-1-k``: ``level[a, k, i, j] = level[a, S-1-k, i, j]``
   (slice 0 holds the MSB, slice 1 the next one, ...), in both arrays of the differential pair.

Decoding (digital periphery, after the ADC)
-------------------------------------------
The host bit line ``(a, k, j)`` is read and converted as before, but it no longer adds ``2**(k*cb) * v``
to output ``j``: it is a second *copy* of ``(a, S-1-k, j)``. The two partial sums (one per copy, after
the ADC and the shift-and-add over input cycles) are combined by the vote (mean of 2, or the copy the
post-fabrication test found healthy; with duplication in freed columns, median of 3), and the voted value
is shifted by ``2**((S-1-k)*cb)``. Fault-free, every copy reads the same, so the output is exactly
``x_int @ w_int``: nothing is lost but the ``m*cb`` low bits of weight precision, and no cell, bit line,
ADC conversion or crossbar is added.

Requires ``m <= S // 2`` (hosts and copied slices must not overlap) and ``m * cb < weight_bits - 1``
(some weight magnitude must survive).
"""
from __future__ import annotations

import numpy as np

from dse.config import HardwareConfig


def check_embed(hw: HardwareConfig, m: int) -> None:
    """ValueError unless ``m`` slices can be embedded on ``hw``."""
    if m == 0:
        return
    if m > hw.slices // 2:
        raise ValueError(
            f"msb_embed = {m} needs at least {2 * m} slices per weight; {hw.weight_bits}-bit weights on "
            f"{hw.cell_bits}-bit cells ({hw.mapping}) have {hw.slices}: use msb_embed <= {hw.slices // 2}"
        )
    if m * hw.cell_bits >= hw.weight_bits - 1:
        raise ValueError(f"msb_embed = {m} would quantise every {hw.weight_bits}-bit weight to zero")


def embed_step(hw: HardwareConfig, m: int) -> int:
    """``q = 2**(m * cell_bits)``: embedded weights are multiples of it."""
    return 1 << (m * hw.cell_bits)


def quantize_embedded(w: np.ndarray, hw: HardwareConfig, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``(w_int, scale)``: (in, out) int64 multiples of ``q``, per-column float64 scale (out,); ``w ~= w_int * scale``."""
    check_embed(hw, m)
    q = embed_step(hw, m)
    w_max = q * (((1 << (hw.weight_bits - 1)) - 1) // q)
    w = np.asarray(w, dtype=np.float64)
    peak = np.abs(w).max(axis=0)
    scale = np.where(peak > 0, peak / w_max, 1.0)
    w_int = q * np.rint(w / (q * scale)).astype(np.int64)
    return np.clip(w_int, -w_max, w_max), scale


def host_pairs(slices: int, m: int) -> list[tuple[int, int]]:
    """``(host slice, copied slice)`` pairs: slice ``k`` hosts slice ``S-1-k`` for ``k < m``."""
    return [(k, slices - 1 - k) for k in range(m)]


def embed_levels(levels: np.ndarray, m: int) -> np.ndarray:
    """Levels (A, S, in, out) with host slices ``k < m`` overwritten by copies of slice ``S-1-k``.

    ValueError if a host slice is not empty (the weights were not quantised with :func:`quantize_embedded`).
    """
    out = levels.copy()
    for host, source in host_pairs(levels.shape[1], m):
        if out[:, host].any():
            raise ValueError(f"slice {host} is not free: quantise with quantize_embedded first")
        out[:, host] = levels[:, source]
    return out
