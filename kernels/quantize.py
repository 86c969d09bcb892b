"""Float tensors to the integers the crossbar computes with, and back.

Weights are signed and symmetric: ``w_int = round(w / scale)`` clipped to ``|w_int| <= 2**(bits-1) - 1``,
with one scale per tensor or per output column (``axis=0`` reduces over inputs for (in, out) weights).
Activations are unsigned (after ReLU) or signed two's complement, ``x_int = round(x / scale)``.
"""
from __future__ import annotations

import numpy as np

# Activation scales use a high percentile of |activation| on calibration data, not the maximum, so
# one outlier does not waste the input range of every other sample.
ACTIVATION_PERCENTILE = 99.99


def weight_scale(w: np.ndarray, bits: int, per_column: bool = False) -> np.ndarray:
    """Scale so the largest magnitude maps to ``2**(bits-1) - 1``; shape () or (out,)."""
    w = np.asarray(w, dtype=np.float64)
    peak = np.abs(w).max(axis=0) if per_column else np.abs(w).max()
    q_max = (1 << (bits - 1)) - 1
    return np.where(peak > 0, peak / q_max, 1.0)


def quantize_weights(w: np.ndarray, bits: int, per_column: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(w_int, scale)`` with ``w ~= w_int * scale``; w_int int64 of the shape of ``w``."""
    scale = weight_scale(w, bits, per_column)
    q_max = (1 << (bits - 1)) - 1
    w_int = np.clip(np.rint(np.asarray(w, dtype=np.float64) / scale), -q_max, q_max).astype(np.int64)
    return w_int, scale


def activation_scale(peak: float, bits: int, signed: bool) -> float:
    """Scale so ``peak`` (a calibrated maximum magnitude) maps to the top code."""
    q_max = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    return float(peak) / q_max if peak > 0 else 1.0


def input_quantisation(cols: np.ndarray, input_bits: int, dac_bits: int, name: str) -> tuple[float, bool]:
    """``(x_scale, signed)`` of a layer from its calibration inputs ``cols``: signed (two's complement) when
    any is negative, which needs 1-bit DACs (``docs/crossbar.md``); the scale maps the
    ``ACTIVATION_PERCENTILE`` of ``|cols|`` to the top code."""
    signed = bool(cols.size and cols.min() < 0)
    if signed and dac_bits != 1:
        raise ValueError(
            f"layer {name!r} receives signed inputs, which need dac_bits = 1 (two's complement); got {dac_bits}"
        )
    peak = float(np.percentile(np.abs(cols), ACTIVATION_PERCENTILE)) if cols.size else 0.0
    return activation_scale(peak, input_bits, signed), signed


def quantize_activations(x: np.ndarray, scale: float, bits: int, signed: bool) -> np.ndarray:
    """``x_int = clip(round(x / scale))`` into the unsigned or two's-complement range; int64."""
    if signed:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        lo, hi = 0, (1 << bits) - 1
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) / scale), lo, hi).astype(np.int64)
