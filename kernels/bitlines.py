"""Physical bit lines and the groups that combine them into outputs (copies, signs, slices, flips)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels.slicing import array_signs
from kernels.vote import VOTE_FIRST

@dataclass(frozen=True)
class BitlineGroups:
    """Which physical bit lines make up each logical bit line, and where its value goes.

    members  (G, C) int64  bit-line indices of each group's copies, padded with -1
    out      (G,)   int64  output column the group adds into
    coef     (G,)   float64 digital weight: array sign times ``2**(slice * cell_bits)``
    vote     one of ``VOTE_MODES``: first, mean, median, or test-aware (``pick`` chooses the copy)
    pick     (row_tiles, G) int64 index into ``members`` of the copy to read per row tile (test-aware
             vote only; the post-fabrication test found it healthiest)
    flip     (row_tiles, B) bool, the bit lines of each row tile that store complemented levels
             (:mod:`kernels.flip`): each is read as ``L * X_t - step * codes`` before the vote, ``X_t`` the
             tile's input sum; None when nothing is flipped
    """

    members: np.ndarray
    out: np.ndarray
    coef: np.ndarray
    vote: int = VOTE_FIRST
    pick: np.ndarray | None = None
    flip: np.ndarray | None = None

    @property
    def sizes(self) -> np.ndarray:
        return (self.members >= 0).sum(axis=1).astype(np.int64)

    def plain_segments(self, n_out: int) -> int:
        """``A*S`` when these are the plain groups of :func:`plain_bitlines` (group g = bit line g, output
        ``g % n_out``, one coefficient per (array, slice) segment), else 0. The kernel then adds whole
        segments into the outputs with vector instructions instead of one scattered group at a time."""
        n_groups = len(self.out)
        if self.members.shape[1] != 1 or n_out == 0 or n_groups % n_out:
            return 0
        segments = n_groups // n_out
        plain = (np.array_equal(self.members[:, 0], np.arange(n_groups))
                 and np.array_equal(self.out, np.tile(np.arange(n_out), segments))
                 and np.all(self.coef.reshape(segments, n_out) == self.coef[::n_out, None]))
        return segments if plain else 0


def plain_bitlines(levels: np.ndarray, cell_bits: int, mapping: str) -> tuple[np.ndarray, BitlineGroups]:
    """Bit lines of an unprotected layer from logical levels (A, S, in, out).

    Returns the level matrix (in, B) with ``B = A*S*out`` ordered (array, slice, output), and one
    single-member group per bit line.
    """
    n_arr, n_sl, n_in, n_out = levels.shape
    bitline_levels = np.ascontiguousarray(levels.transpose(2, 0, 1, 3).reshape(n_in, n_arr * n_sl * n_out))
    a, s, j = np.meshgrid(np.arange(n_arr), np.arange(n_sl), np.arange(n_out), indexing="ij")
    coef = array_signs(mapping)[a] * np.left_shift(1, s * cell_bits)
    groups = BitlineGroups(
        members=np.arange(n_arr * n_sl * n_out, dtype=np.int64)[:, None],
        out=j.reshape(-1).astype(np.int64),
        coef=coef.reshape(-1).astype(np.float64),
    )
    return bitline_levels, groups


def flip_array(groups: BitlineGroups, tiles: int, n_bitlines: int) -> np.ndarray:
    """``groups.flip`` as the kernels take it: (tiles, B) uint8, or (0, 0) when nothing is flipped."""
    if groups.flip is None:
        return np.zeros((0, 0), dtype=np.uint8)
    flip = np.asarray(groups.flip)
    if flip.shape != (tiles, n_bitlines):
        raise ValueError(f"groups.flip must have shape (row tiles, bit lines) = {(tiles, n_bitlines)}, got {flip.shape}")
    return np.ascontiguousarray(flip, dtype=np.uint8)
