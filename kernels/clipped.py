"""The bit lines a step-1 ADC can clip, for the exact path: what their conversions lose, by popcount.

With ADC step 1 (``clip``, or a calibrated or full range whose step is 1) a conversion is
``min(v, 2**adc_bits - 1)``: exact unless the column sum passes the top code. Bit line ``b`` of row tile
``t`` cannot pass it when ``dac_top * sum_{i in t} stored[i, b] <= 2**adc_bits - 1`` (every row driven at
the top DAC code: the largest sum its cells can make), a static bound over the chip's stored, faulty levels.
On trained weights nearly every (tile, bit line) pair meets it at 7 or 8 bits; the few that do not are
*clipped pairs*. For them the converted, cycle-weighted read is the exact one minus an *excess*:

    sum_k w_k min(v_k, top) = sum_k w_k v_k - E,     E = sum_k w_k max(v_k - top, 0)

and on a flipped bit line (read as ``L * X_t - v_hat``, :mod:`kernels.flip`) the logical read is the exact
one plus ``E``. So a layer is its exact product (:mod:`kernels.exact`, every bit line at its exact sum)
plus ``sign * E`` for each clipped pair, ``sign`` -1, or +1 where flipped: integers, added in float64.
``E`` needs each clipped pair's column sums per cycle, counted here as the popcount kernel counts them
(:mod:`kernels.crossbar`), from the inputs' bit planes and the pair's packed stored levels; cycles whose
driven rows cannot reach the top code whatever the cells hold are skipped.

Step 2 (the ``full`` range one bit short of lossless: 8 bits on 128 rows of 2-bit cells with 1-bit DACs,
the default) rounds instead: ``2 * floor((v + 1) / 2) = v + (v mod 2)`` while no sum reaches the top code.
So every pair's read is its exact one plus ``R = sum_k w_k (v_k mod 2)`` (minus on a flipped bit line), and
``v_k mod 2`` is the parity of ``x & level`` over the rows on the lowest DAC bit and the lowest cell bit
alone: one popcount of the XOR of the tile's words instead of a popcount per (word, cell bit, DAC bit).
:func:`rounding_pairs` makes every pair of a plain layer such a pair and :func:`rounding_plain` counts ``R``
and adds it into the outputs, per (array, slice) segment, blocked over bit lines as the popcount kernel is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from kernels.crossbar import pack_levels
from kernels.dac import cycle_weights, n_cycles
from kernels.popcount import popcount64

WORD = 64
BLOCK = 256  # bit lines per cache block, as in kernels.crossbar


def clippable(stored_levels: np.ndarray, rows: int, dac_bits: int, adc_bits: int) -> np.ndarray:
    """(tiles, B) bool: the (row tile, bit line) pairs whose stored levels, every row driven at the top DAC
    code, could sum past the top code of a step-1 ADC (the static bound of the module docstring)."""
    levels = np.asarray(stored_levels)
    n_in, n_bl = levels.shape
    tiles = -(-n_in // rows)
    limit = ((1 << adc_bits) - 1) // ((1 << dac_bits) - 1)  # sum * dac_top <= top  <=>  sum <= top // dac_top
    mask = np.zeros((tiles, n_bl), dtype=np.bool_)
    for t in range(tiles):
        mask[t] = levels[t * rows:(t + 1) * rows].sum(axis=0, dtype=np.int64) > limit
    return mask


@dataclass(frozen=True)
class ClippedPairs:
    """The clipped (tile, bit line) pairs of one chip's layer, grouped by tile.

    tile_start  (tiles + 1,) int64: pairs ``tile_start[t] .. tile_start[t+1]-1`` lie in row tile ``t``
    bitline     (P,) int64 bit line of each pair
    sign        (P,) int64 -1, or +1 on a flipped bit line: how its excess enters its logical read
    planes      (cell_bits, words, P) uint64 the pair's stored (faulty) levels as bit planes over its rows
    col_bound   (P,) float64 the largest excess ``E`` of each pair (for the exactness bounds)
    parity      False: ``E`` is the clipped excess (step 1); True: the rounding ``R`` of step 2, ``planes``
                holding only the lowest cell bit
    """

    tile_start: np.ndarray
    bitline: np.ndarray
    sign: np.ndarray
    planes: np.ndarray
    col_bound: np.ndarray
    parity: bool = False

    @property
    def count(self) -> int:
        return len(self.bitline)


def clipped_pairs(stored_levels: np.ndarray, mask: np.ndarray, flip: np.ndarray | None, rows: int,
                  cell_bits: int, input_bits: int, dac_bits: int) -> ClippedPairs:
    """The pairs of ``mask`` (:func:`clippable`) with their packed stored levels (in, B) (faults applied)."""
    levels = np.ascontiguousarray(stored_levels, dtype=np.uint8)
    tiles = mask.shape[0]
    t_idx, b_idx = np.nonzero(mask)  # row-major: sorted by tile
    tile_start = np.searchsorted(t_idx, np.arange(tiles + 1)).astype(np.int64)
    sign = np.full(len(b_idx), -1, dtype=np.int64)
    if flip is not None:
        sign[np.asarray(flip, dtype=np.bool_)[t_idx, b_idx]] = 1
    planes = _pack_pairs(levels, t_idx.astype(np.int64), b_idx.astype(np.int64), rows, cell_bits)
    sums = np.array([int(levels[t * rows:(t + 1) * rows, b].sum(dtype=np.int64)) for t, b in zip(t_idx, b_idx)],
                    dtype=np.float64)
    # E <= sum_k |w_k| v_k <= sum_k |w_k| * dac_top * colsum = (2**(T*dac_bits) - 1) * colsum
    x_u_max = float((1 << (n_cycles(input_bits, dac_bits) * dac_bits)) - 1)
    return ClippedPairs(tile_start, b_idx.astype(np.int64), sign, planes, x_u_max * sums)


def rounds_losslessly(stored_levels: np.ndarray, rows: int, dac_bits: int, adc_bits: int) -> bool:
    """Whether a step-2 ADC only rounds these levels (in, B): no pair's largest sum reaches the top code."""
    levels = np.asarray(stored_levels)
    top = (1 << adc_bits) - 1
    dac_top = (1 << dac_bits) - 1
    for t0 in range(0, levels.shape[0], rows):
        peak = int(levels[t0:t0 + rows].sum(axis=0, dtype=np.int64).max(initial=0)) * dac_top
        if (peak + 1) >> 1 > top:
            return False
    return True


def rounding_pairs(stored_levels: np.ndarray, flip: np.ndarray | None, rows: int, input_bits: int,
                   dac_bits: int) -> ClippedPairs:
    """Every (tile, bit line) pair of a step-2 layer (:func:`rounds_losslessly`), with the lowest cell bit
    of its stored levels packed: its read is the exact one plus ``R`` (minus where flipped)."""
    levels = np.ascontiguousarray(stored_levels, dtype=np.uint8)
    n_in, n_bl = levels.shape
    tiles = -(-n_in // rows)
    t_idx = np.repeat(np.arange(tiles, dtype=np.int64), n_bl)
    b_idx = np.tile(np.arange(n_bl, dtype=np.int64), tiles)
    sign = np.ones(tiles * n_bl, dtype=np.int64)
    if flip is not None:
        sign[np.asarray(flip, dtype=np.bool_).reshape(-1)] = -1
    # The lowest cell bit of every pair, as pack_levels lays out a tile's planes (contiguous, vectorised):
    # (tiles, 1, words, B) to (1, words, tiles * B), pairs tile by tile.
    packed = pack_levels(levels & np.uint8(1), rows, 1)
    planes = np.ascontiguousarray(packed.transpose(1, 2, 0, 3).reshape(1, packed.shape[2], tiles * n_bl))
    bound = float((1 << (n_cycles(input_bits, dac_bits) * dac_bits)) - 1)  # |R| <= sum_k |w_k|
    return ClippedPairs(np.arange(tiles + 1, dtype=np.int64) * n_bl, b_idx, sign, planes,
                        np.full(tiles * n_bl, bound), parity=True)


@njit(cache=True)
def _pack_pairs(levels, tile, bitline, rows, cell_bits):  # pragma: no cover - compiled
    n_in = levels.shape[0]
    words = (rows + WORD - 1) // WORD
    planes = np.zeros((cell_bits, words, len(bitline)), dtype=np.uint64)
    for p in range(len(bitline)):
        t0 = tile[p] * rows
        for r in range(min(rows, n_in - t0)):
            level = levels[t0 + r, bitline[p]]
            for c in range(cell_bits):
                planes[c, r // WORD, p] |= np.uint64((level >> c) & 1) << np.uint64(r % WORD)
    return planes


def clipped_excess(x: np.ndarray, pairs: ClippedPairs, *, rows: int, input_bits: int, dac_bits: int,
                   cell_bits: int, signed_inputs: bool, adc_bits: int) -> tuple[np.ndarray, int]:
    """``(E, saturated)``: each input's excess on each clipped pair (batch, P) int64, and the number of
    conversions that saturated (the popcount kernel's count). ``x`` (batch, in) holds integers in any dtype."""
    cycle_w = cycle_weights(input_bits, dac_bits, signed_inputs)
    excess = np.zeros((x.shape[0], pairs.count), dtype=np.int64)
    if pairs.parity:
        raise ValueError("step 2's rounding pairs add into the outputs through rounding_plain")
    saturated = _excess(np.ascontiguousarray(x), pairs.tile_start, pairs.planes, cycle_w, dac_bits, cell_bits, rows,
                        (1 << input_bits) - 1, (1 << adc_bits) - 1, excess)
    return excess, int(saturated)


@njit(cache=True, nogil=True)
def _excess(x, tile_start, planes, cycle_w, dac_bits, cell_bits, rows, mask, top, excess):  # pragma: no cover
    """Serial (it runs on the exact path's threads, one block of inputs each, GIL released)."""
    batch, n_in = x.shape
    words = planes.shape[1]
    n_bits = cycle_w.shape[0] * dac_bits
    tiles = tile_start.shape[0] - 1
    widest = 0
    for t in range(tiles):
        widest = max(widest, tile_start[t + 1] - tile_start[t])
    v = np.empty(widest, dtype=np.int64)
    acc = np.empty(widest, dtype=np.int64)
    xb = np.empty((n_bits, words), dtype=np.uint64)
    u = np.zeros(words * WORD, dtype=np.int64)
    itop = np.int64(top)
    saturated = 0
    for n in range(batch):
        row = x[n]
        for t in range(tiles):
            p0, p1 = tile_start[t], tile_start[t + 1]
            if p0 == p1:
                continue
            width = p1 - p0
            first = t * rows
            n_r = min(rows, n_in - first)
            for r in range(n_r):
                u[r] = np.int64(row[first + r]) & mask  # the DACs' bit pattern: two's complement when signed
            for w in range(words):
                uw = u[w * WORD:min(n_r, (w + 1) * WORD)]
                for b in range(n_bits):
                    word = np.uint64(0)
                    for r in range(uw.shape[0]):  # an OR-reduction LLVM vectorises
                        word |= np.uint64((uw[r] >> b) & 1) << np.uint64(r)
                    xb[b, w] = word
            a = acc[:width]
            a[:] = 0
            vb = v[:width]
            for k in range(cycle_w.shape[0]):
                reach = np.int64(0)  # the largest sum any bit line can make this cycle
                for q in range(dac_bits):
                    for w in range(words):
                        reach += np.int64(popcount64(xb[k * dac_bits + q, w])) << q
                if reach * ((1 << cell_bits) - 1) <= itop:
                    continue  # no conversion of this cycle can clip
                vb[:] = 0
                for q in range(dac_bits):
                    for w in range(words):
                        xw = xb[k * dac_bits + q, w]
                        if xw == 0:
                            continue
                        for c in range(cell_bits):
                            plane = planes[c, w, p0:p1]
                            shift = np.uint64(q + c)
                            for i in range(width):  # contiguous: vectorised (VPOPCNTDQ where present)
                                vb[i] += np.int64(popcount64(xw & plane[i]) << shift)
                wk = cycle_w[k]
                hits = np.int64(0)
                for i in range(width):  # vectorised: a max, a compare and a multiply-add
                    over = vb[i] - itop
                    hits += np.int64(over > 0)
                    a[i] += wk * max(over, np.int64(0))
                saturated += hits
            excess[n, p0:p1] = a
    return saturated


@njit(cache=True, nogil=True, inline="always")
def _pack_tile(row, first, n_r, mask, u, xb, bits, dac_bits):  # pragma: no cover - compiled
    """Bit planes ``xb[b, w]`` of the inputs ``row[first:first + n_r]``'s DAC patterns, for the pattern bits
    ``b * dac_bits`` (``bits`` of them: the lowest bit of each cycle's chunk)."""
    words = xb.shape[1]
    for r in range(n_r):
        u[r] = np.int64(row[first + r]) & mask
    for w in range(words):
        uw = u[w * WORD:min(n_r, (w + 1) * WORD)]
        for b in range(bits):
            shift = b * dac_bits
            word = np.uint64(0)
            for r in range(uw.shape[0]):  # an OR-reduction LLVM vectorises
                word |= np.uint64((uw[r] >> shift) & 1) << np.uint64(r)
            xb[b, w] = word


@njit(cache=True, nogil=True, inline="always")
def _parity_bit(x0, p0, x1, p1, wk):  # pragma: no cover - compiled
    """``wk`` where the lowest bits' AND over both words has odd parity, else 0 (a mask, not a multiply)."""
    return wk & -np.int64(popcount64((x0 & p0) ^ (x1 & p1)) & np.uint64(1))


@njit(cache=True, nogil=True, inline="always")
def _cycle_words(xb, cycle_w, k, second):  # pragma: no cover - compiled
    """Cycle ``k``'s input words (first, second: 0 when the tile has one word) and weight; all 0 past the
    last cycle."""
    if k >= cycle_w.shape[0]:
        return np.uint64(0), np.uint64(0), np.int64(0)
    return xb[k, 0], (xb[k, second] if second > 0 else np.uint64(0)), cycle_w[k]


@njit(cache=True, nogil=True)
def _parity_cycles(ab, planes, xb, cycle_w, first, width, words):  # pragma: no cover - compiled
    """``ab[b] += sum_k cycle_w[k] * parity_k(b)`` for one block of bit lines of a tile of one or two words,
    four cycles per pass over the block: each plane word is loaded once per four cycles, the accumulator
    once, and the cycle weight is selected by a mask. A cycle that drives nothing adds nothing (its
    words are 0: parity 0), so no cycle needs skipping."""
    cycles = cycle_w.shape[0]
    p0 = planes[0, 0, first:first + width]
    p1 = planes[0, words - 1, first:first + width]
    second = words - 1  # the second word, or with one word the first again, its input word taken as 0
    for k in range(0, cycles, 4):
        a0, b0, w0 = _cycle_words(xb, cycle_w, k, second)
        a1, b1, w1 = _cycle_words(xb, cycle_w, k + 1, second)
        a2, b2, w2 = _cycle_words(xb, cycle_w, k + 2, second)
        a3, b3, w3 = _cycle_words(xb, cycle_w, k + 3, second)
        for b in range(width):  # vectorised (VPOPCNTDQ where present)
            q0, q1 = p0[b], p1[b]
            ab[b] += ((_parity_bit(a0, q0, b0, q1, w0) + _parity_bit(a1, q0, b1, q1, w1))
                      + (_parity_bit(a2, q0, b2, q1, w2) + _parity_bit(a3, q0, b3, q1, w3)))


@njit(cache=True, nogil=True)
def rounding_plain(x, planes, sign, cycle_w, dac_bits, rows, mask, seg_coef, y):  # pragma: no cover - compiled
    """The plain layout's rounding straight into ``y`` (batch, n_out): each bit line's ``R`` summed over
    the tiles with its sign (``sign`` (tiles, B)), then ``y[:, j] += seg_coef[s] * total[s * n_out + j]``
    per (array, slice) segment ``s``; no (inputs, pairs) matrix. Serial, GIL released."""
    batch, n_in = x.shape
    tiles, n_bl = sign.shape
    n_out = y.shape[1]
    words = planes.shape[1]
    cycles = cycle_w.shape[0]
    par = np.empty(n_bl, dtype=np.uint64)
    acc = np.empty(n_bl, dtype=np.int64)
    total = np.empty(n_bl, dtype=np.int64)
    xb = np.empty((cycles, words), dtype=np.uint64)
    u = np.zeros(words * WORD, dtype=np.int64)
    for n in range(batch):
        total[:] = 0
        for t in range(tiles):
            first = t * rows
            _pack_tile(x[n], first, min(rows, n_in - first), mask, u, xb, cycles, dac_bits)
            acc[:] = 0
            for start in range(0, n_bl, BLOCK):  # a block's planes, parities and sums stay in L1 over the cycles
                stop = min(n_bl, start + BLOCK)
                ab = acc[start:stop]
                pb = par[start:stop]
                width = stop - start
                if words <= 2:
                    _parity_cycles(ab, planes, xb, cycle_w, t * n_bl + start, width, words)
                    continue
                for k in range(cycles):
                    wk = cycle_w[k]
                    pb[:] = 0
                    for w in range(words):
                        xw = xb[k, w]
                        if xw == 0:
                            continue
                        plane = planes[0, w, t * n_bl + start:t * n_bl + stop]
                        for b in range(width):
                            pb[b] ^= xw & plane[b]
                    for b in range(width):
                        ab[b] += wk * np.int64(popcount64(pb[b]) & np.uint64(1))
            st = sign[t]
            for b in range(n_bl):
                total[b] += st[b] * acc[b]
        y_row = y[n]
        for s in range(seg_coef.shape[0]):
            c = seg_coef[s]
            seg = total[s * n_out:(s + 1) * n_out]
            for j in range(n_out):  # contiguous: vectorised
                y_row[j] += c * np.float64(seg[j])


@njit(cache=True, nogil=True)
def scatter_excess(excess, pair, out, weight, y):  # pragma: no cover - compiled
    """``y[n, out[e]] += weight[e] * excess[n, pair[e]]`` for every entry ``e`` (exact: integers in float64)."""
    for n in range(excess.shape[0]):
        e_row = excess[n]
        y_row = y[n]
        for e in range(pair.shape[0]):
            y_row[out[e]] += weight[e] * np.float64(e_row[pair[e]])
