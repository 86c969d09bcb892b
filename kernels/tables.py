"""Short row tiles through lookup tables instead of popcounts (Numba).

A row tile whose inputs only ever drive its first ``r`` rows, with ``r`` small (a 3x3 single-channel
convolution drives 9), has only ``2**(dac_bits * r)`` distinct input patterns per cycle. Every column sum
``v`` and ADC code of that tile is then a function of the pattern alone, so they are computed once per
call for every pattern (a Gray-code walk: one row added or removed per pattern) instead of once per
input and cycle; a 64-bit popcount word that carries 9 rows would otherwise be 86 % empty.

Pattern ``p`` of cycle ``k``: bits ``q*r .. q*r + r - 1`` of ``p`` are DAC bit ``q`` of the chunk on rows
``0 .. r-1``, i.e. word 0 of input plane ``k*dac_bits + q``; its column sum is
``v = sum_q 2**q * sum_{rows i in plane q} level[i]``, exactly the popcount kernel's sum, and its code is
the same ADC transfer function. Two kinds of table:

``codes``   ``(patterns, bit lines)``: the code of every bit line, added into the bit line's cycle
            accumulator as the popcount path does; any groups and votes follow unchanged.
``outputs`` ``(patterns, n_out)`` int64: for the plain layout (group g = bit line g, one coefficient per
            (array, slice) segment) with a power-of-two step, the shift-and-add over segments is done in
            the table too, ``sum_s coef_s * code[s * n_out + j]``, an exact integer. The kernel then adds
            ``cycle weight * table row`` per cycle and converts once. Used only where every partial sum
            is an integer below ``2**53``, so the float result is bit for bit the popcount path's.

Every pattern row also counts its saturated conversions, so the saturation statistics are unchanged.
"""
from __future__ import annotations

import numpy as np
from numba import njit

WORD = 64
TABLE_NONE, TABLE_CODES, TABLE_OUTPUTS = 0, 1, 2
MAX_PATTERN_BITS = 12     # at most 4096 patterns per tile
MAX_CODE_ENTRIES = 1 << 21  # a code table of at most 2M entries (16 MiB)
USES_PER_PATTERN = 4      # a table pays when each pattern is looked up this often on average


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


@njit(cache=True)
def _tile_levels(wp, t, r, cell_bits):  # pragma: no cover - compiled
    """Levels (r, B) of rows 0 .. r-1 of row tile ``t`` from the packed planes."""
    n_bl = wp.shape[3]
    levels = np.zeros((r, n_bl), dtype=np.int64)
    for i in range(r):
        for c in range(cell_bits):
            plane = wp[t, c, 0]
            for b in range(n_bl):
                levels[i, b] += np.int64((plane[b] >> np.uint64(i)) & np.uint64(1)) << c
    return levels


@njit(cache=True)
def build_tile_table(wp, t, r, dac_bits, cell_bits, adc_shift, step, max_code, kind, coef, segments, n_out,
                     codes, outputs, saturated):  # pragma: no cover - compiled
    """Fill row tile ``t``'s table (``codes`` (patterns, B) or ``outputs`` (patterns, n_out), by ``kind``)
    and ``saturated`` (patterns,), for inputs driving rows ``0 .. r-1``: every pattern in Gray-code order,
    each one row of one DAC bit away from the previous, so its column sums are one vector add away."""
    n_bl = wp.shape[3]
    levels = _tile_levels(wp, t, r, cell_bits)
    n_pat = 1 << (dac_bits * r)
    v = np.zeros(n_bl, dtype=np.int64)
    code = np.empty(n_bl, dtype=np.int64)
    umax = np.int64(max_code)
    fmax = np.float64(max_code)
    half = (np.int64(1) << adc_shift) >> 1 if adc_shift >= 0 else np.int64(0)
    gray = 0
    for i in range(n_pat):
        if i > 0:
            bit = 0  # the bit that flips from Gray code i-1 to i: the lowest set bit of i
            while not (i >> bit) & 1:
                bit += 1
            q, row = bit // r, bit % r
            gray ^= 1 << bit
            lv = levels[row]
            if (gray >> bit) & 1:
                for b in range(n_bl):
                    v[b] += lv[b] << q
            else:
                for b in range(n_bl):
                    v[b] -= lv[b] << q
        sat = 0
        if adc_shift >= 0:  # the popcount kernel's exact integer rounding
            for b in range(n_bl):
                raw = (v[b] + half) >> adc_shift
                sat += raw > umax
                code[b] = min(raw, umax)
        else:
            for b in range(n_bl):
                raw = np.floor(np.float64(v[b]) / step + 0.5)
                sat += raw > fmax
                code[b] = np.int64(min(raw, fmax))
        saturated[gray] = sat
        if kind == TABLE_CODES:
            codes[gray, :] = code
        else:
            out = outputs[gray]
            out[:] = 0
            for s in range(segments):
                c = np.int64(coef[s * n_out])
                seg = code[s * n_out:(s + 1) * n_out]
                for j in range(n_out):
                    out[j] += c * seg[j]


def plan_tables(xp: np.ndarray, n_bl: int, dac_bits: int, n_cycles: int, exact_outputs: bool) -> np.ndarray:
    """Per row tile, ``(kind, rows)``: which table (or none) and how many rows its patterns span.

    A tile gets a table when its inputs drive only rows ``0 .. r-1`` of word 0 with ``dac_bits * r <=``
    :data:`MAX_PATTERN_BITS` and the batch looks each pattern up :data:`USES_PER_PATTERN` times on average;
    the ``outputs`` kind when ``exact_outputs`` (plain layout, power-of-two step, exact sums)."""
    tiles = xp.shape[1]
    plan = np.zeros((tiles, 2), dtype=np.int64)
    if xp.shape[0] == 0:
        return plan
    reach, first_word_only = driven_rows(xp)
    uses = xp.shape[0] * n_cycles
    for t in range(tiles):
        r = int(reach[t])
        bits = dac_bits * r
        if r == 0 or not first_word_only[t] or bits > MAX_PATTERN_BITS or (1 << bits) * USES_PER_PATTERN > uses:
            continue
        if exact_outputs:
            plan[t] = TABLE_OUTPUTS, r
        elif (1 << bits) * n_bl <= MAX_CODE_ENTRIES:
            plan[t] = TABLE_CODES, r
    return plan
