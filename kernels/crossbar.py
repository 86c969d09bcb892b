# Longer than 600 lines because the popcount kernel's three paths (plain loops, the fused one-pass cycle,
# short-tile tables) share one packed layout and its compiled helpers; apart, that contract would be in three files.
"""The fast crossbar matrix-vector product: bit-packed planes and hardware popcount (Numba).

Layout. Inputs are packed per row tile into planes of their unsigned bit pattern: ``xp[n, t, bit, word]``
holds bit ``bit`` of the inputs on rows ``t*rows + 64*word ...`` (bit ``bit`` of the word = one row).
Cells are laid out as physical *bit lines*: a level matrix ``(in, B)`` whose column ``b`` is one bit line,
packed per cell-level bit: ``wp[t, c, word, b]`` holds bit ``c`` of the levels on those rows. A column
sum for DAC cycle ``k`` is then

    v = sum_{p < dac_bits} sum_{c < cell_bits} 2**(p + c) * popcount(xp[n, t, k*dac_bits + p] & wp[t, c])

summed over the tile's words: exact integers, no floating point, vectorised over bit lines (AVX-512
VPOPCNTDQ does eight words per instruction).

The inputs' planes are :func:`kernels.dac.pack_inputs`; the ADC's step and its two roundings are
:mod:`kernels.adc` (inlined in the loops below); flipped bit lines are read back with :mod:`kernels.flip`.
After the ADC, each bit line's codes are accumulated over cycles with the cycle weights. Bit lines are
then combined by *groups*: a group is one logical (array, slice, output) bit line and its copies (for
duplication and voting); the group's voted value is shifted and added into its output column. Without
protection every group has one member and the result is exactly ``docs/crossbar.md``.

Speed. With a power-of-two ADC step and at most four popcount terms per cycle, a cycle's sums, conversion
and weighted accumulation are one pass over a block of bit lines (:func:`_fused_cycle`). Row tiles that a
batch drives on only a few rows (at most 16 pattern bits) read each distinct input pattern's codes from a
table built once per call (:mod:`kernels.tables`). Both give the same integers as the plain loops.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from numba import njit, prange

from kernels.adc import adc_step_for, code_by_division, code_by_shift, step_shift
from kernels.bitlines import BitlineGroups, flip_array, plain_bitlines
from kernels.cuda import check_backend, require_cuda
from kernels.dac import WORD, cycle_weights, n_cycles, pack_inputs
from kernels.faults import apply_faults, stuck_level
from kernels.flip import flip_mask, flip_values, flipped_levels, tile_input_sum
from kernels.popcount import popcount64
from kernels.slicing import slice_levels
from kernels.tables import (
    TABLE_CODES,
    TABLE_NONE,
    TABLE_OUTPUTS,
    cycle_pattern,
    plan_tables,
)
from kernels.validate import check_mvm_args
from kernels.vote import vote_group

BLOCK = 256  # bit lines per cache block: partial sums and planes of a block fit in L1
TABLE_BLOCK = 1024  # table rows built together: their words, sums and counts stay in L1


@njit(cache=True)
def _pack_rows(values, rows, n_bits):  # pragma: no cover - compiled
    """Bit planes of ``values`` (R, M) packed along R per tile: (tiles, n_bits, words, M) uint64.

    Serial on purpose: once per chip and layer, small next to the MVMs, and a parallel region's start-up
    would cost more than the work."""
    return _pack_faulty_rows(values, np.zeros((0, 0), dtype=np.uint8), 0, rows, n_bits)


@njit(cache=True)
def _pack_faulty_rows(values, faults, top, rows, n_bits):  # pragma: no cover - compiled
    """:func:`_pack_rows` of the levels the cells hold under ``faults`` (R, M) (none when ``faults`` is
    empty): SA0 cells read 0 and SA1 cells ``top``, applied on the fly (one pass, no faulty copy)."""
    n_rows, m = values.shape
    faulty = faults.shape[0] > 0
    tiles = (n_rows + rows - 1) // rows
    words = (rows + WORD - 1) // WORD
    packed = np.zeros((tiles, n_bits, words, m), dtype=np.uint64)
    for tw in range(tiles * words):
        t, w = tw // words, tw % words
        first = t * rows + w * WORD
        last = min(n_rows, t * rows + min(rows, (w + 1) * WORD))
        for b in range(n_bits):
            out = packed[t, b, w]
            for r in range(first, last):
                shift = np.uint64(r - first)
                row = values[r]
                if faulty:
                    f_row = faults[r]
                    for col in range(m):  # contiguous: vectorised
                        level = stuck_level(np.int64(row[col]), f_row[col], top)
                        out[col] |= np.uint64((level >> b) & 1) << shift
                else:
                    for col in range(m):  # contiguous: vectorised
                        out[col] |= np.uint64((row[col] >> b) & 1) << shift
    return packed


def pack_levels(bitline_levels: np.ndarray, rows: int, cell_bits: int, faults: np.ndarray | None = None) -> np.ndarray:
    """Cell-level bit planes of bit lines (in, B): ``wp[t, c, word, b]``, uint64.

    With ``faults`` (a map of the same shape), the planes hold the faulty levels
    (``apply_faults(bitline_levels, faults, cell_bits)``), without making that copy."""
    levels = np.asarray(bitline_levels)
    if levels.dtype != np.uint8:
        levels = levels.astype(np.int64)
    levels = np.ascontiguousarray(levels)
    if faults is None:
        return _pack_rows(levels, rows, cell_bits)
    faults = np.ascontiguousarray(faults, dtype=np.uint8)
    if faults.shape != levels.shape:
        raise ValueError(f"fault map {faults.shape} does not cover the bit lines {levels.shape}")
    return _pack_faulty_rows(levels, faults, (1 << cell_bits) - 1, rows, cell_bits)


@njit(cache=True)
def _tile_sums(xp, n, t, cycle_w, dac_bits, wp, cell_bits, adc_shift, step, max_code, v, acc, term_x, term_i,
               plan, slot, table_id, slot_maps, codes, table_sat):  # pragma: no cover - compiled
    """Row tile ``t`` of input ``n``: every bit line's codes, weighted by cycle, into ``acc`` (from the
    tile's code table when it has one, else by popcounts); returns the saturated conversions."""
    if plan[t, 0] != TABLE_CODES:
        return _tile_popcounts(xp[n], t, cycle_w, dac_bits, wp, cell_bits, adc_shift, step, max_code,
                               np.uint64(max_code), v, acc, term_x, term_i)
    n_bl = wp.shape[3]
    r = plan[t, 1]
    table = codes[slot[t]]
    slots = slot_maps[table_id[t]]
    sats = table_sat[table_id[t]]
    sat = 0
    acc[:n_bl] = 0
    for k in range(cycle_w.shape[0]):
        row = slots[cycle_pattern(xp, n, t, k, dac_bits, r)]
        if row == 0:
            continue  # nothing driven: codes 0
        sat += sats[row]
        wk = cycle_w[k]
        codes_k = table[row]
        for b in range(n_bl):
            acc[b] += wk * codes_k[b]
    return sat


@njit(cache=True)
def _combine(acc, t, members, sizes, out, coef, vote, pick, segments, step, y_row):  # pragma: no cover
    """Row tile ``t``'s cycle-weighted codes ``acc`` (B,) through the groups' votes, shifted and added
    into ``y_row`` (n_out,)."""
    if segments > 0:
        # Plain layout: group g is bit line g, feeding output g % n_out. Contiguous: vectorised.
        n_out = y_row.shape[0]
        for s in range(segments):
            c = coef[s * n_out]
            seg = acc[s * n_out:(s + 1) * n_out]
            for j in range(n_out):
                y_row[j] += c * (step * np.float64(seg[j]))
        return
    for g in range(members.shape[0]):
        y_row[out[g]] += coef[g] * (step * vote_group(acc, members, sizes, vote, pick, t, g))


@njit(cache=True, inline="always")
def _fused_cycle(ab, wp, t, start, width, n_terms, term_x, term_i, wk, half, sh, umax,
                 clip):  # pragma: no cover - compiled
    """One cycle of one block of bit lines with at most four popcount terms and a power-of-two step: sums,
    conversion and weighted accumulation in one pass. ``clip`` False: no sum can reach the top code (the
    clamp and the saturation count are left out). Returns the saturated conversions."""
    sat = 0
    term_c, term_w, term_s = term_i[0], term_i[1], term_i[2]
    p0 = wp[t, term_c[0], term_w[0], start:start + width]
    x0, s0 = term_x[0], np.uint64(term_s[0])
    if n_terms == 1:
        for b in range(width):
            raw = code_by_shift(popcount64(x0 & p0[b]) << s0, half, sh)
            if clip:
                sat += raw > umax
                raw = min(raw, umax)
            ab[b] += wk * np.int64(raw)
        return sat
    p1 = wp[t, term_c[1], term_w[1], start:start + width]
    x1, s1 = term_x[1], np.uint64(term_s[1])
    if n_terms == 2:
        for b in range(width):
            raw = code_by_shift((popcount64(x0 & p0[b]) << s0) + (popcount64(x1 & p1[b]) << s1), half, sh)
            if clip:
                sat += raw > umax
                raw = min(raw, umax)
            ab[b] += wk * np.int64(raw)
        return sat
    p2 = wp[t, term_c[2], term_w[2], start:start + width]
    x2, s2 = term_x[2], np.uint64(term_s[2])
    x3, s3 = np.uint64(0), np.uint64(0)  # three terms: a fourth that adds nothing
    p3 = p2
    if n_terms == 4:
        p3 = wp[t, term_c[3], term_w[3], start:start + width]
        x3, s3 = term_x[3], np.uint64(term_s[3])
    for b in range(width):
        total = (((popcount64(x0 & p0[b]) << s0) + (popcount64(x1 & p1[b]) << s1))
                 + ((popcount64(x2 & p2[b]) << s2) + (popcount64(x3 & p3[b]) << s3)))
        raw = code_by_shift(total, half, sh)
        if clip:
            sat += raw > umax
            raw = min(raw, umax)
        ab[b] += wk * np.int64(raw)
    return sat


@njit(cache=True, inline="always")
def _tile_popcounts(x_planes, t, cycle_w, dac_bits, wp, cell_bits, adc_shift, step, max_code, umax,
                    v, acc, term_x, term_i):  # pragma: no cover - compiled
    """Row tile ``t`` of one input: every bit line's codes, weighted by cycle, into ``acc``; returns the
    saturated conversions. ``v`` (B,), ``term_x`` (4,) and ``term_i`` (3, 4) are scratch.

    A cycle's column sums are ``sum`` over its *terms* (driven word ``w`` of DAC bit ``p``, cell bit ``c``)
    of ``popcount(x_word & plane[t, c, w]) << (p + c)``. With a power-of-two ADC step and at most four
    terms (e.g. 2-bit cells on up to two words, or up to 4-bit cells on one), the terms, the conversion
    and the weighted accumulation are one pass over the bit lines with the sums in registers; otherwise the
    sums are accumulated term by term in ``v`` and converted in a second pass."""
    words = x_planes.shape[2]
    n_bl = wp.shape[3]
    sat = 0
    term_c, term_w, term_s = term_i[0], term_i[1], term_i[2]
    sh = np.uint64(max(adc_shift, 0))
    half = (np.uint64(1) << sh) >> np.uint64(1)
    # Blocks of bit lines keep the partial sums and this block's planes in L1 across all cycles.
    for start in range(0, n_bl, BLOCK):
        # Views with zero-based loops: Numba then proves indices non-negative and LLVM vectorises.
        vb = v[start:start + BLOCK]
        ab = acc[start:start + BLOCK]
        width = vb.shape[0]
        ab[:] = 0
        for k in range(cycle_w.shape[0]):
            wk = cycle_w[k]
            n_terms = 0
            for p in range(dac_bits):
                for w in range(words):
                    xw = x_planes[t, k * dac_bits + p, w]
                    if xw == 0:
                        continue  # no row driven: nothing to add (and v = 0 converts to code 0)
                    for c in range(cell_bits):
                        if n_terms < 4:
                            term_x[n_terms] = xw
                            term_c[n_terms] = c
                            term_w[n_terms] = w
                            term_s[n_terms] = p + c
                        n_terms += 1
            if n_terms == 0:
                continue
            if adc_shift >= 0 and n_terms <= 4:
                v_max = np.uint64(0)  # no bit line can sum more than this
                for i in range(n_terms):
                    v_max += popcount64(term_x[i]) << np.uint64(term_i[2, i])
                if code_by_shift(v_max, half, sh) <= umax:  # nothing can clip: codes without the clamp
                    sat += _fused_cycle(ab, wp, t, start, width, n_terms, term_x, term_i, wk, half, sh, umax,
                                        False)
                else:
                    sat += _fused_cycle(ab, wp, t, start, width, n_terms, term_x, term_i, wk, half, sh, umax,
                                        True)
                continue
            vb[:] = 0
            for p in range(dac_bits):
                for w in range(words):
                    xw = x_planes[t, k * dac_bits + p, w]
                    if xw == 0:
                        continue
                    for c in range(cell_bits):
                        shift = np.uint64(p + c)
                        plane = wp[t, c, w, start:start + BLOCK]
                        for b in range(width):
                            vb[b] += popcount64(xw & plane[b]) << shift
            if adc_shift >= 0:  # power-of-two step: exact integer rounding
                for b in range(width):
                    raw = code_by_shift(vb[b], half, sh)
                    sat += raw > umax
                    ab[b] += wk * np.int64(min(raw, umax))
            else:
                for b in range(width):
                    raw = code_by_division(vb[b], step)
                    sat += raw > max_code
                    ab[b] += wk * np.int64(min(raw, np.float64(max_code)))
    return sat


@njit(cache=True)
def _table_rows(wp, t, words, dac_bits, cell_bits, adc_shift, step, max_code, kind, coef, segments, n_out,
                first, last, codes, outputs_t, saturated):  # pragma: no cover - compiled
    """Table rows ``first .. last-1`` of row tile ``t`` (:mod:`kernels.tables`), one bit line at a time,
    vectorised over the patterns: ``words[q, i]`` is DAC bit ``q``'s word of pattern ``i``. The column sums
    are the kernel's popcounts and the codes its ADC; they go to ``codes`` (rows, B) or, shifted and added
    over segments, to ``outputs_t`` (n_out, rows), with the saturated conversions in ``saturated``."""
    n_bl = wp.shape[3]
    width = last - first
    v = np.empty(width, dtype=np.uint64)
    code = np.empty(width, dtype=np.int64)
    sat = saturated[first:last]
    umax = np.uint64(max_code)
    sh = np.uint64(max(adc_shift, 0))
    half = (np.uint64(1) << sh) >> np.uint64(1)
    for b in range(n_bl):
        for q in range(dac_bits):
            word = words[q, first:last]
            for c in range(cell_bits):
                plane = wp[t, c, 0, b]
                shift = np.uint64(q + c)
                if q == 0 and c == 0:
                    for i in range(width):  # vectorised over patterns
                        v[i] = popcount64(word[i] & plane)
                else:
                    for i in range(width):
                        v[i] += popcount64(word[i] & plane) << shift
        out = outputs_t[b % n_out, first:last] if kind == TABLE_OUTPUTS else outputs_t[0, :0]
        weight = np.int64(coef[b])  # the segment's coefficient (plain layout)
        if adc_shift >= 0 and kind == TABLE_OUTPUTS:  # the kernel's exact integer rounding, added in
            for i in range(width):
                raw = code_by_shift(v[i], half, sh)
                sat[i] += raw > umax
                out[i] += weight * np.int64(min(raw, umax))
            continue
        if adc_shift >= 0:
            for i in range(width):
                raw = code_by_shift(v[i], half, sh)
                sat[i] += raw > umax
                code[i] = np.int64(min(raw, umax))
        else:
            for i in range(width):
                raw_f = code_by_division(v[i], step)
                sat[i] += raw_f > max_code
                code[i] = np.int64(min(raw_f, np.float64(max_code)))
        if kind == TABLE_CODES:
            for i in range(width):
                codes[first + i, b] = code[i]
        else:
            for i in range(width):
                out[i] += weight * code[i]


@njit(cache=True, parallel=True)
def _table_rows_parallel(wp, t, words, dac_bits, cell_bits, adc_shift, step, max_code, kind, coef, segments, n_out,
                         codes, outputs_t, saturated):  # pragma: no cover - compiled
    n = words.shape[1]
    chunks = (n + TABLE_BLOCK - 1) // TABLE_BLOCK
    for chunk in prange(chunks):
        _table_rows(wp, t, words, dac_bits, cell_bits, adc_shift, step, max_code, kind, coef, segments, n_out,
                    chunk * TABLE_BLOCK, min(n, (chunk + 1) * TABLE_BLOCK), codes, outputs_t, saturated)


def _build_tile_table(wp, t, r, dac_bits, cell_bits, adc_shift, step, max_code, kind, coef, segments, n_out,
                      patterns, codes, outputs, saturated) -> None:
    """Fill row tile ``t``'s table rows for ``patterns`` (``codes`` (rows, B) or ``outputs`` (rows, n_out),
    by ``kind``) and ``saturated`` (rows,); on several threads when there are many."""
    shifts = r * np.arange(dac_bits, dtype=np.int64)[:, None]
    words = ((patterns[None, :] >> shifts) & ((1 << r) - 1)).astype(np.uint64)  # (dac_bits, rows)
    outputs_t = np.zeros((n_out, len(patterns)) if kind == TABLE_OUTPUTS else (1, 0), dtype=np.int64)
    saturated[:] = 0
    args = (wp, t, words, dac_bits, cell_bits, adc_shift, step, max_code, kind, coef, segments, n_out)
    if len(patterns) * wp.shape[3] >= 1 << 18:
        _table_rows_parallel(*args, codes, outputs_t, saturated)
    else:
        for first in range(0, len(patterns), TABLE_BLOCK):
            _table_rows(*args, first, min(len(patterns), first + TABLE_BLOCK), codes, outputs_t, saturated)
    if kind == TABLE_OUTPUTS:
        outputs[:len(patterns)] = outputs_t.T


@njit(cache=True)
def _table_outputs(xp, first, last, t, r, dac_bits, cycle_w, slots, table, sats, step, y):  # pragma: no cover
    """Row tile ``t`` of inputs ``first .. last-1`` from its outputs table (:mod:`kernels.tables`): per
    input, the table rows of its cycles' patterns weighted and summed (exact integers), converted once and
    added into ``y``. Returns the saturated conversions."""
    n_out = table.shape[1]
    total = np.empty(n_out, dtype=np.int64)
    sat = 0
    for n in range(first, last):
        total[:] = 0
        for k in range(cycle_w.shape[0]):
            row = slots[cycle_pattern(xp, n, t, k, dac_bits, r)]
            sat += sats[row]
            outputs_k = table[row]  # row 0 (nothing driven) is all zeros
            wk = cycle_w[k]
            for j in range(n_out):
                total[j] += wk * outputs_k[j]
        for j in range(n_out):
            y[n, j] += step * np.float64(total[j])
    return sat


@njit(cache=True, parallel=True)
def _mvm_packed(xp, cycle_w, dac_bits, wp, cell_bits, adc_shift, step, max_code,
                members, sizes, out, coef, vote, pick, segments, n_out, flip,
                plan, slot, table_id, slot_maps, codes, outputs, table_sat):  # pragma: no cover - compiled
    """Every input, every row tile: counted (or looked up, :mod:`kernels.tables`), converted, corrected
    where flipped (``flip`` (tiles, B), empty when nothing is), voted, shifted and added. Tiles with an
    outputs table go first, a chunk of inputs at a time: their terms are exact integers, as are all others
    whenever such a table is used, so the order of the adds is free."""
    batch, tiles = xp.shape[0], xp.shape[1]
    n_bl = wp.shape[3]
    y = np.zeros((batch, n_out), dtype=np.float64)
    n_chunks = min(batch, 256)  # scratch buffers per chunk of inputs, not per input: small layers
    saturated = np.zeros(n_chunks, dtype=np.int64)
    for chunk in prange(n_chunks):
        first, last = chunk * batch // n_chunks, (chunk + 1) * batch // n_chunks
        sat = 0
        for t in range(tiles):
            if plan[t, 0] == TABLE_OUTPUTS:
                sat += _table_outputs(xp, first, last, t, plan[t, 1], dac_bits, cycle_w, slot_maps[table_id[t]],
                                      outputs[slot[t]], table_sat[table_id[t]], step, y)
        v = np.empty(n_bl, dtype=np.uint64)
        acc = np.empty(n_bl, dtype=np.int64)
        term_x = np.zeros(4, dtype=np.uint64)
        term_i = np.zeros((3, 4), dtype=np.int64)
        flipped = flip.shape[0] > 0
        values = np.empty(n_bl if flipped else 0, dtype=np.float64)
        top = np.float64((1 << cell_bits) - 1)
        for n in range(first, last):
            for t in range(tiles):
                if plan[t, 0] == TABLE_OUTPUTS:
                    continue
                sat += _tile_sums(xp, n, t, cycle_w, dac_bits, wp, cell_bits, adc_shift, step, max_code, v, acc,
                                  term_x, term_i, plan, slot, table_id, slot_maps, codes, table_sat)
                if flipped:
                    flip_values(acc, flip[t], top * np.float64(tile_input_sum(xp, n, t, cycle_w, dac_bits)), step,
                                values)
                    _combine(values, t, members, sizes, out, coef, vote, pick, segments, 1.0, y[n])
                else:
                    _combine(acc, t, members, sizes, out, coef, vote, pick, segments, step, y[n])
        saturated[chunk] = sat
    return y, saturated.sum()


def mvm_packed(
    xp: np.ndarray, wp: np.ndarray, groups: BitlineGroups, n_out: int, *, input_bits: int,
    dac_bits: int, cell_bits: int, signed_inputs: bool, adc_bits: int, step: float,
) -> tuple[np.ndarray, int]:
    """Crossbar MVM on packed planes (see module docstring).

    xp      (batch, tiles, bits, words) uint64 from :func:`pack_inputs`, or with fewer words per tile
            than ``wp`` (the rows past them not driven: ``kernels.layer_io.pack_layer_inputs`` packs only the
            words a layer narrower than a crossbar reaches)
    wp      (tiles, cell_bits, words, B) uint64 from :func:`pack_levels`
    groups  how bit lines combine into ``n_out`` outputs (and which are flipped: ``groups.flip``)
    step    ADC step (>= 1); a power of two takes the exact integer rounding path
    Returns ``(y, saturated)``: float64 (batch, n_out) in the integer domain without any offset
    correction, and the number of ADC conversions that saturated.
    """
    if xp.shape[1] != wp.shape[0] or xp.shape[3] > wp.shape[2]:
        raise ValueError(f"packed inputs {xp.shape} and packed levels {wp.shape} do not share row tiles")
    adc_shift = step_shift(step)
    pick = groups.pick if groups.pick is not None else np.zeros((wp.shape[0], len(groups.out)), np.int64)
    cycle_w = cycle_weights(input_bits, dac_bits, signed_inputs)
    segments = groups.plain_segments(n_out)
    max_code = (1 << adc_bits) - 1
    tables = _short_tile_tables(xp, wp, groups, n_out, cycle_w, dac_bits, cell_bits, adc_shift, float(step),
                                max_code, segments)
    y, saturated = _mvm_packed(
        xp, cycle_w, dac_bits, wp, cell_bits, adc_shift, float(step), max_code, groups.members, groups.sizes,
        groups.out, groups.coef, groups.vote, np.ascontiguousarray(pick, dtype=np.int64), segments, n_out,
        flip_array(groups, wp.shape[0], wp.shape[3]), *tables,
    )
    return y, int(saturated)


def _short_tile_tables(xp, wp, groups, n_out, cycle_w, dac_bits, cell_bits, adc_shift, step, max_code, segments):
    """``(plan, slot, table_id, slot_maps, codes, outputs, table_sat)`` for :func:`_mvm_packed`: the lookup
    tables of the row tiles that take one (:mod:`kernels.tables`); empty tables when none does."""
    n_bl = wp.shape[3]
    # The outputs table sums exact integers in another order than the popcount path: only where every
    # partial sum of the result is an integer below 2**53 (then any order gives the same float).
    exact_outputs = False
    if segments > 0 and adc_shift >= 0 and groups.flip is None:  # flipped bit lines are corrected per tile
        seg_coef = groups.coef[::n_out]  # one coefficient per (array, slice) segment
        if np.all(seg_coef == np.round(seg_coef)):
            bound = (wp.shape[0] * int(np.abs(seg_coef).sum()) * int(step) * max_code
                     * int(np.abs(cycle_w).sum()))
            exact_outputs = bound < 2**53
    tile_plans = plan_tables(xp, n_bl, n_out, dac_bits, len(cycle_w), exact_outputs)
    tiles = len(tile_plans)
    plan = np.array([[kind, r] for kind, r, _, _ in tile_plans], dtype=np.int64).reshape(tiles, 2)
    with_table = [t for t in range(tiles) if plan[t, 0] != TABLE_NONE]
    slot = np.zeros(tiles, dtype=np.int64)  # the tile's table among those of its kind
    table_id = np.zeros(tiles, dtype=np.int64)  # ... and among all tables (slot maps, saturation counts)
    n_rows = max((len(tile_plans[t][3]) for t in with_table), default=0)
    n_map = max((len(tile_plans[t][2]) for t in with_table), default=0)
    slot_maps = np.full((len(with_table), n_map), -1, dtype=np.int32)
    table_sat = np.zeros((len(with_table), n_rows), dtype=np.int64)
    n_codes = sum(plan[t, 0] == TABLE_CODES for t in with_table)
    n_outputs = len(with_table) - n_codes
    codes = np.zeros((n_codes, n_rows if n_codes else 0, n_bl), dtype=np.int64)
    outputs = np.zeros((n_outputs, n_rows if n_outputs else 0, n_out), dtype=np.int64)
    used = {TABLE_CODES: 0, TABLE_OUTPUTS: 0}
    for i, t in enumerate(with_table):
        kind, r, slots, patterns = tile_plans[t]
        slot[t], table_id[t] = used[kind], i
        used[kind] += 1
        slot_maps[i, :len(slots)] = slots
        _build_tile_table(wp, t, r, dac_bits, cell_bits, adc_shift, step, max_code, kind, groups.coef, segments,
                         n_out, patterns,
                         codes[slot[t]] if kind == TABLE_CODES else codes.reshape(-1, n_bl)[:0],
                         outputs[slot[t]] if kind == TABLE_OUTPUTS else outputs.reshape(-1, n_out)[:0],
                         table_sat[i])
    return plan, slot, table_id, slot_maps, codes, outputs, table_sat


@njit(cache=True, parallel=True)
def _column_sum_histogram(xp, dac_bits, n_cycles_, wp, cell_bits, bin_width, n_bins):  # pragma: no cover
    batch, tiles, n_bits, words = xp.shape
    n_bl = wp.shape[3]
    n_chunks = min(batch, 64)
    hist = np.zeros((n_chunks, n_bins), dtype=np.int64)
    for chunk in prange(n_chunks):
        v = np.empty(n_bl, dtype=np.uint64)
        for n in range(chunk, batch, n_chunks):
            for t in range(tiles):
                for k in range(n_cycles_):
                    v[:] = 0
                    for p in range(dac_bits):
                        for w in range(words):
                            xw = xp[n, t, k * dac_bits + p, w]
                            if xw == 0:
                                continue
                            for c in range(cell_bits):
                                shift = np.uint64(p + c)
                                plane = wp[t, c, w]
                                for b in range(n_bl):
                                    v[b] += popcount64(xw & plane[b]) << shift
                    for b in range(n_bl):
                        hist[chunk, np.int64(v[b]) // bin_width] += 1
    return hist.sum(axis=0)


def column_sum_histogram(xp: np.ndarray, wp: np.ndarray, *, input_bits: int, dac_bits: int,
                         cell_bits: int, full_scale: int, max_bins: int = 65536) -> tuple[np.ndarray, int]:
    """Histogram of every column sum (each bit line, row tile and cycle) the inputs produce.

    Returns ``(counts, bin_width)``; bin ``i`` counts sums in ``[i*bin_width, (i+1)*bin_width)``. Used to
    calibrate the ADC range from a percentile of the sums.
    """
    n_bins_needed = full_scale + 1
    bin_width = -(-n_bins_needed // max_bins)
    n_bins = -(-n_bins_needed // bin_width)
    counts = _column_sum_histogram(xp, dac_bits, n_cycles(input_bits, dac_bits), wp, cell_bits,
                                   bin_width, n_bins)
    return counts, bin_width


def crossbar_mvm(
    x_int, w_int, rows=128, cols=128, cell_bits=2, weight_bits=8, input_bits=8, dac_bits=1,
    adc_bits=8, mapping="differential", signed_inputs=False, adc_range="full", adc_step=None,
    faults=None, weight_flip=False, backend="cpu",
) -> np.ndarray:
    """One simulated ReRAM matrix-vector product ``y = x @ W`` at the bit level.

    x_int   (batch, in) integers, ``input_bits`` wide (two's complement if ``signed_inputs``)
    w_int   (in, out) signed integers, ``|w| <= 2**(weight_bits-1) - 1``
    faults  None or uint8 (A, S, in, out): 0 healthy, 1 SA0 (OFF, level 0), 2 SA1 (ON, top level), on the
            stored cells (complemented ones too, with ``weight_flip``)
    adc_range ``full`` (power-of-two step covering the full scale), ``calibrated`` (``adc_step``) or
            ``clip`` (step 1, saturating at ``2**adc_bits - 1``)
    weight_flip  ISAAC's encoding (:mod:`kernels.flip`): bit lines whose levels sum above half their
            maximum in a row tile store the complement, corrected digitally with the tile's input sum
    backend ``cpu`` or ``cuda`` (the same integers on an NVIDIA GPU, :mod:`kernels.cuda`)
    Returns float64 (batch, out) in the integer domain of ``docs/crossbar.md``; with a
    lossless ADC and no faults it equals ``x_int @ w_int`` exactly.
    """
    x, w, faults = check_mvm_args(
        x_int, w_int, rows=rows, cols=cols, cell_bits=cell_bits, weight_bits=weight_bits,
        input_bits=input_bits, dac_bits=dac_bits, adc_bits=adc_bits, mapping=mapping,
        signed_inputs=signed_inputs, adc_range=adc_range, adc_step=adc_step, faults=faults,
        weight_flip=weight_flip,
    )
    if check_backend(backend) == "cuda":
        require_cuda()
    levels = slice_levels(w, cell_bits, weight_bits, mapping)
    if not weight_flip:
        levels = apply_faults(levels, faults, cell_bits)
    bitline_levels, groups = plain_bitlines(levels, cell_bits, mapping)
    if weight_flip:
        flip = flip_mask(bitline_levels, rows, cell_bits)
        groups = replace(groups, flip=flip)
        stored = flipped_levels(bitline_levels, flip, rows, cell_bits)
        # The fault map over bit lines, laid out as plain_bitlines lays out the levels; it hits stored cells.
        fault_bl = None if faults is None else faults.transpose(2, 0, 1, 3).reshape(stored.shape)
        wp = pack_levels(stored, rows, cell_bits, faults=fault_bl)
    else:
        wp = pack_levels(bitline_levels, rows, cell_bits)
    step = adc_step_for(rows, cell_bits, dac_bits, adc_bits, adc_range, adc_step, weight_flip)
    if backend == "cuda":
        from kernels.cuda.mvm import mvm_packed_cuda, to_device

        y, _ = mvm_packed_cuda(
            pack_inputs(x, rows, input_bits, dac_bits), to_device(wp, groups, w.shape[1]), input_bits=input_bits,
            dac_bits=dac_bits, signed_inputs=signed_inputs, adc_bits=adc_bits, step=step)
        return offset_corrected(y, x, mapping, weight_bits)
    y, _ = mvm_int(
        x, wp, groups, w.shape[1], rows=rows,
        input_bits=input_bits, dac_bits=dac_bits, cell_bits=cell_bits, signed_inputs=signed_inputs,
        adc_bits=adc_bits, step=step, mapping=mapping, weight_bits=weight_bits,
    )
    return y


def offset_corrected(y: np.ndarray, x_int: np.ndarray, mapping: str, weight_bits: int) -> np.ndarray:
    """``y`` with the ``offset`` mapping's digital correction ``- 2**(weight_bits-1) * sum_i x_int[i]``
    subtracted exactly (in place); ``y`` unchanged for ``differential``."""
    if mapping == "offset":
        y -= float(1 << (weight_bits - 1)) * np.asarray(x_int, dtype=np.int64).sum(axis=1, keepdims=True)
    return y


def mvm_int(
    x_int: np.ndarray, wp: np.ndarray, groups: BitlineGroups, n_out: int, *, rows: int, input_bits: int,
    dac_bits: int, cell_bits: int, signed_inputs: bool, adc_bits: int, step: float, mapping: str,
    weight_bits: int,
) -> tuple[np.ndarray, int]:
    """Integer inputs (batch, in) through packed bit lines to outputs (batch, n_out), offset corrected.

    The layer-level call of the simulator: packs the inputs, runs :func:`mvm_packed`, and for the
    ``offset`` mapping subtracts ``2**(weight_bits-1) * sum_i x_int[i]`` exactly. Returns ``(y, saturated)``.
    """
    y, saturated = mvm_packed(
        pack_inputs(x_int, rows, input_bits, dac_bits), wp, groups, n_out, input_bits=input_bits,
        dac_bits=dac_bits, cell_bits=cell_bits, signed_inputs=signed_inputs, adc_bits=adc_bits, step=step,
    )
    return offset_corrected(y, x_int, mapping, weight_bits), saturated
