"""The float column-sum path: the crossbar of ``../shared/spec/crossbar.md`` with analog non-idealities.

The integer popcount path (:mod:`kernels.crossbar`) is the exact model: every cell holds its integer
level. This path replaces each cell's level by a float conductance and adds the effects the integer
model cannot express. Everything else is the same as the integer path: bit lines ``(in, B)``, row tiles,
bit-serial input cycles, one ADC conversion per (row tile, bit line, cycle) with the same transfer
function, the same cycle weights, and the same groups and votes (copies and protection work unchanged).
With every effect at zero the result equals the integer path bit for bit (a test pins this).

Units. Conductances are in units of the level step ``dG = (G_max - G_min) / L`` with ``L = 2**cell_bits - 1``,
measured from zero conductance: a cell at level ``l`` conducts ``G_min + l`` steps, and the finite on/off
ratio ``r = G_max / G_min`` gives ``G_min = L / (r - 1)`` steps (``r = inf``: ``G_min = 0``).

Order of the effects on one chip (all per cell unless said otherwise):
1. Stuck-at faults (from the chip's fault map): SA0 cells sit at ``G_min`` (level 0), SA1 cells at
   ``G_max``. Stuck cells are not programmed: they get no programming variation and no drift.
2. Programming variation (programmed cells only): ``G = G_min + l + L * sigma(l) * N(0, 1)``, with
   ``sigma`` a fraction of the conductance range, constant or per target level ``l``; conductances are
   clipped at zero (a cell cannot conduct negatively), not above.
3. Drift (programmed cells only): ``G(t) = G * (t / t0) ** -nu(l)``.
4. The periphery subtracts a reference current ``G_min * sum_i chunk_i`` from each bit line before its
   ADC (an ideal reference column of nominal ``G_min`` cells, or equivalently the offset a differential
   pair cancels): the ADC sees ``v = sum_i chunk_i * (G_i - G_min)``. The reference is noiseless and does
   not drift, so with drift or variation the level-0 cells no longer cancel exactly.
5. Read noise, fresh for every read (every input cycle): each cell reads ``G_i * (1 + s * N(0, 1))``.
   The sum of independent Gaussians on one bit line in one cycle is Gaussian with variance
   ``sum_i chunk_i**2 * (s * G_i)**2``, so the kernel draws one normal per column sum: exact in
   distribution and far cheaper than one draw per cell. Draws are counter-based
   (:mod:`kernels.rng`): they depend on ``(key, sample, row tile, cycle, bit line)`` only.
6. The ADC, one per ``cols_per_adc`` bit lines of a crossbar (bit lines sharing an ADC share its
   errors): ``x = (v / step) * (1 + gain_error) + offset`` in LSB, then ``x += INL(x)`` (a smooth
   per-code error curve, a polynomial in the code, see :func:`sample_adcs`), then
   ``code = clip(floor(x + 1/2), 0, 2**adc_bits - 1)``. The digital side multiplies by the nominal
   ``step``; it knows none of these errors.
Stuck cells see read noise like any other cell (relative to their conductance).

How the column sums are computed. Rows are taken in groups of :data:`GROUP` (4); for every group and
bit line of a block, a table holds the 16 sums of the group's conductances over every subset of its rows
(built once per block of bit lines, row tile and batch chunk, kept in L2). A column sum for one input
bit plane is then one table row per group, chosen by the group's 4 input bits: 32 table rows for a
128-row tile instead of 128 multiply-adds, added eight rows per store. Multi-bit DAC chunks add the bit
planes with weights ``2**p``; read-noise variances use a second table of ``(s G)**2`` and, for multi-bit
chunks, the products of bit planes (``chunk**2 = sum_{p,q} 2**(p+q) bit_p bit_q``).

Float precision: column sums accumulate in float32 while the full scale is below ``2**24`` (exact for
integer levels, so zero effects are still exact), float64 above; the ADC arithmetic is float64, read
noise draws are float32.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import get_num_threads, njit, prange

from kernels.crossbar import BitlineGroups, pack_inputs, vote_group
from kernels.dac import cycle_weights
from kernels.rng import fill_normals

def g_min_steps(cell_bits: int, on_off_ratio: float) -> float:
    """``G_min`` in level steps: ``L / (r - 1)`` for on/off ratio ``r = G_max / G_min`` (0 if infinite)."""
    if not on_off_ratio > 1:
        raise ValueError(f"on_off_ratio must be > 1 (G_max / G_min), got {on_off_ratio}")
    if np.isinf(on_off_ratio):
        return 0.0
    return ((1 << cell_bits) - 1) / (on_off_ratio - 1.0)


def cell_conductances(
    levels: np.ndarray, stuck: np.ndarray | None, cell_bits: int, *, on_off_ratio: float = np.inf,
    sigma_per_level=0.0, nu_per_level=0.0, drift_ratio: float = 1.0, rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Absolute conductance of every cell in level steps (float64, shape of ``levels``).

    levels        cell levels after stuck-at faults (uint8, any shape)
    stuck         bool mask of stuck cells (same shape) or None; stuck cells get neither variation nor drift
    sigma_per_level  programming variation as a fraction of the range: a number or one per level
    nu_per_level  drift exponent: a number or one per level
    drift_ratio   ``t / t0`` (1 = no drift)
    rng           generator for the variation draws (one standard normal per cell, drawn for every cell
                  whatever its fault state, so the variation of a cell does not depend on the fault map)
    """
    n_levels = 1 << cell_bits
    top = n_levels - 1
    lv = np.asarray(levels).astype(np.intp)
    g = lv.astype(np.float64) + g_min_steps(cell_bits, on_off_ratio)
    sigma = np.broadcast_to(np.asarray(sigma_per_level, dtype=np.float64), (n_levels,))
    if np.any(sigma < 0):
        raise ValueError(f"variation must be >= 0 (a fraction of the conductance range), got {sigma}")
    if np.any(sigma > 0):
        if rng is None:
            raise ValueError("programming variation needs a random generator (rng)")
        deviation = (top * sigma)[lv] * rng.standard_normal(lv.shape, dtype=np.float32)
        if stuck is not None:
            deviation[stuck] = 0.0
        g += deviation
        np.maximum(g, 0.0, out=g)
    nu = np.broadcast_to(np.asarray(nu_per_level, dtype=np.float64), (n_levels,))
    if drift_ratio != 1.0 and np.any(nu != 0):
        if not drift_ratio > 0:
            raise ValueError(f"drift_ratio (t / t0) must be > 0, got {drift_ratio}")
        factor = (float(drift_ratio) ** -nu)[lv]
        if stuck is not None:
            factor[stuck] = 1.0
        g *= factor
    return g


def adc_layout(n_bitlines: int, cols: int, cols_per_adc: int) -> tuple[np.ndarray, int]:
    """Which ADC of its row tile converts each bit line: ``(adc_of (B,), adcs_per_tile)``.

    Bit line ``b`` sits in column ``b % cols`` of the ``b // cols``-th crossbar of its row tile; each
    crossbar has ``ceil(cols / cols_per_adc)`` ADCs, each serving ``cols_per_adc`` adjacent columns.
    """
    per_xbar = -(-cols // cols_per_adc)
    b = np.arange(n_bitlines, dtype=np.int64)
    adc_of = (b // cols) * per_xbar + (b % cols) // cols_per_adc
    return adc_of, int(-(-n_bitlines // cols) * per_xbar)


INL_DEGREE = 4  # INL curves are polynomials of this degree in the code (smooth by construction)


def sample_adcs(n_adcs: int, *, offset_sigma: float = 0.0, gain_sigma: float = 0.0, inl_peak: float = 0.0,
                rng: np.random.Generator | None = None):
    """Static errors of ``n_adcs`` ADCs: ``(gain, offset, inl)``.

    gain    (n,) ``1 + N(0, gain_sigma)``: input-referred gain (relative)
    offset  (n,) ``N(0, offset_sigma)`` LSB: input-referred offset
    inl     (n, 5) coefficients ``d_j`` of each ADC's INL in LSB, ``INL(c) = sum_j d_j u**j`` with
            ``u = c / max_code``: a smooth random curve ``u (1 - u) (a0 + a1 (2u - 1) + a2 (2u - 1)**2)``,
            ``a_h ~ N(0, 1) / (h + 1)`` (bow, S and higher shapes), zero at both ends (endpoint-fit INL)
            and scaled so its peak ``|INL|`` is ``inl_peak``; shape (0, 5) when off.
            :func:`inl_table` lists it per code.
    """
    if rng is None and (offset_sigma or gain_sigma or inl_peak):
        raise ValueError("ADC errors need a random generator (rng)")
    gain = 1.0 + gain_sigma * rng.standard_normal(n_adcs) if gain_sigma else np.ones(n_adcs)
    offset = offset_sigma * rng.standard_normal(n_adcs) if offset_sigma else np.zeros(n_adcs)
    if not inl_peak:
        return gain, offset, np.zeros((0, INL_DEGREE + 1))
    P = np.polynomial.polynomial
    bowl = [0.0, 1.0, -1.0]  # u (1 - u)
    basis = np.zeros((3, INL_DEGREE + 1))  # u (1 - u) (2u - 1)**h, h = 0, 1, 2, as coefficients in u
    for h in range(3):
        term = P.polymul(bowl, P.polypow([-1.0, 2.0], h))
        basis[h, :len(term)] = term
    coeffs = (rng.standard_normal((n_adcs, 3)) / np.arange(1, 4)) @ basis
    peak = np.abs(coeffs @ np.vander(np.linspace(0.0, 1.0, 1025), INL_DEGREE + 1, increasing=True).T).max(axis=1)
    inl = coeffs * (inl_peak / np.where(peak > 0, peak, 1.0))[:, None]
    return gain, offset, inl


def inl_table(inl: np.ndarray, adc_bits: int) -> np.ndarray:
    """Per-code INL in LSB, (n_adcs, 2**adc_bits), of the polynomial coefficients from :func:`sample_adcs`."""
    u = np.arange(1 << adc_bits) / ((1 << adc_bits) - 1)
    return np.polynomial.polynomial.polyval(u, np.asarray(inl).T).reshape(len(inl), -1)


@dataclass(frozen=True)
class AnalogPlanes:
    """One layer on one chip for the float path (what :func:`kernels.pack_levels` is for the integer one).

    g             (tiles, H, B) conductance minus the nominal ``G_min`` reference, level steps; row ``r``
                  of tile ``t`` is input row ``t * rows + r``; rows past the last input (and padding up to
                  ``H``, a multiple of :data:`GROUP`) are zero and never driven
    noise_var     (tiles, H, B) read-noise variance of each cell per unit input chunk, ``(s * G)**2``
                  (absolute conductance ``G``), or shape (0, 0, 0) without read noise
    adc_of        (B,) ADC of each bit line within its row tile; ``adcs_per_tile`` ADCs per row tile
    adc_gain, adc_offset  (tiles * adcs_per_tile,), or (0,) when the ADCs are ideal
    adc_inl       (tiles * adcs_per_tile, 5) INL polynomial of each ADC or (0, 5); see :func:`sample_adcs`
    noise_key     64-bit key of the read-noise stream
    reads         (1,) uint64, (sample, row tile, cycle) rows of read noise drawn so far: each call
                  continues the stream, so repeated calls on one chip see fresh noise (deterministically)
    """

    g: np.ndarray
    noise_var: np.ndarray
    adc_of: np.ndarray
    adcs_per_tile: int
    adc_gain: np.ndarray
    adc_offset: np.ndarray
    adc_inl: np.ndarray
    noise_key: int = 0
    reads: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.uint64), compare=False)

    @property
    def tiles(self) -> int:
        return self.g.shape[0]

    @property
    def n_bitlines(self) -> int:
        return self.g.shape[2]


GROUP = 4  # rows per lookup group: each group and bit line gets the 2**GROUP partial sums of its cells
LUT_BYTES = 1 << 20  # lookup tables of one block of bit lines (about the L2 cache of one core)
ACC_BYTES = 8 << 20  # accumulators of one parallel work item (samples x bit lines) stay below this


def analog_planes(
    conductance: np.ndarray, *, rows: int, cell_bits: int, dac_bits: int, on_off_ratio: float = np.inf,
    read_noise: float = 0.0, cols: int | None = None, cols_per_adc: int | None = None,
    adc_offset: float = 0.0, adc_gain_error: float = 0.0, adc_inl: float = 0.0,
    rng: np.random.Generator | None = None, noise_key: int = 0, dtype=None,
) -> AnalogPlanes:
    """Lay out absolute conductances (in, B) (from :func:`cell_conductances`) for :func:`mvm_float`.

    Subtracts the nominal ``G_min`` reference, tiles the rows, computes read-noise variances, and draws
    the static errors of the layer's ADCs (``rng``; ``cols``/``cols_per_adc`` say which bit lines share one).
    ``dtype`` defaults to float32 while the full scale is below ``2**24``, float64 above.
    """
    if read_noise < 0:
        raise ValueError(f"read_noise must be >= 0, got {read_noise}")
    n_in, n_bl = conductance.shape
    tiles = -(-n_in // rows)
    height = -(-min(rows, n_in) // GROUP) * GROUP
    if dtype is None:
        fs = rows * ((1 << cell_bits) - 1) * ((1 << dac_bits) - 1)
        dtype = np.float32 if fs < (1 << 24) else np.float64
    absolute = np.zeros((tiles, height, n_bl), dtype=np.float64)
    g = np.zeros((tiles, height, n_bl), dtype=dtype)
    g_min = g_min_steps(cell_bits, on_off_ratio)
    for t in range(tiles):
        part = conductance[t * rows:min(n_in, (t + 1) * rows)]
        absolute[t, :part.shape[0]] = part
        g[t, :part.shape[0]] = part - g_min
    if read_noise > 0:
        noise_var = ((read_noise * absolute) ** 2).astype(dtype)
    else:
        noise_var = np.zeros((0, 0, 0), dtype=dtype)
    cols = n_bl if cols is None else cols
    adc_of, per_tile = adc_layout(n_bl, cols, cols if cols_per_adc is None else cols_per_adc)
    if adc_offset or adc_gain_error or adc_inl:
        gain, offset, inl = sample_adcs(tiles * per_tile, offset_sigma=adc_offset, gain_sigma=adc_gain_error,
                                        inl_peak=adc_inl, rng=rng)
    else:
        gain, offset, inl = np.zeros(0), np.zeros(0), np.zeros((0, INL_DEGREE + 1))
    return AnalogPlanes(g, noise_var, adc_of, per_tile, gain, offset, inl, int(noise_key) & 0xFFFFFFFFFFFFFFFF)


@njit(cache=True, error_model="numpy")
def _build_lut(src, t, start, stop, lut):  # pragma: no cover - compiled
    """``lut[grp * 2**GROUP + pat, b]`` = sum of ``src[t, GROUP * grp + i, start + b]`` over the bits ``i`` set
    in ``pat``: one row per subset of a group's cells, so a column sum is one table row per group."""
    width = stop - start
    n_pat = 1 << GROUP
    for grp in range(lut.shape[0] // n_pat):
        base = grp * n_pat
        lut[base, :width] = 0.0
        for pat in range(1, n_pat):
            low = pat & -pat
            bit = 0
            while (low >> bit) != 1:
                bit += 1
            prev = lut[base + (pat ^ low), :width]
            cell = src[t, GROUP * grp + bit, start:stop]
            dst = lut[base + pat, :width]
            for b in range(width):
                dst[b] = prev[b] + cell[b]


@njit(cache=True, error_model="numpy")
def _pattern_list(xp, n, t, bit_a, bit_b, n_groups, idx):  # pragma: no cover - compiled
    """Table rows ``grp * 2**GROUP + pattern`` of the groups with rows driven in both input bit planes
    ``bit_a`` and ``bit_b`` (the same plane for column sums), padded with row 0 (all zeros) to a multiple
    of 8; returns the padded count (0 when no row is driven)."""
    n_pat = 1 << GROUP
    per_word = 64 // GROUP
    count = 0
    for w in range(xp.shape[3]):
        xw = xp[n, t, bit_a, w] & xp[n, t, bit_b, w]
        if xw == 0:
            continue
        for j in range(per_word):
            grp = w * per_word + j
            if grp >= n_groups:
                break
            pat = np.int64((xw >> np.uint64(GROUP * j)) & np.uint64(n_pat - 1))
            if pat != 0:
                idx[count] = grp * n_pat + pat
                count += 1
    if count == 0:
        return 0
    while count % 8:
        idx[count] = 0
        count += 1
    return count


@njit(cache=True, error_model="numpy", inline="always")
def _rows8(lut, idx, c):  # pragma: no cover - compiled
    """Table rows ``idx[c] .. idx[c + 7]`` (views)."""
    return (lut[idx[c]], lut[idx[c + 1]], lut[idx[c + 2]], lut[idx[c + 3]],
            lut[idx[c + 4]], lut[idx[c + 5]], lut[idx[c + 6]], lut[idx[c + 7]])


@njit(cache=True, error_model="numpy")
def _add_rows(lut, idx, count, scale, vb):  # pragma: no cover - compiled
    """``vb += scale * sum of lut[idx[:count]]``, eight rows per pass (one store per eight loads: the
    adds are bound by stores otherwise). Sums of integer levels stay exact in any order."""
    width = vb.shape[0]
    for c in range(0, count, 8):
        r0, r1, r2, r3, r4, r5, r6, r7 = _rows8(lut, idx, c)
        if scale == 1.0:
            for b in range(width):
                vb[b] += ((r0[b] + r1[b]) + (r2[b] + r3[b])) + ((r4[b] + r5[b]) + (r6[b] + r7[b]))
        else:
            for b in range(width):
                vb[b] += scale * (((r0[b] + r1[b]) + (r2[b] + r3[b])) + ((r4[b] + r5[b]) + (r6[b] + r7[b])))


@njit(cache=True, error_model="numpy", inline="always")
def _sum_convert(lut, idx, count, vb, pow2, inv_step, step, fmax, wk, ab):  # pragma: no cover - compiled
    """Column sums of one bit plane (``count`` table rows ``idx``, as :func:`_add_rows`) converted by an
    ideal ADC in the same pass (float64, as :func:`_convert`): ``ab += wk * code``; the last rows' sums
    never leave registers. ``vb`` is scratch. Returns the number of saturated conversions."""
    width = vb.shape[0]
    sat = 0
    last = count - 8
    for c in range(0, last, 8):
        r0, r1, r2, r3, r4, r5, r6, r7 = _rows8(lut, idx, c)
        if c == 0:
            for b in range(width):
                vb[b] = ((r0[b] + r1[b]) + (r2[b] + r3[b])) + ((r4[b] + r5[b]) + (r6[b] + r7[b]))
        else:
            for b in range(width):
                vb[b] += ((r0[b] + r1[b]) + (r2[b] + r3[b])) + ((r4[b] + r5[b]) + (r6[b] + r7[b]))
    if last == 0:
        vb[:] = 0.0
    r0, r1, r2, r3, r4, r5, r6, r7 = _rows8(lut, idx, last)
    w = ab.dtype.type(wk)
    if pow2:
        for b in range(width):
            s = vb[b] + (((r0[b] + r1[b]) + (r2[b] + r3[b])) + ((r4[b] + r5[b]) + (r6[b] + r7[b])))
            raw = np.floor(np.float64(s) * inv_step + 0.5)
            sat += raw > fmax
            ab[b] += w * min(raw, fmax)
    else:
        for b in range(width):
            s = vb[b] + (((r0[b] + r1[b]) + (r2[b] + r3[b])) + ((r4[b] + r5[b]) + (r6[b] + r7[b])))
            raw = np.floor(np.float64(s) / step + 0.5)
            sat += raw > fmax
            ab[b] += w * min(raw, fmax)
    return sat


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _convert(vb, var, z, noisy, step, gain, offset, has_adc, inl, has_inl, fmax, wk, ab):  # pragma: no cover
    """The ADC of one cycle on one block of bit lines, with read noise and ADC errors: ``ab += wk * code``.
    Returns the number of saturated conversions."""
    width = vb.shape[0]
    inv_max = 1.0 / fmax
    sat = 0
    for b in range(width):
        x = np.float64(vb[b])
        if noisy:  # one draw per column sum: Gaussian with the summed variance of the cells read
            x += np.sqrt(np.float64(var[b])) * np.float64(z[b])
        x = x / step
        if has_adc:
            x = x * gain[b] + offset[b]
            if has_inl:  # INL(u) = sum_j d_j u**j at u = clipped code / max_code
                u = min(max(x, 0.0), fmax) * inv_max
                x += inl[0, b] + u * (inl[1, b] + u * (inl[2, b] + u * (inl[3, b] + u * inl[4, b])))
        raw = np.floor(x + 0.5)
        sat += raw > fmax
        ab[b] += wk * min(max(raw, 0.0), fmax)
    return sat


@njit(cache=True, error_model="numpy")
def _float_chunk(xp, dac_bits, cycle_w, g, nv, step, max_code, adc_of, adcs_per_tile, gain, offset, inl,
                 key, first_row, members, sizes, out, coef, vote, pick, width_max, na, nb,
                 y, acc_zero):  # pragma: no cover - compiled
    """Samples ``na .. nb-1``: column sums, read noise, ADC, cycle weights, then the vote into ``y``.
    Returns the number of saturated conversions."""
    tiles, height, n_bl = g.shape
    n_cyc = cycle_w.shape[0]
    n_groups = height // GROUP
    has_noise = nv.shape[0] > 0
    has_adc = gain.shape[0] > 0
    has_inl = inl.shape[0] > 0
    fmax = np.float64(max_code)
    pow2 = step == np.floor(step) and (np.int64(step) & (np.int64(step) - 1)) == 0
    inv_step = 1.0 / step  # exact for a power of two
    pairs = dac_bits * (dac_bits + 1) // 2  # (p, q) bit pairs of one cycle, p <= q; (p, p) for sums
    nn = nb - na
    lut = np.empty((n_groups << GROUP, width_max), dtype=g.dtype)
    lut2 = np.empty(((n_groups << GROUP) if has_noise else 0, width_max), dtype=g.dtype)
    idx = np.empty((nn, n_cyc * pairs, n_groups + 8), dtype=np.int64)
    cnt = np.zeros((nn, n_cyc * pairs), dtype=np.int64)
    acc = np.empty((nn, n_bl), dtype=acc_zero.dtype)  # sums of integer codes: float32 where exact
    v = np.empty(width_max, dtype=g.dtype)
    var = np.empty(width_max, dtype=g.dtype)
    z_all = np.empty(width_max, dtype=np.float32)
    gain_b = np.empty(width_max, dtype=np.float64)
    offset_b = np.empty(width_max, dtype=np.float64)
    inl_b = np.empty((inl.shape[1], width_max), dtype=np.float64)
    sat = 0
    for t in range(tiles):
        # Which table rows every sample and cycle reads in this row tile (shared by all blocks).
        for n in range(na, nb):
            for k in range(n_cyc):
                pair = k * pairs
                for p in range(dac_bits):
                    for q in range(p, dac_bits):
                        if p == q or has_noise:
                            cnt[n - na, pair] = _pattern_list(xp, n, t, k * dac_bits + p, k * dac_bits + q,
                                                              n_groups, idx[n - na, pair])
                        pair += 1
        acc[:] = 0.0
        for start in range(0, n_bl, width_max):
            stop = min(n_bl, start + width_max)
            width = stop - start
            _build_lut(g, t, start, stop, lut)
            if has_noise:
                _build_lut(nv, t, start, stop, lut2)
            if has_adc:  # this block's ADC gains and offsets, one per bit line
                for b in range(width):
                    a = t * adcs_per_tile + adc_of[start + b]
                    gain_b[b] = gain[a]
                    offset_b[b] = offset[a]
                    if has_inl:
                        for j in range(inl.shape[1]):
                            inl_b[j, b] = inl[a, j]
            vb = v[:width]
            for n in range(na, nb):
                ab = acc[n - na, start:stop]
                if dac_bits == 1 and not has_noise and not has_adc:  # the common case, in one pass
                    for k in range(n_cyc):
                        c = cnt[n - na, k]
                        if c:  # else v = 0 converts to code 0
                            sat += _sum_convert(lut, idx[n - na, k], c, vb, pow2, inv_step, step, fmax,
                                                cycle_w[k], ab)
                    continue
                for k in range(n_cyc):
                    vb[:] = 0.0
                    driven = False
                    pair = k * pairs
                    for p in range(dac_bits):
                        c = cnt[n - na, pair]
                        if c:
                            driven = True
                            _add_rows(lut, idx[n - na, pair], c, np.float64(1 << p), vb)
                        pair += dac_bits - p
                    wk = np.float64(cycle_w[k])
                    if not has_noise and not has_adc:
                        if not driven:
                            continue  # v = 0 converts to code 0
                        if pow2:  # the integer kernel's exact rounding, in float
                            for b in range(width):
                                raw = np.floor(np.float64(vb[b]) * inv_step + 0.5)
                                sat += raw > fmax
                                ab[b] += wk * min(raw, fmax)
                        else:
                            for b in range(width):
                                raw = np.floor(np.float64(vb[b]) / step + 0.5)
                                sat += raw > fmax
                                ab[b] += wk * min(raw, fmax)
                        continue
                    if has_noise and driven:
                        # Variance sum_i chunk_i**2 (s G_i)**2, with chunk**2 = sum_{p,q} 2**(p+q) bit_p bit_q.
                        wb = var[:width]
                        wb[:] = 0.0
                        pair = k * pairs
                        for p in range(dac_bits):
                            for q in range(p, dac_bits):
                                c = cnt[n - na, pair]
                                if c:
                                    factor = np.float64(1 << (p + q)) * (1.0 if p == q else 2.0)
                                    _add_rows(lut2, idx[n - na, pair], c, factor, wb)
                                pair += 1
                        zb = z_all[:width]
                        fill_normals(key, first_row + np.uint64((n * tiles + t) * n_cyc + k), start, zb)
                    sat += _convert(vb, var, z_all, has_noise and driven, step, gain_b, offset_b, has_adc,
                                    inl_b, has_inl, fmax, wk, ab)
        # The digital vote and shift-and-add, in the same order as the integer kernel (_mvm_one_input).
        for n in range(na, nb):
            a_n = acc[n - na]
            y_row = y[n]
            for grp in range(members.shape[0]):
                y_row[out[grp]] += coef[grp] * (step * vote_group(a_n, members, sizes, vote, pick, t, grp))
    return sat


@njit(cache=True, parallel=True)
def _mvm_float(xp, dac_bits, cycle_w, g, nv, step, max_code, adc_of, adcs_per_tile, gain, offset, inl,
               key, first_row, members, sizes, out, coef, vote, pick, n_out, width, chunk, acc_zero):  # pragma: no cover
    batch = xp.shape[0]
    y = np.zeros((batch, n_out), dtype=np.float64)
    n_chunks = (batch + chunk - 1) // chunk
    sat = np.zeros(n_chunks, dtype=np.int64)
    for c in prange(n_chunks):
        sat[c] = _float_chunk(xp, dac_bits, cycle_w, g, nv, step, max_code, adc_of, adcs_per_tile, gain, offset,
                              inl, key, first_row, members, sizes, out, coef, vote, pick, width,
                              c * chunk, min(batch, (c + 1) * chunk), y, acc_zero)
    return y, sat.sum()


def block_width(n_groups: int, itemsize: int, tables: int) -> int:
    """Bit lines per block: the largest power of two (8 .. 256) whose lookup tables fit :data:`LUT_BYTES`."""
    per_line = max(1, n_groups << GROUP) * itemsize * tables
    width = 8
    while width < 256 and 2 * width * per_line <= LUT_BYTES:
        width *= 2
    return width


def mvm_float(
    x_int: np.ndarray, planes: AnalogPlanes, groups: BitlineGroups, n_out: int, *, rows: int, input_bits: int,
    dac_bits: int, cell_bits: int, signed_inputs: bool, adc_bits: int, step: float, mapping: str,
    weight_bits: int,
) -> tuple[np.ndarray, int]:
    """Integer inputs (batch, in) through the float path to outputs (batch, n_out), offset corrected.

    Same signature and result as :func:`kernels.crossbar.mvm_int` with ``planes`` (from
    :func:`analog_planes`) in place of the packed levels; equal to it when every effect is zero.
    Each call advances ``planes.reads`` so a later call draws fresh read noise.
    """
    x_int = np.asarray(x_int)
    tiles, _, n_bl = planes.g.shape
    if x_int.ndim != 2 or -(-x_int.shape[1] // rows) != tiles:
        raise ValueError(f"inputs of shape {x_int.shape} do not match the layer's {tiles} row tiles of {rows} rows")
    xp = pack_inputs(x_int, rows, input_bits, dac_bits)
    cycle_w = cycle_weights(input_bits, dac_bits, signed_inputs)
    pick = groups.pick if groups.pick is not None else np.zeros((tiles, len(groups.out)), np.int64)
    first_read = planes.reads[0]
    # Per bit line, the digital side adds integer codes times cycle weights: float32 holds that exactly
    # while its largest magnitude stays below 2**24 (8-bit inputs and ADC: 2**16), and halves the traffic.
    exact_f32 = ((1 << adc_bits) - 1) * int(np.abs(cycle_w).sum()) < (1 << 24)
    acc_dtype = np.float32 if exact_f32 else np.float64
    batch = x_int.shape[0]
    # Samples per parallel work item: a few items per thread, each at most ACC_BYTES of accumulators.
    chunk = max(1, min(-(-batch // (2 * get_num_threads())), ACC_BYTES // (8 * n_bl)))
    width = block_width(planes.g.shape[1] // GROUP, planes.g.itemsize, 2 if planes.noise_var.shape[0] else 1)
    y, saturated = _mvm_float(
        xp, dac_bits, cycle_w, planes.g, planes.noise_var, float(step), (1 << adc_bits) - 1, planes.adc_of,
        planes.adcs_per_tile, planes.adc_gain, planes.adc_offset, planes.adc_inl, np.uint64(planes.noise_key),
        np.uint64(first_read), groups.members, groups.sizes, groups.out, groups.coef, groups.vote,
        np.ascontiguousarray(pick, dtype=np.int64), n_out, width, chunk, np.zeros(1, dtype=acc_dtype),
    )
    planes.reads[0] = first_read + np.uint64(batch * tiles * len(cycle_w))
    if mapping == "offset":
        y -= float(1 << (weight_bits - 1)) * x_int.astype(np.int64).sum(axis=1, keepdims=True)
    return y, int(saturated)
