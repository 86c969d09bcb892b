"""Short row tiles through lookup tables instead of popcounts per input (Numba).

A row tile whose inputs only ever drive its first ``r`` rows, with ``dac_bits * r`` small (a 3x3
single-channel convolution drives 9 rows; the second tile of a 144-row layer 16), has at most
``2**(dac_bits * r)`` distinct input patterns per cycle, and a batch usually repeats them: cnn-digits'
conv2 sends 46,080 cycle patterns through its 16-row tile, of which 12,623 differ. Every column sum ``v``
and ADC code of such a tile is a function of the pattern alone, so each distinct pattern's codes are
computed once per call (by the kernel's own popcount pass, ``kernels.crossbar._build_tile_table``) and
every input cycle reads them.

Pattern ``p`` of cycle ``k``: bits ``q*r .. q*r + r - 1`` of ``p`` are word 0 of input plane
``k*dac_bits + q`` (DAC bit ``q`` on rows ``0 .. r-1``); its column sum is
``v = sum_q sum_c 2**(q + c) * popcount(word_q & plane[t, c, 0])``, exactly the popcount kernel's, and its
code is the same ADC transfer function. ``slots[p]`` is the table row of pattern ``p`` (-1: never seen);
row 0 is always the all-zero pattern (nothing driven, codes 0). Two kinds of table:

``codes``   ``(rows, bit lines)``: the code of every bit line, added into the bit line's cycle
            accumulator as the popcount path does; any groups and votes follow unchanged.
``outputs`` ``(rows, n_out)`` int64: for the plain layout (group g = bit line g, one coefficient per
            (array, slice) segment) with a power-of-two step, the shift-and-add over segments is done in
            the table too, ``sum_s coef_s * code[s * n_out + j]``, an exact integer. The kernel then adds
            ``cycle weight * table row`` per cycle and converts once. Used only where every partial sum
            is an integer below ``2**53``, so the float result is bit for bit the popcount path's.

Every table row also counts its saturated conversions, so the saturation statistics are unchanged.
"""
from __future__ import annotations

import numpy as np
from numba import njit

TABLE_NONE, TABLE_CODES, TABLE_OUTPUTS = 0, 1, 2
MAX_PATTERN_BITS = 16        # a direct slot map of at most 65,536 patterns per tile
MAX_CODE_ENTRIES = 1 << 21   # a code table of at most 2M entries (16 MiB)
MAX_OUTPUT_ENTRIES = 1 << 22  # an outputs table of at most 4M entries (32 MiB)
DENSE_PATTERNS = 1 << 10      # up to here a table has a row for every pattern (no scan of the batch)


@njit(cache=True)
def driven_rows(xp):  # pragma: no cover - compiled
    """Per row tile: 1 + the highest row any input drives in any cycle (0 if none), and whether every
    driven row lies in word 0 of the tile."""
    batch, tiles, n_bits, words = xp.shape
    flat = xp.reshape(batch, tiles * n_bits * words)
    seen_all = np.zeros(flat.shape[1], dtype=np.uint64)
    for n in range(batch):
        row = flat[n]
        for i in range(row.shape[0]):  # vectorised
            seen_all[i] |= row[i]
    seen = np.zeros((tiles, words), dtype=np.uint64)
    for t in range(tiles):
        for b in range(n_bits):
            for w in range(words):
                seen[t, w] |= seen_all[(t * n_bits + b) * words + w]
    reach = np.zeros(tiles, dtype=np.int64)
    first_word_only = np.ones(tiles, dtype=np.bool_)
    for t in range(tiles):
        for w in range(1, words):
            if seen[t, w] != 0:
                first_word_only[t] = False
        word = seen[t, 0]
        r = 0
        while word != 0:
            word >>= np.uint64(1)
            r += 1
        reach[t] = r
    return reach, first_word_only


@njit(cache=True, inline="always")
def cycle_pattern(xp, n, t, k, dac_bits, r):  # pragma: no cover - compiled
    """Input ``n``'s pattern in cycle ``k`` on row tile ``t``: word 0 of each of the cycle's DAC bit planes."""
    if dac_bits == 1:
        return np.int64(xp[n, t, k, 0])
    pattern = np.int64(0)
    for q in range(dac_bits):
        pattern |= np.int64(xp[n, t, k * dac_bits + q, 0]) << (q * r)
    return pattern


@njit(cache=True)
def pattern_slots(xp, t, r, dac_bits, n_cycles):  # pragma: no cover - compiled
    """The distinct cycle patterns of row tile ``t`` over the batch: ``(slots, patterns)``, ``slots[p]``
    the table row of pattern ``p`` (-1 if it never occurs), ``patterns`` the pattern of each row (row 0:
    the zero pattern), in order of first occurrence."""
    slots = np.full(1 << (dac_bits * r), -1, dtype=np.int32)
    patterns = np.empty(min(xp.shape[0] * n_cycles + 1, slots.shape[0]), dtype=np.int64)
    slots[0] = 0
    patterns[0] = 0
    count = 1
    for n in range(xp.shape[0]):
        for k in range(n_cycles):
            pattern = cycle_pattern(xp, n, t, k, dac_bits, r)
            if slots[pattern] < 0:
                slots[pattern] = count
                patterns[count] = pattern
                count += 1
    return slots, patterns[:count]


def plan_tables(xp: np.ndarray, n_bl: int, n_out: int, dac_bits: int, n_cycles: int,
                exact_outputs: bool) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """Per row tile, ``(kind, rows, slots, patterns)``: which table (or none), how many rows its patterns
    span, and its slot map and distinct patterns (:func:`pattern_slots`).

    A tile may take a table when its inputs drive only rows ``0 .. r-1`` of word 0 with ``dac_bits * r <=``
    :data:`MAX_PATTERN_BITS`. It takes one when that is cheaper: building costs a popcount pass over the
    bit lines per distinct pattern, and each input cycle then adds one table row (``n_out`` entries for
    the ``outputs`` kind, which needs ``exact_outputs``: plain layout, power-of-two step, exact sums;
    ``B`` for ``codes``, counted as half a popcount pass) instead of a popcount pass."""
    tiles = xp.shape[1]
    none = (TABLE_NONE, 0, np.zeros(1, dtype=np.int32), np.zeros(1, dtype=np.int64))
    plan = [none] * tiles
    if xp.shape[0] == 0:
        return plan
    reach, first_word_only = driven_rows(xp)
    uses = xp.shape[0] * n_cycles
    for t in range(tiles):
        r = int(reach[t])
        if r == 0 or not first_word_only[t] or dac_bits * r > MAX_PATTERN_BITS or (1 << (dac_bits * r)) > 4 * uses:
            continue
        if (1 << (dac_bits * r)) <= DENSE_PATTERNS:  # every pattern, no scan: row p is pattern p
            patterns = np.arange(1 << (dac_bits * r), dtype=np.int64)
            slots = patterns.astype(np.int32)
        else:
            slots, patterns = pattern_slots(xp, t, r, dac_bits, n_cycles)
        distinct = len(patterns)
        popcount_cost = uses * n_bl
        if exact_outputs and distinct * n_out <= MAX_OUTPUT_ENTRIES \
                and distinct * n_bl + uses * n_out / 4 < 0.7 * popcount_cost:
            plan[t] = (TABLE_OUTPUTS, r, slots, patterns)
        elif distinct * n_bl <= MAX_CODE_ENTRIES and distinct * n_bl + uses * n_bl / 2 < 0.7 * popcount_cost:
            plan[t] = (TABLE_CODES, r, slots, patterns)
    return plan
