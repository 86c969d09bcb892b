"""The ADC: the step of a layer, the transfer function, and the conversions the fast kernels inline.

Transfer: column sum ``v`` to ``v_hat = code * step``.

``code = min(floor(v / step + 1/2), 2**adc_bits - 1)``. The ``full`` range uses a power-of-two step
covering the largest possible column sum and is lossless exactly when ``step == 1``; the ``calibrated``
range takes ``step = max(1, q / (2**adc_bits - 1))`` from a percentile ``q`` of column sums seen on
calibration inputs (found in ``dse/``, passed in here); the ``clip`` range has ``step = 1`` (one cell
level times one DAC level: every code is exact) and saturates at ``2**adc_bits - 1``, what CrossSim calls
its GRANULAR range.

Where each piece is used. :func:`adc_codes` is the reference transfer (:mod:`kernels.reference`). The
popcount kernels (:mod:`kernels.crossbar`) convert inside their loops with :func:`code_by_shift` (a
power-of-two step, :func:`step_shift` >= 0: exact integer rounding) or :func:`code_by_division` (any other
step), and clamp at ``2**adc_bits - 1`` there, counting the saturated conversions; :mod:`kernels.cuda.mvm`
has the same two roundings on the device. The float path (:mod:`kernels.analog`) adds the ADC's own errors
(gain, offset, INL) before the same ``floor(x + 1/2)``.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels.names import ADC_RANGES  # noqa: F401 (re-exported: the names this module implements)


def full_scale(rows: int, cell_bits: int, dac_bits: int, weight_flip: bool = False) -> int:
    """Largest column sum one bit line can carry: ``rows * (2**cell_bits - 1) * (2**dac_bits - 1)``; with
    weight flipping (:mod:`kernels.flip`) the stored levels sum to at most half that,
    ``floor(rows * (2**cell_bits - 1) / 2) * (2**dac_bits - 1)``."""
    cells = rows * ((1 << cell_bits) - 1)
    return (cells // 2 if weight_flip else cells) * ((1 << dac_bits) - 1)


def full_range_step(rows: int, cell_bits: int, dac_bits: int, adc_bits: int, weight_flip: bool = False) -> int:
    """``2 ** max(0, ceil(log2(FS + 1)) - adc_bits)``: a power of two, 1 when the ADC is lossless."""
    fs = full_scale(rows, cell_bits, dac_bits, weight_flip)
    needed_bits = math.ceil(math.log2(fs + 1))  # exact for the integers involved: FS + 1 < 2**53
    return 1 << max(0, needed_bits - adc_bits)


def adc_step_for(rows: int, cell_bits: int, dac_bits: int, adc_bits: int, adc_range: str,
                 adc_step: float | None, weight_flip: bool = False) -> float:
    """The ADC step of a layer: the full-range power of two (over the flipped full scale with
    ``weight_flip``), 1 for ``clip``, or the calibrated step given."""
    if adc_range == "full":
        return float(full_range_step(rows, cell_bits, dac_bits, adc_bits, weight_flip))
    if adc_range == "clip":
        return 1.0
    return float(adc_step)


def step_shift(step: float) -> int:
    """``log2(step)`` when ``step`` is a power of two (the kernels then round by an integer shift), else -1."""
    is_pow2 = step == int(step) and (int(step) & (int(step) - 1)) == 0
    return int(step).bit_length() - 1 if is_pow2 else -1


def calibrated_step(percentile_sum: float, adc_bits: int) -> float:
    """``max(1, q / (2**adc_bits - 1))`` for the calibration percentile ``q`` of column sums."""
    return max(1.0, float(percentile_sum) / ((1 << adc_bits) - 1))


def adc_codes(v: np.ndarray, step: float, adc_bits: int) -> np.ndarray:
    """Output codes for column sums ``v`` (any shape), int64; saturating at ``2**adc_bits - 1``."""
    codes = np.floor(np.asarray(v, dtype=np.float64) / step + 0.5)
    return np.minimum(codes, (1 << adc_bits) - 1).astype(np.int64)


@njit(cache=True, inline="always")
def code_by_shift(v, half, sh):  # pragma: no cover - compiled
    """The code of an integer column sum ``v`` for the step ``2**sh`` before the clamp: ``(v + half) >> sh``
    with ``half = 2**sh >> 1``, which is ``floor(v / step + 1/2)`` in integers (uint64 in, uint64 out)."""
    return (v + half) >> sh


@njit(cache=True, inline="always")
def code_by_division(v, step):  # pragma: no cover - compiled
    """The code of a column sum ``v`` for any step before the clamp: ``floor(v / step + 1/2)``, float64."""
    return np.floor(np.float64(v) / step + 0.5)
