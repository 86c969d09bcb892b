# Longer than 600 lines because every analog effect (drift, programming variation, stuck spread, read noise) acts
# inside the same compiled column-sum loop, one function per path to stay fast; split, the loop would be copied.
"""The float column-sum path: the crossbar of ``docs/crossbar.md`` with analog non-idealities.

The integer popcount path (:mod:`kernels.crossbar`) is the exact model: every cell holds its integer
level. This path replaces each cell's level by a float conductance and adds the effects the integer
model cannot express. Everything else is the same as the integer path: bit lines ``(in, B)``, row tiles,
bit-serial input cycles, one ADC conversion per (row tile, bit line, cycle) with the same transfer
function, the same cycle weights, the same digital correction of flipped bit lines (:mod:`kernels.flip`:
the conductances are those of the stored, complemented levels) and the same groups and votes (copies
and protection work unchanged).
With every effect at zero the result equals the integer path bit for bit (a test pins this).

Units. Conductances are in units of the level step ``dG = (G_max - G_min) / L`` with ``L = 2**cell_bits - 1``,
measured from zero conductance: a cell at level ``l`` conducts ``G_min + l`` steps, and the finite on/off
ratio ``r = G_max / G_min`` gives ``G_min = L / (r - 1)`` steps (``r = inf``: ``G_min = 0``).

Order of the effects on one chip (all per cell unless said otherwise):
1. Stuck-at faults (from the chip's fault map): SA0 cells sit at ``G_min`` (level 0), SA1 cells at
   ``G_max``, or, with a stuck-level spread ``u``, at ``G_nom * (1 + u * N(0, 1))`` clipped at zero (from
   their own stream: the draw is per stuck cell). Stuck cells are not programmed: they get no programming
   variation and no drift.
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

How the column sums are computed. Rows are taken in groups of :data:`GROUP` (8); for every group and
block of :data:`LANES` (16) bit lines, a table holds the 256 sums of the group's conductances over every
subset of its rows, one 64-byte vector per subset (256 KB for a 128-row tile, in L2), built once per
block, row tile and pass of up to :data:`PASS_SAMPLES` samples. A column sum for one input bit plane is
then one table row per group, chosen by the group's 8 input bits: 16 vector loads and adds for 16 bit
lines of a 128-row tile instead of 2048 multiply-adds. Workers take blocks of bit lines in turn. The
tables and sums are LLVM vector code (:func:`_build_group`, :func:`_sums_adc`); with a 1-bit DAC,
read noise, the ADC and the cycle weights act on the sums while they are in registers, one call per
sample and block. Multi-bit DAC chunks add the bit planes with weights ``2**p``;
read-noise variances use a second table of ``(s G)**2`` and, for multi-bit chunks, the products of
bit planes (``chunk**2 = sum_{p,q} 2**(p+q) bit_p bit_q``).

Float precision: column sums accumulate in float32 while the full scale is below ``2**24`` (exact for
integer levels, so zero effects are still exact), float64 above; the ADC arithmetic is float64, read
noise draws are float32.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from llvmlite import ir
from numba import get_num_threads, njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from kernels.bitlines import BitlineGroups, flip_array
from kernels.flip import flip_values, tile_input_sum
from kernels.vote import vote_group
from kernels.dac import cycle_weights, pack_inputs
from kernels.rng import index_bits, normal_from_bits, row_keys

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
    stuck_spread: float = 0.0, stuck_rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Absolute conductance of every cell in level steps (float64, shape of ``levels``).

    levels        cell levels after stuck-at faults (uint8, any shape)
    stuck         bool mask of stuck cells (same shape) or None; stuck cells get neither variation nor drift
    sigma_per_level  programming variation as a fraction of the range: a number or one per level
    nu_per_level  drift exponent: a number or one per level
    drift_ratio   ``t / t0`` (1 = no drift)
    rng           generator for the variation draws (one standard normal per cell, drawn for every cell
                  whatever its fault state, so the variation of a cell does not depend on the fault map)
    stuck_spread  sigma of a stuck cell's conductance relative to its nominal ``G_min`` / ``G_max``
    stuck_rng     generator for those draws (one standard normal per stuck cell, in C order)
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
    if stuck_spread:
        if not stuck_spread > 0:
            raise ValueError(f"stuck_spread must be >= 0 (relative to the nominal conductance), got {stuck_spread}")
        if stuck_rng is None:
            raise ValueError("a stuck-level spread needs a random generator (stuck_rng)")
        if stuck is not None and stuck.any():
            nominal = g[stuck]  # untouched so far: no variation, no drift on stuck cells
            g[stuck] = np.maximum(nominal * (1.0 + stuck_spread * stuck_rng.standard_normal(nominal.size)), 0.0)
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

    g             (tiles, H, W) conductance minus the nominal ``G_min`` reference, level steps; row ``r``
                  of tile ``t`` is input row ``t * rows + r``; rows past the last input (and padding up to
                  ``H``, a multiple of :data:`GROUP`) are zero and never driven; bit lines are padded with
                  zeros up to ``W``, a multiple of :data:`LANES`
    noise_var     (tiles, H, W) read-noise variance of each cell per unit input chunk, ``(s * G)**2``
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
        return len(self.adc_of)


GROUP = 8  # rows per table group: a group's table holds the sums of its cells over all 256 subsets
LANES = 16  # bit lines per block: one table row is one 64-byte vector (float32)
PASS_SAMPLES = 256  # samples per pass: their table rows are listed and their accumulators kept at once


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
    width = -(-n_bl // LANES) * LANES  # bit lines padded to whole blocks (zero conductance, never read)
    absolute = np.zeros((tiles, height, width), dtype=np.float64)
    g = np.zeros((tiles, height, width), dtype=dtype)
    g_min = g_min_steps(cell_bits, on_off_ratio)
    for t in range(tiles):
        part = conductance[t * rows:min(n_in, (t + 1) * rows)]
        absolute[t, :part.shape[0], :n_bl] = part
        g[t, :part.shape[0], :n_bl] = part - g_min
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


def _vector_type(context, dtype):
    return ir.VectorType(context.get_data_type(dtype), LANES)


# LLVM vector code for the inner loops: Numba would check bounds and aliasing for every 16-wide row.
F64 = ir.DoubleType()
I64 = ir.IntType(64)
F64_VECTOR = ir.VectorType(F64, LANES)


def _align(vtype) -> int:
    """Bytes of one lane of ``vtype`` (the alignment of a row that starts anywhere in an array)."""
    element = vtype.element
    return 8 if isinstance(element, ir.DoubleType) else 4 if isinstance(element, ir.FloatType) else element.width // 8


def _splat(builder, value, vtype=F64_VECTOR):
    """``value`` in every lane of ``vtype``."""
    first = builder.insert_element(ir.Constant(vtype, None), value, ir.Constant(I64, 0))
    return builder.shuffle_vector(first, ir.Constant(vtype, None),
                                  ir.Constant(ir.VectorType(ir.IntType(32), LANES), None))


def _llvm_function(builder, name, n_args, vtype=F64_VECTOR):
    suffix = f"v{LANES}f64" if vtype == F64_VECTOR else f"i{LANES}"
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(vtype, [vtype] * n_args),
                                          f"llvm.{name}.{suffix}")


def _row_sums(context, builder, tables, slots, rows, idx_dtype, first, count):
    """The sums of table rows ``rows[first + c]``, ``c < count`` (a multiple of 4), of each of ``tables``
    (vector pointers), in four running sums each (``slots``: 4 allocas per table); returns one vector
    per table."""
    vt = tables[0].type.pointee
    align = _align(vt)
    for table_slots in slots:
        for slot in table_slots:
            builder.store(ir.Constant(vt, None), slot)
    with cgutils.for_range(builder, builder.udiv(count, ir.Constant(I64, 4))) as loop:
        for j in range(4):
            c = builder.add(first, builder.add(builder.mul(loop.index, ir.Constant(I64, 4)), ir.Constant(I64, j)))
            row = context.cast(builder, builder.load(builder.gep(rows, [c])), idx_dtype, types.int64)
            for table, table_slots in zip(tables, slots):
                value = builder.load(builder.gep(table, [row]), align=align)
                builder.store(builder.fadd(builder.load(table_slots[j]), value), table_slots[j])
    return [builder.fadd(builder.fadd(builder.load(s[0]), builder.load(s[1])),
                         builder.fadd(builder.load(s[2]), builder.load(s[3]))) for s in slots]


def _table_pointer(context, builder, array_type, value):
    array = context.make_array(array_type)(context, builder, value)
    return array, builder.bitcast(array.data, _vector_type(context, array_type.dtype).as_pointer())


@intrinsic
def _table_sum(typingctx, lut, idx, count, out):
    """``out[:LANES] = sum of lut[idx[c]]`` over ``c < count`` (a multiple of 4). ``lut`` (rows, LANES)."""
    if not (isinstance(lut, types.Array) and lut.ndim == 2 and lut.layout == "C" and isinstance(out, types.Array)
            and out.dtype == lut.dtype and isinstance(idx, types.Array) and isinstance(idx.dtype, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        lut_t, idx_t, count_t, out_t = signature.args
        _, table = _table_pointer(context, builder, lut_t, args[0])
        slots = [[cgutils.alloca_once(builder, table.type.pointee) for _ in range(4)]]
        rows = context.make_array(idx_t)(context, builder, args[1]).data
        count = context.cast(builder, args[2], count_t, types.int64)
        (total,) = _row_sums(context, builder, [table], slots, rows, idx_t.dtype, ir.Constant(I64, 0), count)
        _, target = _table_pointer(context, builder, out_t, args[3])
        builder.store(total, target, align=_align(total.type))
        return context.get_dummy_value()

    return types.void(lut, idx, count, out), codegen


@intrinsic
def _sums_adc(typingctx, lut, lut2, idx, cnt, z, w, inv_step, step, pow2, fmax, gain, offset, inl, has_adc, has_inl,
              real, ab):
    """Every cycle of one sample (1-bit DAC) in registers: the column sums ``v`` and their read-noise
    variances ``q`` from the tables ``lut`` / ``lut2`` (rows ``idx[k, :cnt[k]]``; ``lut2`` empty: no
    noise), ``x = (v + sqrt(q) z) / step`` (times ``inv_step`` when ``pow2``: the same, exactly),
    ``x = x gain + offset`` when ``has_adc``, plus the INL polynomial ``inl`` (5, LANES) when ``has_inl``,
    ``code = clip(floor(x + 1/2), 0, fmax)``, and ``ab += sum_k w[k] code`` (codes are integers: the
    sum is exact in any order). ``gain``, ``offset``, ``real`` (not padding) per bit line; ``z`` the
    draws, element ``k * LANES + b``. All float64 after the sums. Returns the saturated conversions of
    real bit lines. Each combination of effects gets its own loop, free of branches inside."""
    if not (isinstance(lut, types.Array) and lut.ndim == 2 and lut.layout == "C" and isinstance(ab, types.Array)
            and isinstance(idx, types.Array) and idx.ndim == 2 and idx.layout == "C" and lut2.dtype == lut.dtype):
        return None

    def codegen(context, builder, signature, args):
        arg_types = signature.args
        idx_t, cnt_t, z_t, w_t, ab_t = (arg_types[i] for i in (2, 3, 4, 5, 16))
        mask = ir.IntType(LANES)

        def data(i):
            return context.make_array(arg_types[i])(context, builder, args[i]).data

        def vector_at(ptr, vtype):
            return builder.load(builder.bitcast(ptr, vtype.as_pointer()), align=_align(vtype))

        def as_f64(vec):
            return vec if vec.type == F64_VECTOR else builder.fpext(vec, F64_VECTOR)

        def flag(i):
            return context.cast(builder, args[i], arg_types[i], types.boolean)

        fma, floor, sqrt = (_llvm_function(builder, name, n) for name, n in (("fma", 3), ("floor", 1), ("sqrt", 1)))
        ctpop = _llvm_function(builder, "ctpop", 1, mask)
        _, table = _table_pointer(context, builder, arg_types[0], args[0])
        lut2_a, table2 = _table_pointer(context, builder, arg_types[1], args[1])
        noisy = builder.icmp_signed(">", builder.extract_value(lut2_a.shape, 0), ir.Constant(I64, 0))
        idx_a = context.make_array(idx_t)(context, builder, args[2])
        rows, width = idx_a.data, builder.extract_value(idx_a.shape, 1)
        cnt_a = context.make_array(cnt_t)(context, builder, args[3])
        counts, n_cycles = cnt_a.data, builder.extract_value(cnt_a.shape, 0)
        draws, weights = data(4), data(5)
        scale, step, top = _splat(builder, args[6]), _splat(builder, args[7]), _splat(builder, args[9])
        half, zero = _splat(builder, ir.Constant(F64, 0.5)), ir.Constant(F64_VECTOR, None)
        slots = [[cgutils.alloca_once(builder, table.type.pointee) for _ in range(4)] for _ in range(2)]
        total = cgutils.alloca_once_value(builder, zero)
        saturated = cgutils.alloca_once_value(builder, ir.Constant(I64, 0))

        def cycles(noise: bool, multiply: bool, adc: bool, with_inl: bool):
            """The loop over cycles, specialised (branch-free inside) for one combination of effects."""
            if adc:  # ADC errors, and which bit lines are padding (an offset could saturate those)
                gain, offset = vector_at(data(10), F64_VECTOR), vector_at(data(11), F64_VECTOR)
                inl_rows = builder.bitcast(data(12), F64_VECTOR.as_pointer())
                inv_top = builder.fdiv(_splat(builder, ir.Constant(F64, 1.0)), top)
                bytes_t = ir.VectorType(ir.IntType(8), LANES)
                real = builder.icmp_unsigned("!=", vector_at(data(15), bytes_t), ir.Constant(bytes_t, None))
            with cgutils.for_range(builder, n_cycles) as cycle:
                k = cycle.index
                count = context.cast(builder, builder.load(builder.gep(counts, [k])), cnt_t.dtype, types.int64)
                first = builder.mul(k, width)
                if noise:
                    v, q = _row_sums(context, builder, [table, table2], slots, rows, idx_t.dtype, first, count)
                    draw = vector_at(builder.gep(draws, [builder.mul(k, ir.Constant(I64, LANES))]),
                                     _vector_type(context, z_t.dtype))
                    # one draw per column sum: Gaussian with the summed variance of the cells read
                    x = builder.call(fma, [builder.call(sqrt, [as_f64(q)]), as_f64(draw), as_f64(v)])
                else:
                    (v,) = _row_sums(context, builder, [table], slots[:1], rows, idx_t.dtype, first, count)
                    x = as_f64(v)
                x = builder.fmul(x, scale) if multiply else builder.fdiv(x, step)
                if adc:
                    x = builder.call(fma, [x, gain, offset])
                if adc and with_inl:  # INL(u) = sum_j d_j u**j at u = clipped code / max_code
                    clipped = builder.select(builder.fcmp_ordered(">", x, top), top,
                                             builder.select(builder.fcmp_ordered("<", x, zero), zero, x))
                    u = builder.fmul(clipped, inv_top)
                    poly = builder.load(builder.gep(inl_rows, [ir.Constant(I64, 4)]), align=8)
                    for j in (3, 2, 1, 0):
                        coefficient = builder.load(builder.gep(inl_rows, [ir.Constant(I64, j)]), align=8)
                        poly = builder.call(fma, [u, poly, coefficient])
                    x = builder.fadd(x, poly)
                raw = builder.call(floor, [builder.fadd(x, half)])
                over = builder.fcmp_ordered(">", raw, top)
                counted = builder.zext(builder.call(ctpop, [builder.bitcast(builder.and_(over, real) if adc else over,
                                                                           mask)]), I64)
                builder.store(builder.add(builder.load(saturated), counted), saturated)
                code = builder.select(over, top, builder.select(builder.fcmp_ordered("<", raw, zero), zero, raw))
                weight = context.cast(builder, builder.load(builder.gep(weights, [k])), w_t.dtype, types.float64)
                builder.store(builder.call(fma, [_splat(builder, weight), code, builder.load(total)]), total)

        def branch(conditions, chosen=()):
            if not conditions:
                cycles(*chosen)
                return
            with builder.if_else(conditions[0]) as (yes, no):
                for taken, block in ((True, yes), (False, no)):
                    with block:
                        branch(conditions[1:], chosen + (taken,))

        # noise, multiply (power-of-two step), ADC gain/offset, INL (only with ADC errors)
        branch([noisy, flag(8), flag(13), builder.and_(flag(13), flag(14))])
        _, target = _table_pointer(context, builder, ab_t, args[16])
        old = vector_at(target, target.type.pointee)
        new = builder.fadd(as_f64(old), builder.load(total))
        builder.store(new if old.type == F64_VECTOR else builder.fptrunc(new, old.type), target,
                      align=_align(old.type))
        return builder.load(saturated)

    return types.int64(lut, lut2, idx, cnt, z, w, inv_step, step, pow2, fmax, gain, offset, inl, has_adc, has_inl,
                       real, ab), codegen


@intrinsic
def _build_group(typingctx, src, t, row0, start, lut, base):
    """Table rows ``base .. base+255`` of one group: ``lut[base + 16 h + l] = lo[l] + hi[h]``, where
    ``lo[l]`` / ``hi[h]`` sum the cells ``src[t, row0 + i, start:start + LANES]`` over the bits ``i`` set
    in ``l`` (rows 0-3) / ``h`` (rows 4-7), each built from the subset without its lowest bit."""
    if not (isinstance(src, types.Array) and src.ndim == 3 and src.layout == "C"
            and isinstance(lut, types.Array) and lut.ndim == 2 and lut.layout == "C" and lut.dtype == src.dtype):
        return None

    def codegen(context, builder, signature, args):
        src_t, t_t, row_t, start_t, lut_t, base_t = signature.args
        vt = _vector_type(context, src_t.dtype)
        align = _align(vt)
        src_a = context.make_array(src_t)(context, builder, args[0])
        intp = context.get_value_type(types.intp)
        t_v, row_v, start_v = (context.cast(builder, a, ty, types.intp)
                               for a, ty in zip(args[1:4], (t_t, row_t, start_t)))
        cells = []
        for i in range(GROUP):
            ptr = cgutils.get_item_pointer(context, builder, src_t, src_a,
                                           [t_v, builder.add(row_v, ir.Constant(intp, i)), start_v])
            cells.append(builder.load(builder.bitcast(ptr, vt.as_pointer()), align=align))
        halves = []
        for first in (0, GROUP // 2):
            sums = [ir.Constant(vt, None)]
            for pattern in range(1, 1 << (GROUP // 2)):
                low = pattern & -pattern
                sums.append(builder.fadd(sums[pattern ^ low], cells[first + low.bit_length() - 1]))
            halves.append(sums)
        lo, hi = halves
        _, table = _table_pointer(context, builder, lut_t, args[4])
        base = context.cast(builder, args[5], base_t, types.intp)
        for h in range(len(hi)):
            for low_pattern in range(len(lo)):
                row = builder.add(base, ir.Constant(intp, h * len(lo) + low_pattern))
                value = lo[low_pattern] if h == 0 else builder.fadd(lo[low_pattern], hi[h])
                builder.store(value, builder.gep(table, [row]), align=align)
        return context.get_dummy_value()

    return types.void(src, t, row0, start, lut, base), codegen


@njit(cache=True, error_model="numpy")
def _build_table(src, t, start, lut):  # pragma: no cover - compiled
    """The table of one block of bit lines in row tile ``t``: ``lut[grp * 256 + pattern]`` is the sum of
    the group's cells whose bits are set in ``pattern`` (row ``i`` of the group is bit ``i``)."""
    for grp in range(lut.shape[0] >> GROUP):
        _build_group(src, t, grp * GROUP, start, lut, grp << GROUP)


@njit(cache=True, error_model="numpy")
def _pattern_list(xp, n, t, bit_a, bit_b, n_groups, idx):  # pragma: no cover - compiled
    """Table rows ``grp * 256 + pattern`` of the groups with rows driven in both input bit planes
    ``bit_a`` and ``bit_b`` (the same plane for column sums), padded with row 0 (all zeros) to a multiple
    of 4; returns the padded count (0 when no row is driven)."""
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
    while count % 4:
        idx[count] = 0
        count += 1
    return count


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _convert(v, var, z, noisy, step, gain, offset, has_adc, inl, has_inl, fmax, w, codes, real):  # pragma: no cover
    """The ADC with read noise and ADC errors on column sums ``v`` (multi-bit DACs): ``codes = w * code``
    element by element (``w`` per element; ``gain``, ``offset``, ``inl`` and ``real``, whether the bit
    line is not padding, per bit line). Returns the number of saturated conversions of real bit lines."""
    inv_max = 1.0 / fmax
    sat = 0
    for i in range(v.shape[0]):
        b = i % LANES
        x = np.float64(v[i])
        if noisy:  # one draw per column sum: Gaussian with the summed variance of the cells read
            x += np.sqrt(np.float64(var[i])) * np.float64(z[i])
        x = x / step
        if has_adc:
            x = x * gain[b] + offset[b]
            if has_inl:  # INL(u) = sum_j d_j u**j at u = clipped code / max_code
                u = min(max(x, 0.0), fmax) * inv_max
                x += inl[0, b] + u * (inl[1, b] + u * (inl[2, b] + u * (inl[3, b] + u * inl[4, b])))
        raw = np.floor(x + 0.5)
        sat += (raw > fmax) & real[b]
        codes[i] = w[i] * min(max(raw, 0.0), fmax)
    return sat


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _block(idx, cnt, n_samples, t, start, lut, lut2, dac_bits, step, fmax, cycle_w, w, gain, offset, inl, real,
           has_adc, has_inl, key, first_row, tiles, n0, acc, v, var, part, z, codes):  # pragma: no cover - compiled
    """One block of LANES bit lines in row tile ``t``, for the pass's samples: column sums from the
    table(s), read noise, ADC and cycle weights into ``acc[n, start:start + LANES]``. Buffers hold every
    cycle of one sample, element ``k * LANES + b`` (cycle ``k``, bit line ``b``); ``w``, ``gain``,
    ``offset``, ``inl`` and ``real`` are laid out the same way. Returns the saturated conversions."""
    n_cyc = w.shape[0] // LANES
    pairs = dac_bits * (dac_bits + 1) // 2
    has_noise = lut2.shape[0] > 0
    pow2 = step == np.floor(step) and (np.int64(step) & (np.int64(step) - 1)) == 0
    inv_step = 1.0 / step  # exact for a power of two
    sat = 0
    for n in range(n_samples):
        ab = acc[n, start:start + LANES]
        if has_noise:  # kernels.rng.fill_normals' draws, with the 16-lane loop length known here
            for k in range(n_cyc):
                k1, k2 = row_keys(key, first_row + np.uint64(((n0 + n) * tiles + t) * n_cyc + k))
                for b in range(LANES):
                    z[k * LANES + b] = normal_from_bits(index_bits(k1, k2, start + b))
        if dac_bits == 1:  # the sums, read noise and ADC in registers, one call per sample
            sat += _sums_adc(lut, lut2, idx[n], cnt[n], z, cycle_w, inv_step, step, pow2, fmax, gain, offset,
                             inl, has_adc, has_inl, real, ab)
            continue
        # Multi-bit DAC: column sums add the bit planes of a cycle, 2**p; variances their pairs
        # (chunk**2 = sum_{p,q} 2**(p+q) bit_p bit_q).
        v[:] = 0.0
        var[:] = 0.0
        for k in range(n_cyc):
            o = k * LANES
            pair = k * pairs
            for p in range(dac_bits):
                for q in range(p, dac_bits):
                    c = cnt[n, pair]
                    if c and p == q:
                        _table_sum(lut, idx[n, pair], c, part)
                        scale = np.float64(1 << p)
                        for b in range(LANES):
                            v[o + b] += scale * part[b]
                    if c and has_noise:
                        _table_sum(lut2, idx[n, pair], c, part)
                        factor = np.float64(1 << (p + q)) * (1.0 if p == q else 2.0)
                        for b in range(LANES):
                            var[o + b] += factor * part[b]
                    pair += 1
        sat += _convert(v, var, z, has_noise, step, gain, offset, has_adc, inl, has_inl, fmax, w, codes, real)
        for k in range(n_cyc):  # cycle by cycle, as the integer kernel adds them
            for b in range(LANES):
                ab[b] += codes[k * LANES + b]
    return sat


@njit(cache=True, parallel=True)
def _mvm_float(xp, dac_bits, cycle_w, g, nv, step, max_code, n_bl, adc_of, adcs_per_tile, gain, offset, inl,
               key, first_row, members, sizes, out, coef, vote, pick, n_out, flip, top, acc_zero,
               workers):  # pragma: no cover
    batch = xp.shape[0]
    tiles, height, width = g.shape
    n_groups = height // GROUP
    n_cyc = cycle_w.shape[0]
    pairs = dac_bits * (dac_bits + 1) // 2
    has_noise = nv.shape[0] > 0
    has_adc = gain.shape[0] > 0
    has_inl = inl.shape[0] > 0
    fmax = np.float64(max_code)
    n_blocks = width // LANES
    y = np.zeros((batch, n_out), dtype=np.float64)
    sat = np.zeros(workers, dtype=np.int64)
    idx = np.zeros((PASS_SAMPLES, n_cyc * pairs, n_groups + 4), dtype=np.int32)
    cnt = np.zeros((PASS_SAMPLES, n_cyc * pairs), dtype=np.int64)
    acc = np.empty((PASS_SAMPLES, width), dtype=acc_zero.dtype)
    cycle_wf = cycle_w.astype(np.float64)
    w = np.empty(n_cyc * LANES, dtype=np.float64)  # cycle weight of each element k * LANES + b
    for k in range(n_cyc):
        w[k * LANES:(k + 1) * LANES] = cycle_wf[k]
    for n0 in range(0, batch, PASS_SAMPLES):
        n_samples = min(PASS_SAMPLES, batch - n0)
        for t in range(tiles):
            # Which table rows every sample and cycle reads in this row tile (shared by all blocks).
            for n in prange(n_samples):
                for k in range(n_cyc):
                    pair = k * pairs
                    for p in range(dac_bits):
                        for q in range(p, dac_bits):
                            if p == q or has_noise:
                                cnt[n, pair] = _pattern_list(xp, n0 + n, t, k * dac_bits + p, k * dac_bits + q,
                                                             n_groups, idx[n, pair])
                            pair += 1
            acc[:n_samples] = 0.0
            # Blocks of bit lines, interleaved over the workers: each builds its block's table once
            # for all the pass's samples (the table of 16 groups is 256 KB of float32, in L2).
            for worker in prange(workers):
                lut = np.empty((n_groups << GROUP, LANES), dtype=g.dtype)
                lut2 = np.empty(((n_groups << GROUP) if has_noise else 0, LANES), dtype=g.dtype)
                flat = n_cyc * LANES
                v = np.empty(flat, dtype=g.dtype)
                var = np.zeros(flat, dtype=g.dtype)
                part = np.empty(LANES, dtype=g.dtype)
                z = np.zeros(flat, dtype=np.float32)
                codes = np.empty(flat, dtype=acc_zero.dtype)
                gain_b = np.ones(LANES)  # this block's ADC errors and padding, per bit line
                offset_b = np.zeros(LANES)
                inl_b = np.zeros((inl.shape[1], LANES))
                real = np.zeros(LANES, dtype=np.bool_)
                for blk in range(worker, n_blocks, workers):
                    start = blk * LANES
                    _build_table(g, t, start, lut)
                    if has_noise:
                        _build_table(nv, t, start, lut2)
                    for b in range(LANES):
                        real[b] = start + b < n_bl
                        if has_adc and real[b]:
                            a = t * adcs_per_tile + adc_of[start + b]
                            gain_b[b] = gain[a]
                            offset_b[b] = offset[a]
                            for j in range(inl.shape[1] if has_inl else 0):
                                inl_b[j, b] = inl[a, j]
                    sat[worker] += _block(idx, cnt, n_samples, t, start, lut, lut2, dac_bits, step, fmax, cycle_wf,
                                          w, gain_b, offset_b, inl_b, real, has_adc, has_inl, key, first_row, tiles,
                                          n0, acc, v, var, part, z, codes)
            # The flip correction, vote and shift-and-add, in the integer kernel's order
            # (kernels.crossbar.mvm_packed).
            for n in prange(n_samples):
                a_n = acc[n]
                y_row = y[n0 + n]
                if flip.shape[0] > 0:
                    values = np.empty(n_bl, dtype=np.float64)
                    flip_values(a_n[:n_bl], flip[t], top * np.float64(tile_input_sum(xp, n0 + n, t, cycle_w, dac_bits)),
                                step, values)
                    for grp in range(members.shape[0]):
                        y_row[out[grp]] += coef[grp] * (1.0 * vote_group(values, members, sizes, vote, pick, t, grp))
                    continue
                for grp in range(members.shape[0]):
                    y_row[out[grp]] += coef[grp] * (step * vote_group(a_n, members, sizes, vote, pick, t, grp))
    return y, sat.sum()


def mvm_float(
    x_int: np.ndarray, planes: AnalogPlanes, groups: BitlineGroups, n_out: int, *, rows: int, input_bits: int,
    dac_bits: int, cell_bits: int, signed_inputs: bool, adc_bits: int, step: float, mapping: str,
    weight_bits: int,
) -> tuple[np.ndarray, int]:
    """Integer inputs (batch, in) through the float path to outputs (batch, n_out), offset corrected.

    Same signature and result as :func:`kernels.crossbar.mvm_int` with ``planes`` (from
    :func:`analog_planes`, of the stored levels: complemented where ``groups.flip`` says) in place of the
    packed levels; equal to it when every effect is zero.
    Each call advances ``planes.reads`` so a later call draws fresh read noise.
    """
    x_int = np.asarray(x_int)
    tiles = planes.tiles
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
    y, saturated = _mvm_float(
        xp, dac_bits, cycle_w, planes.g, planes.noise_var, float(step), (1 << adc_bits) - 1, planes.n_bitlines,
        planes.adc_of, planes.adcs_per_tile, planes.adc_gain, planes.adc_offset, planes.adc_inl,
        np.uint64(planes.noise_key), np.uint64(first_read), groups.members, groups.sizes, groups.out, groups.coef,
        groups.vote, np.ascontiguousarray(pick, dtype=np.int64), n_out, flip_array(groups, tiles, planes.n_bitlines),
        np.float64((1 << cell_bits) - 1), np.zeros(1, dtype=acc_dtype), get_num_threads(),
    )
    planes.reads[0] = first_read + np.uint64(batch * tiles * len(cycle_w))
    if mapping == "offset":
        y -= float(1 << (weight_bits - 1)) * x_int.astype(np.int64).sum(axis=1, keepdims=True)
    return y, int(saturated)
