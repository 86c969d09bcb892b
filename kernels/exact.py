"""The exact lossless path: a layer whose ADC cannot lose information is ``x_int @ W_eff`` (BLAS).

When no column sum of a layer can be rounded or clipped (ADC step 1 and no bit line of any row tile able
to sum past the top code: always so for a full-range step of 1, ``docs/crossbar.md``; for ``clip`` and a
calibrated step of 1 when the chip's levels cannot reach it), the cycle-weighted codes of bit line ``b``
in row tile ``t`` are exactly ``sum_{i in t} x_int[i] * level[i, b]``: the cycle weights rebuild each input
from its bit-serial chunks, two's complement included, and a flipped bit line's correction
(:mod:`kernels.flip`) gives back the logical levels. The periphery's vote is linear in these sums for
``first``, ``mean`` and ``test-aware`` (the picked copy), so the layer computes ``x_int @ W_eff`` with

    W_eff[i, out[g]] = sum_g coef[g] * sum_m alpha[tile(i), g, m] * level[i, members[g, m]]

over the chip's actual (faulty, compensated, remapped) levels, ``alpha`` 1 for the first or picked copy
and ``1/size`` for a mean. It is computed that way: one BLAS product instead of ``cycles * slices *
arrays`` bit-level passes.

Clippable pairs. With step 1 but some (tile, bit line) pairs able to pass the top code (:mod:`kernels.clipped`:
a static bound on the stored levels), every pair still enters ``W_eff`` at its exact sum, and each clippable
pair's *excess* (what its conversions lost, counted by popcount on just those pairs) is added back with its
sign, into the dense part through its group's share, or into its per-tile sum before a non-linear vote.
The saturation count is the popcount path's. Taken while at most :data:`MAX_CLIPPED` of the pairs can clip.
At step 2 with no pair able to reach the top code, an unprotected layer is its exact product plus every
pair's rounding (the parity of its lowest bits, :func:`kernels.clipped.rounding_plain`).

Exactness. The popcount path's outputs are sums of integers, or of multiples of ``1/size`` for a mean
over a power-of-two number of copies; ``scale`` (the largest such size) times ``W_eff`` is an integer
matrix, and every product and partial sum BLAS forms, in whatever order and with whatever fused
multiply-adds, is an integer bounded by ``x_max * sum_i |scale * W_eff[i, j]|`` (plus the largest excess
of the clippable pairs). Below ``2**53`` float64 is exact, so the result equals the popcount path bit for
bit; below ``2**24`` on row chunks, float32 is, and the chunks' products are added in float64 (twice the
BLAS throughput). Where a bound fails, :func:`exact_layer` returns None and the caller keeps the popcount path.

Non-linear votes. A median of three copies is computed per row tile from its members' sums (one BLAS
product per tile over just those bit lines, exact in float32 for the column sums of a tile) and voted
as the kernel votes; the rest of the layer still goes through ``W_eff`` (medians of integers are
integers, so the order of the adds stays free). A mean over three copies divides by three in every row
tile: those terms are not exact binary fractions and the popcount path adds them in its own order, so a
layer with such a group takes per-tile products of every bit line and the kernel's own combine,
tile by tile in the kernel's order (``replay``): the same float operations on the same integers.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from kernels.adc import full_scale
from kernels.dac import cycle_weights
from kernels.bitlines import BitlineGroups
from kernels.clipped import (
    ClippedPairs, clippable, clipped_excess, clipped_pairs, rounding_pairs, rounding_plain, rounds_losslessly,
    scatter_excess,
)
from kernels.crossbar import _combine
from kernels.vote import VOTE_MEAN, VOTE_MEDIAN, VOTE_PICK
from kernels.faults import apply_faults
from kernels.flip import flipped_levels
from kernels.layer_io import PARALLEL_WORK, _quantize_one, activation_range

EXACT_F64 = 1 << 53  # integers up to here, and sums staying below it, are exact in float64
EXACT_F32 = 1 << 24  # ... in float32
MIN_F32_CHUNK = 256  # rows: shorter float32 chunks lose more to small products than float32 gains


@dataclass(frozen=True)
class ExactLayer:
    """One chip's layer as exact products (see the module docstring).

    weights      (in, n_out) ``scale * W_eff`` (float32 or float64), or None (``replay``)
    chunks       row boundaries of the products of ``weights``: each chunk's sums are exact in its dtype
    inv_scale    ``1 / scale``, a power of two
    tile_levels  (in, M) levels of the bit lines voted per row tile (median groups, or all in ``replay``)
    tile_groups  the groups over those M bit lines (members numbered within ``tile_levels``)
    replay       every bit line per row tile, combined in the popcount kernel's order
    x_max        the largest ``|x_int|`` the bounds were checked for (from ``input_bits``)
    clipped      the (tile, bit line) pairs the ADC can clip on this chip (:mod:`kernels.clipped`), or None
    clip_pair, clip_out, clip_weight   their excess into the dense part: ``y[:, clip_out[e]] +=
                 clip_weight[e] * E[:, clip_pair[e]]`` (scaled like ``weights``, the pair's sign included)
    clip_col     (P,) each pair's column in ``tile_levels`` (-1: none), corrected before the vote
    round_coef   (A*S,) the plain layout's segment coefficients (scaled) when ``clipped`` is step 2's
                 rounding: added per segment inside :func:`kernels.clipped.rounding_plain`
    adc          ``(input_bits, dac_bits, cell_bits, signed_inputs, adc_bits)``, what counting the excess needs
    """

    n_in: int
    n_out: int
    rows: int
    x_max: int
    weights: np.ndarray | None
    chunks: tuple[int, ...]
    inv_scale: float
    tile_levels: np.ndarray | None
    tile_groups: BitlineGroups | None
    replay: bool
    clipped: ClippedPairs | None = None
    clip_pair: np.ndarray | None = None
    clip_out: np.ndarray | None = None
    clip_weight: np.ndarray | None = None
    clip_col: np.ndarray | None = None
    round_coef: np.ndarray | None = None
    adc: tuple = ()

    @property
    def path(self) -> str:
        clipped = "" if self.clipped is None else "+rounding" if self.clipped.parity else "+clipped"
        if self.replay:
            return "exact-replay" + clipped
        kind = "float32" if self.weights.dtype == np.float32 else "float64"
        return f"exact-{kind}" + ("+median" if self.tile_levels is not None else "") + clipped


def largest_input(input_bits: int, signed: bool) -> int:
    lo, hi = activation_range(input_bits, signed)
    return max(-lo, hi)


# The largest share of clippable (tile, bit line) pairs the exact path takes: counting a pair's excess costs
# about 1.5 popcount-kernel bit lines, so the exact path with clipped pairs measured 5.4x the popcount path at
# 10 % of the pairs, 1.7x at 25 %, 1.2x at 40 % and 0.85x at 56 % (384x384 layer, 2,000 signed inputs, 7-bit
# clip ADC, 2 busy cores).
MAX_CLIPPED = 0.4


def exact_layer(
    bitline_levels: np.ndarray, groups: BitlineGroups, n_out: int, *, rows: int, cell_bits: int, dac_bits: int,
    adc_bits: int, step: float, input_bits: int, signed_inputs: bool, faults: np.ndarray | None = None,
    max_clipped: float = MAX_CLIPPED, rounding: bool = True,
) -> ExactLayer | None:
    """The exact form of a layer whose bit lines hold ``bitline_levels`` (in, B) (stored levels, as
    ``pack_levels`` takes them; ``faults`` (in, B) applied to them when given), or None when its ADC step
    is neither 1 nor 2, more than ``max_clipped`` of its (row tile, bit line) pairs could clip at step 1
    (:mod:`kernels.clipped`; 0: none may), any could clip at step 2 (or ``rounding`` is False: step 2 not
    taken), or a bound of the module docstring fails. ``mvm_exact`` on it equals ``mvm_packed`` on
    the packed levels bit for bit, saturation count included."""
    stored = np.asarray(bitline_levels)
    if faults is not None:
        stored = apply_faults(stored, faults, cell_bits)
    pairs = None
    if step == 2.0:  # rounding only, where nothing can clip: every pair's parity (kernels.clipped)
        # Only the plain layout (an unprotected layer): there the rounding adds into the outputs per
        # (array, slice) segment inside its kernel; through groups it measured slower than the popcount path.
        plain = groups.plain_segments(n_out) > 0 and (groups.vote != VOTE_PICK or groups.pick is None)
        if not (rounding and plain) or not rounds_losslessly(stored, rows, dac_bits, adc_bits):
            return None
        pairs = rounding_pairs(stored, groups.flip, rows, input_bits, dac_bits)
    elif step != 1.0:
        return None
    elif full_scale(rows, cell_bits, dac_bits) > (1 << adc_bits) - 1:  # else no bit line can clip
        mask = clippable(stored, rows, dac_bits, adc_bits)
        if mask.mean() > max_clipped:
            return None
        if mask.any():
            pairs = clipped_pairs(stored, mask, groups.flip, rows, cell_bits, input_bits, dac_bits)
    levels = np.ascontiguousarray(flipped_levels(stored, groups.flip, rows, cell_bits) if groups.flip is not None
                                  else stored, dtype=np.uint8)
    n_in = levels.shape[0]
    tiles = -(-n_in // rows)
    x_max = largest_input(input_bits, signed_inputs)
    adc = (input_bits, dac_bits, cell_bits, signed_inputs, adc_bits)
    sizes = groups.sizes
    vote = groups.vote
    # As kernels.vote.vote_group reads a group: one copy for first and test-aware, a mean for mean
    # and for a median group of two, the median of the first three copies otherwise.
    mean_sized = (sizes > 1) & ((vote == VOTE_MEAN) | ((vote == VOTE_MEDIAN) & (sizes == 2)))
    median = (vote == VOTE_MEDIAN) & (sizes >= 3)
    if np.any(mean_sized & ((sizes & (sizes - 1)) != 0)):
        return _replay_layer(levels, groups, n_out, rows, tiles, x_max, pairs, adc)
    scale = int(sizes[mean_sized].max(initial=1))
    alpha = _member_weights(groups, sizes, mean_sized, median, tiles, scale)
    segments = groups.plain_segments(n_out)
    weights = _effective_weights(levels, rows, groups.members, groups.out, groups.coef, alpha, n_out,
                                 np.int64(segments), float(scale))
    bound = np.abs(weights).sum(axis=0)
    clip = {}
    if pairs is not None and pairs.parity:
        clip = {"round_coef": np.ascontiguousarray(groups.coef[::n_out] * scale, dtype=np.float64)}
        bound += pairs.col_bound[0] * np.abs(clip["round_coef"]).sum() * tiles / x_max
    elif pairs is not None:
        clip = _clip_entries(pairs, groups, alpha)
        np.add.at(bound, clip["clip_out"], np.abs(clip["clip_weight"]) * pairs.col_bound[clip["clip_pair"]] / x_max)
    tile_levels = tile_groups = None
    if median.any():
        tile_levels, tile_groups, median_bound, clip_col = _median_part(levels, groups, median, n_out, rows, x_max,
                                                                        scale, pairs)
        if tile_levels is None:
            return None
        bound += median_bound
        if pairs is not None:
            clip["clip_col"] = clip_col
    if x_max * float(bound.max(initial=0.0)) >= EXACT_F64:
        return None
    chunks = _f32_chunks(np.abs(weights), x_max)
    if chunks is not None:
        weights = weights.astype(np.float32)
    else:
        chunks = (0, n_in)
    return ExactLayer(n_in, n_out, rows, x_max, weights, chunks, 1.0 / scale, tile_levels, tile_groups, False,
                      clipped=pairs, adc=adc, **clip)


def _clip_entries(pairs: ClippedPairs, groups: BitlineGroups, alpha: np.ndarray) -> dict:
    """Where each clipped pair's excess goes in the dense part: one entry per (pair, group, copy) with a
    nonzero share, weight ``coef * scale * alpha * sign`` (the median groups, alpha 0, have none)."""
    g_idx, m_idx = np.nonzero(groups.members >= 0)
    of_bitline = groups.members[g_idx, m_idx]
    order = np.argsort(of_bitline, kind="stable")
    lo = np.searchsorted(of_bitline[order], pairs.bitline, "left")
    counts = np.searchsorted(of_bitline[order], pairs.bitline, "right") - lo
    pair = np.repeat(np.arange(pairs.count), counts)
    offsets = np.arange(len(pair)) - np.repeat(np.cumsum(counts) - counts, counts)
    gm = order[np.repeat(lo, counts) + offsets]
    g, m = g_idx[gm], m_idx[gm]
    tile = np.repeat(np.arange(len(pairs.tile_start) - 1), np.diff(pairs.tile_start))[pair]
    share = alpha[tile, g, m]
    keep = share != 0
    return {"clip_pair": pair[keep].astype(np.int64), "clip_out": groups.out[g[keep]].astype(np.int64),
            "clip_weight": (groups.coef[g[keep]] * share[keep] * pairs.sign[pair[keep]]).astype(np.float64)}


def _member_weights(groups, sizes, mean_sized, median, tiles, scale) -> np.ndarray:
    """(tiles, G, C) ``scale * alpha``: each copy's share of its group's read in each row tile (0 for the
    median groups, which the per-tile part votes)."""
    n_groups, copies = groups.members.shape
    alpha = np.zeros((tiles, n_groups, copies))
    if groups.vote == VOTE_PICK:
        pick = groups.pick if groups.pick is not None else np.zeros((tiles, n_groups), np.int64)
        single = sizes == 1
        t_idx, g_idx = np.nonzero(~single[None, :].repeat(tiles, axis=0))
        alpha[t_idx, g_idx, np.asarray(pick)[t_idx, g_idx]] = scale
        alpha[:, single, 0] = scale
        return alpha
    first = ~mean_sized & ~median
    alpha[:, first, 0] = scale
    for g in np.flatnonzero(mean_sized):
        alpha[:, g, :sizes[g]] = scale // sizes[g]
    return alpha


@njit(cache=True)
def _effective_weights(levels, rows, members, out, coef, alpha, n_out, segments, scale):  # pragma: no cover
    """``scale * W_eff`` (in, n_out) float64 from logical levels (in, B) and the copies' shares. Serial:
    a MiniLM layer's plain rows take under a millisecond; the parallel version measured 100x slower."""
    n_in, n_bl = levels.shape
    w = np.zeros((n_in, n_out), dtype=np.float64)
    for i in range(n_in):
        row = levels[i]
        w_row = w[i]
        if segments > 0:  # plain layout: bit line s * n_out + j feeds output j with one coefficient per s
            for s in range(segments):
                c = coef[s * n_out] * scale
                seg = row[s * n_out:(s + 1) * n_out]
                for j in range(n_out):
                    w_row[j] += c * np.float64(seg[j])
            continue
        t = i // rows
        a_t = alpha[t]
        for g in range(members.shape[0]):
            for m in range(members.shape[1]):
                a = a_t[g, m]
                if a != 0.0:
                    w_row[out[g]] += coef[g] * a * np.float64(row[members[g, m]])
    return w


def _per_tile_dtype(levels: np.ndarray, rows: int, x_max: int, pairs: ClippedPairs | None = None):
    """float32 where every row tile's column sum times the largest input stays below 2**24, float64 below
    2**53, else None. With clipped pairs the sums are corrected in float64: the excess must fit too."""
    peak = 0
    for t0 in range(0, levels.shape[0], rows):
        peak = max(peak, int(levels[t0:t0 + rows].sum(axis=0, dtype=np.int64).max(initial=0)))
    excess = 0.0 if pairs is None else float(pairs.col_bound.max(initial=0.0))
    if x_max * peak + excess >= EXACT_F64:
        return None
    return np.float32 if x_max * peak < EXACT_F32 else np.float64


def _median_part(levels, groups, median, n_out, rows, x_max, scale, pairs):
    """The bit lines of the median groups as a per-tile product and their groups; with the bound on what
    they add to each output (a median is at most the sum of its copies) and each clipped pair's column
    among them (-1: not a median bit line)."""
    members = groups.members[median]
    used = np.unique(members[members >= 0])
    dtype = _per_tile_dtype(levels[:, used], rows, x_max, pairs)
    if dtype is None:
        return None, None, None, None
    renumber = np.full(levels.shape[1], -1, dtype=np.int64)
    renumber[used] = np.arange(len(used))
    sub = BitlineGroups(members=np.where(members >= 0, renumber[np.maximum(members, 0)], -1),
                        out=groups.out[median], coef=groups.coef[median], vote=VOTE_MEDIAN)
    col = levels[:, used].sum(axis=0, dtype=np.int64).astype(np.float64)
    bound = np.zeros(n_out)
    np.add.at(bound, sub.out, np.abs(sub.coef) * col[sub.members].sum(axis=1) * scale)
    clip_col = None if pairs is None else renumber[pairs.bitline]
    return np.ascontiguousarray(levels[:, used], dtype=dtype), sub, bound, clip_col


def _replay_layer(levels, groups, n_out, rows, tiles, x_max, pairs, adc) -> ExactLayer | None:
    dtype = _per_tile_dtype(levels, rows, x_max, pairs)
    if dtype is None:
        return None
    plain = BitlineGroups(groups.members, groups.out, groups.coef, groups.vote, groups.pick)  # logical levels
    clip = {} if pairs is None else {"clip_col": pairs.bitline}
    return ExactLayer(levels.shape[0], n_out, rows, x_max, None, (), 1.0, np.ascontiguousarray(levels, dtype=dtype),
                      plain, True, clipped=pairs, adc=adc, **clip)


def _f32_chunks(abs_weights: np.ndarray, x_max: int) -> tuple[int, ...] | None:
    """Row boundaries of float32 products whose sums stay below 2**24 (blocks of 64 rows, greedy), or None
    when a chunk would be shorter than :data:`MIN_F32_CHUNK` rows."""
    n_in = abs_weights.shape[0]
    limit = EXACT_F32 / max(x_max, 1)
    bounds, start = [0], 0
    running = np.zeros(abs_weights.shape[1])
    for b0 in range(0, n_in, 64):
        block = abs_weights[b0:b0 + 64].sum(axis=0)
        if (block >= limit).any():
            return None
        if (running + block >= limit).any():
            if b0 - start < MIN_F32_CHUNK:
                return None
            bounds.append(b0)
            start, running = b0, block
        else:
            running += block
    bounds.append(n_in)
    return tuple(bounds)


@njit(cache=True, nogil=True)
def _combine_tile(sums, t, members, sizes, out, coef, vote, pick, segments, y):  # pragma: no cover - compiled
    """Row tile ``t``'s bit-line sums (batch, M) through the kernel's own vote, shift and add into ``y``."""
    for n in range(sums.shape[0]):
        _combine(sums[n], t, members, sizes, out, coef, vote, pick, segments, 1.0, y[n])


def exact_input_dtype(layer: ExactLayer):
    """The float dtype :func:`mvm_exact` multiplies inputs in (no conversion needed when they come in it)."""
    return layer.weights.dtype if layer.weights is not None else layer.tile_levels.dtype


_threads: ThreadPoolExecutor | None = None
MIN_ROWS_PER_THREAD = 64


def checked_inputs(x_int: np.ndarray, layer) -> np.ndarray:
    """``x_int`` as an array, refused unless it is (batch, layer.n_in) within the layer's exactness bound."""
    x = np.asarray(x_int)
    if x.ndim != 2 or x.shape[1] != layer.n_in:
        raise ValueError(f"x_int must be (batch, {layer.n_in}), got {x.shape}")
    if x.size and max(-float(x.min()), float(x.max())) > layer.x_max:
        raise ValueError(f"x_int values must be within +-{layer.x_max} (the exactness bound), got "
                         f"{x.min()}..{x.max()}")
    return x


def integer_matmul(x_int: np.ndarray, w_int: np.ndarray, x_max: int) -> np.ndarray | None:
    """``x_int @ w_int`` (float64) of integer matrices, ``|x_int| <= x_max``, computed exactly as the exact
    path computes its products (float32 row chunks where exact, on its threads): the same values as a
    float64 product, or None where a sum could pass 2**53. The simulator's ideal layer, per chip and layer."""
    w = np.asarray(w_int, dtype=np.float64)
    n_in, n_out = w.shape
    magnitude = np.abs(w)
    if x_max * float(magnitude.sum(axis=0).max(initial=0.0)) >= EXACT_F64:
        return None
    chunks = _f32_chunks(magnitude, x_max)
    if chunks is not None:
        w = w.astype(np.float32)
    else:
        chunks = (0, n_in)
    layer = ExactLayer(n_in, n_out, max(n_in, 1), x_max, np.ascontiguousarray(w), chunks, 1.0, None, None, False)
    return mvm_exact(x_int, layer)[0]


CLIPPED_BLOCK = 1024  # inputs per excess count: their (inputs, pairs) excess matrix stays small


def mvm_exact(x_int: np.ndarray, layer: ExactLayer) -> tuple[np.ndarray, int]:
    """``mvm_packed``'s result ``(y, saturated)`` ((batch, n_out) float64, without the offset correction,
    and the conversions that saturated) from integer inputs (batch, in) (any integer or float dtype
    holding integers); no conversion of the inputs saturates.

    Blocks of inputs run on as many Python threads as Numba has, each product single-threaded in BLAS
    (it releases the GIL): BLAS's own worker threads would keep spinning after each product and slow the
    Numba kernels around it, which is why the simulator holds BLAS to one thread."""
    global _threads
    x = checked_inputs(x_int, layer)
    y = np.zeros((x.shape[0], layer.n_out), dtype=np.float64)
    n_threads = min(numba.get_num_threads(), max(1, x.shape[0] // MIN_ROWS_PER_THREAD))
    n_blocks = n_threads
    if layer.clipped is not None:
        n_blocks = max(n_threads, -(-x.shape[0] // CLIPPED_BLOCK))
    bounds = np.linspace(0, x.shape[0], n_blocks + 1).astype(np.int64)
    blocks = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    if n_threads == 1:
        return y, sum(_rows_exact(x, layer, y, a, b) for a, b in blocks)
    if _threads is None or _threads._max_workers < n_threads:
        _threads = ThreadPoolExecutor(n_threads, thread_name_prefix="mvm_exact")
    futures = [_threads.submit(_rows_exact, x, layer, y, a, b) for a, b in blocks]
    return y, sum(future.result() for future in futures)


def _rows_exact(x: np.ndarray, layer: ExactLayer, y_all: np.ndarray, r0: int, r1: int) -> int:
    """Inputs ``r0 .. r1-1`` of :func:`mvm_exact` into ``y_all``; returns their saturated conversions."""
    x = x[r0:r1]
    y = y_all[r0:r1]
    saturated = 0
    if layer.clipped is not None and layer.round_coef is None:
        input_bits, dac_bits, cell_bits, signed, adc_bits = layer.adc
        excess, saturated = clipped_excess(x, layer.clipped, rows=layer.rows, input_bits=input_bits,
                                           dac_bits=dac_bits, cell_bits=cell_bits, signed_inputs=signed,
                                           adc_bits=adc_bits)
    if layer.weights is not None:
        xw = x.astype(layer.weights.dtype, copy=False)
        c = layer.chunks
        if len(c) == 2:
            y[:] = xw @ layer.weights
        else:
            for a, b in zip(c[:-1], c[1:]):
                y += xw[:, a:b] @ layer.weights[a:b]
        if layer.clip_pair is not None and len(layer.clip_pair):
            scatter_excess(excess, layer.clip_pair, layer.clip_out, layer.clip_weight, y)
        if layer.round_coef is not None:
            input_bits, dac_bits, _, signed, _ = layer.adc
            pairs = layer.clipped
            rounding_plain(np.ascontiguousarray(x), pairs.planes, pairs.sign.reshape(-1, layer.round_coef.shape[0]
                                                                                    * layer.n_out),
                           cycle_weights(input_bits, dac_bits, signed), dac_bits, layer.rows, (1 << input_bits) - 1,
                           layer.round_coef, y)
        if layer.inv_scale != 1.0:
            y *= layer.inv_scale
        y += 0.0  # BLAS may sum negative zeros; the popcount path's outputs start at +0.0
    if layer.tile_levels is not None:
        g = layer.tile_groups
        xt = x.astype(layer.tile_levels.dtype, copy=False)
        tiles = -(-layer.n_in // layer.rows)
        pick = g.pick if g.pick is not None else np.zeros((tiles, len(g.out)), np.int64)
        pick = np.ascontiguousarray(pick, np.int64)
        segments = g.plain_segments(layer.n_out) if layer.replay else 0
        for t in range(tiles):
            t0, t1 = t * layer.rows, min(layer.n_in, (t + 1) * layer.rows)
            sums = np.ascontiguousarray(xt[:, t0:t1] @ layer.tile_levels[t0:t1])
            if layer.clip_col is not None:
                p0, p1 = layer.clipped.tile_start[t], layer.clipped.tile_start[t + 1]
                col = layer.clip_col[p0:p1]
                hit = np.flatnonzero(col >= 0)
                if len(hit):  # the clipped bit lines' converted sums: exact ones plus sign * excess
                    sums = sums.astype(np.float64)
                    sums[:, col[hit]] += layer.clipped.sign[p0 + hit] * excess[:, p0 + hit]
            _combine_tile(sums, t, g.members, g.sizes, g.out, g.coef, g.vote, pick, segments, y)
    return saturated


@njit(cache=True)
def _gather_samples(src, index, scale, lo, hi, mask, sign, first, last, out):  # pragma: no cover - compiled
    """Samples ``first .. last-1`` of :func:`layer_ints`."""
    n_feat = src.shape[1]
    positions, n_rows = index.shape
    q = np.empty(n_feat + 1, dtype=out.dtype)
    for s in range(first, last):
        for i in range(n_feat):
            # The value the DACs' bit pattern stands for: the quantised input itself, and for a NaN
            # activation what its pattern drives on the popcount path (not a value outside the range).
            v = _quantize_one(src[s, i], scale, lo, hi) & mask
            q[i] = v - 2 * sign if v >= sign > 0 else v
        q[n_feat] = 0  # padding reads 0
        for p in range(positions):
            idx = index[p]
            o = out[s * positions + p]
            for r in range(n_rows):
                o[r] = q[idx[r]]


@njit(cache=True, parallel=True)
def _gather_parallel(src, index, scale, lo, hi, mask, sign, out):  # pragma: no cover - compiled
    n_src = src.shape[0]
    chunks = min(n_src, 64)
    for chunk in prange(chunks):
        _gather_samples(src, index, scale, lo, hi, mask, sign, chunk * n_src // chunks, (chunk + 1) * n_src // chunks,
                        out)


def layer_ints(src: np.ndarray, index: np.ndarray, *, scale: float, input_bits: int, signed: bool,
               dtype=np.float32) -> np.ndarray:
    """The integer crossbar inputs ``pack_layer_inputs`` packs, as a (samples * positions, rows) matrix of
    ``dtype`` for :func:`mvm_exact`: the same quantisation (bit for bit) and gather."""
    src = np.ascontiguousarray(src, dtype=np.float64)
    index = np.ascontiguousarray(index, dtype=np.int64)
    lo, hi = activation_range(input_bits, signed)
    out = np.empty((src.shape[0] * index.shape[0], index.shape[1]), dtype=dtype)
    args = (src, index, float(scale), lo, hi, (1 << input_bits) - 1, (1 << (input_bits - 1)) if signed else 0)
    if out.size >= PARALLEL_WORK:
        _gather_parallel(*args, out)
    else:  # a parallel region's start costs more than this work (under load, much more)
        _gather_samples(*args, 0, src.shape[0], out)
    return out
