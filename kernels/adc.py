"""The ADC transfer function: column sum ``v`` to ``v_hat = code * step``.

``code = min(floor(v / step + 1/2), 2**adc_bits - 1)``. The ``full`` range uses a power-of-two step
covering the largest possible column sum and is lossless exactly when ``step == 1``; the ``calibrated``
range takes ``step = max(1, q / (2**adc_bits - 1))`` from a percentile ``q`` of column sums seen on
calibration inputs (found in ``dse/``, passed in here); the ``clip`` range has ``step = 1`` (one cell
level times one DAC level: every code is exact) and saturates at ``2**adc_bits - 1``, what CrossSim calls
its GRANULAR range.
"""
from __future__ import annotations

import math

import numpy as np

ADC_RANGES = ("full", "calibrated", "clip")


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


def calibrated_step(percentile_sum: float, adc_bits: int) -> float:
    """``max(1, q / (2**adc_bits - 1))`` for the calibration percentile ``q`` of column sums."""
    return max(1.0, float(percentile_sum) / ((1 << adc_bits) - 1))


def adc_codes(v: np.ndarray, step: float, adc_bits: int) -> np.ndarray:
    """Output codes for column sums ``v`` (any shape), int64; saturating at ``2**adc_bits - 1``."""
    codes = np.floor(np.asarray(v, dtype=np.float64) / step + 0.5)
    return np.minimum(codes, (1 << adc_bits) - 1).astype(np.int64)
