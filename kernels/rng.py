"""Counter-based standard normal draws for Numba kernels: ``z = N(key, counter)``.

A draw depends only on a 64-bit ``key`` (one per chip and layer) and a 64-bit ``counter`` (which read it
is), never on thread scheduling or the order in which reads are simulated, so results are the same for
any number of threads and processes. The counter is hashed (SplitMix64 finaliser, Steele et al. 2014)
into a 53-bit uniform ``u`` and mapped through the inverse normal CDF ``z = sqrt(2) erfinv(2u - 1)``,
with ``erfinv`` from Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011; the
single-precision version, relative error below 4e-7, ample for noise). Everything is branch-free
arithmetic (the logarithm is computed from the float's bits), so LLVM vectorises loops of draws;
kernels using these functions must be compiled with ``error_model='numpy'`` (no zero-division checks,
which would stop vectorisation).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_FAST = dict(inline="always", error_model="numpy")


@intrinsic
def _f64_bits(typingctx, x):
    """The IEEE-754 bit pattern of a float64, as uint64."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.uint64(types.float64), codegen


@intrinsic
def _bits_f64(typingctx, x):
    """The float64 whose bit pattern is the uint64 ``x``."""
    if x != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.uint64), codegen


@njit(**_FAST)
def mix64(x):  # pragma: no cover - compiled
    """SplitMix64 finaliser: a bijective 64-bit hash with full avalanche."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


@njit(**_FAST)
def uniform(key, counter):  # pragma: no cover - compiled
    """A uniform in (0, 1) (53 bits, never 0 or 1): output ``counter`` of SplitMix64 seeded with ``key``."""
    h = mix64(key + counter * np.uint64(0x9E3779B97F4A7C15))  # SplitMix64: state key + counter * gamma
    return (np.float64(np.int64(h >> np.uint64(11))) + 0.5) * (1.0 / 9007199254740992.0)


@njit(**_FAST)
def log_positive(x):  # pragma: no cover - compiled
    """Natural log of a positive, normal float64 (absolute error below 2e-14), branch-free."""
    bits = _f64_bits(x)
    e = np.float64(np.int64(bits >> np.uint64(52))) - 1023.0
    m = _bits_f64((bits & np.uint64(0xFFFFFFFFFFFFF)) | np.uint64(0x3FF0000000000000))  # [1, 2)
    big = np.float64(m > 1.4142135623730951)
    m = m * (1.0 - 0.5 * big)  # [sqrt(1/2), sqrt(2))
    e = e + big
    f = m - 1.0
    s = f / (2.0 + f)  # log(m) = 2 atanh(s), |s| < 0.172
    s2 = s * s
    p = 1.0 / 17.0
    p = p * s2 + 1.0 / 15.0
    p = p * s2 + 1.0 / 13.0
    p = p * s2 + 1.0 / 11.0
    p = p * s2 + 1.0 / 9.0
    p = p * s2 + 1.0 / 7.0
    p = p * s2 + 1.0 / 5.0
    p = p * s2 + 1.0 / 3.0
    p = p * s2 + 1.0
    return e * 0.6931471805599453 + 2.0 * s * p


@njit(**_FAST)
def std_normal(key, counter):  # pragma: no cover - compiled
    """A standard normal draw from ``(key, counter)`` (inverse CDF; |z| < 8.3 by construction)."""
    x = 2.0 * uniform(key, counter) - 1.0
    w = -log_positive((1.0 - x) * (1.0 + x))
    wc = w - 2.5  # central branch, w < 5 (|z| < about 2.3): 97.7 % of draws
    pc = 2.81022636e-08
    pc = 3.43273939e-07 + pc * wc
    pc = -3.5233877e-06 + pc * wc
    pc = -4.39150654e-06 + pc * wc
    pc = 0.00021858087 + pc * wc
    pc = -0.00125372503 + pc * wc
    pc = -0.00417768164 + pc * wc
    pc = 0.246640727 + pc * wc
    pc = 1.50140941 + pc * wc
    wt = np.sqrt(w) - 3.0  # tail branch
    pt = -0.000200214257
    pt = 0.000100950558 + pt * wt
    pt = 0.00134934322 + pt * wt
    pt = -0.00367342844 + pt * wt
    pt = 0.00573950773 + pt * wt
    pt = -0.0076224613 + pt * wt
    pt = 0.00943887047 + pt * wt
    pt = 1.00167406 + pt * wt
    pt = 2.83297682 + pt * wt
    central = np.float64(w < 5.0)  # select without a branch: both sides are cheap and vectorise
    return 1.4142135623730951 * (central * pc + (1.0 - central) * pt) * x


@njit(cache=True, error_model="numpy")
def standard_normals(key, counters):  # pragma: no cover - compiled
    """``std_normal(key, c)`` for every ``c`` of the uint64 array ``counters`` (float64, same shape)."""
    flat = counters.ravel()
    out = np.empty(flat.shape[0], dtype=np.float64)
    for i in range(flat.shape[0]):
        out[i] = std_normal(key, flat[i])
    return out.reshape(counters.shape)
