"""Stuck-at fault maps and their effect on cell levels.

A fault map has the shape of the cells it covers, usually ``(A, S, in, out)`` (logical cells) or
``(in, bitlines)`` (physical bit lines), with the row (word line) axis second to last. Values:
``0`` healthy, ``1`` SA0 = stuck at high resistance, OFF, lowest conductance (level forced to 0),
``2`` SA1 = stuck at low resistance, ON, highest conductance (level forced to ``2**cell_bits - 1``).
"""
from __future__ import annotations

import numpy as np

HEALTHY, SA0, SA1 = 0, 1, 2
FAULT_MODELS = ("iid", "column")


def _check_rates(sa0_rate: float, sa1_rate: float) -> None:
    for name, rate in (("sa0_rate", sa0_rate), ("sa1_rate", sa1_rate)):
        if not (0.0 <= rate <= 1.0):
            raise ValueError(f"{name} must be in [0, 1], got {rate}")
    if sa0_rate + sa1_rate > 1.0:
        raise ValueError(f"sa0_rate + sa1_rate must be <= 1, got {sa0_rate + sa1_rate}")


def sample_iid(shape, sa0_rate: float, sa1_rate: float, rng: np.random.Generator) -> np.ndarray:
    """Every cell independently SA0 with ``sa0_rate``, SA1 with ``sa1_rate``; uint8 map of ``shape``."""
    _check_rates(sa0_rate, sa1_rate)
    # float32 draws: twice as fast, and 2**-24 resolution is far below any rate of interest
    u = rng.random(shape, dtype=np.float32)
    faults = (u < np.float32(sa0_rate + sa1_rate)).astype(np.uint8) * np.uint8(SA1)
    faults[u < np.float32(sa0_rate)] = SA0
    return faults


def sample_column_clustered(
    shape,
    sa0_rate: float,
    sa1_rate: float,
    rng: np.random.Generator,
    rows: int,
    cluster_fraction: float = 0.25,
) -> np.ndarray:
    """Faults concentrated along bit lines, at the same expected rates as :func:`sample_iid`.

    Each physical bit-line segment (one bit line within one ``rows``-tall crossbar) is faulty with
    probability ``cluster_fraction``; cells on faulty segments fail at ``rate / cluster_fraction``
    (capped at 1, which then lowers the overall rate), cells elsewhere are healthy. This mimics the
    bit-line shorts that cluster stuck cells in measured HfO2 arrays (Chen et al., IEEE Trans.
    Computers 2015) and keeps the SA0 : SA1 ratio.
    """
    _check_rates(sa0_rate, sa1_rate)
    if not (0.0 < cluster_fraction <= 1.0):
        raise ValueError(f"cluster_fraction must be in (0, 1], got {cluster_fraction}")
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError("a clustered fault map needs a row axis and a bit-line axis (ndim >= 2)")
    n_rows = shape[-2]
    tiles = -(-n_rows // rows)
    seg_shape = shape[:-2] + (tiles, shape[-1])
    bad_segment = rng.random(seg_shape) < cluster_fraction
    bad_cell = np.repeat(bad_segment, rows, axis=-2)[..., :n_rows, :]
    total = sa0_rate + sa1_rate
    dense_total = min(1.0, total / cluster_fraction)
    scale = dense_total / total if total > 0 else 0.0
    dense_sa0 = min(1.0, sa0_rate * scale)
    faults = sample_iid(shape, dense_sa0, min(1.0 - dense_sa0, sa1_rate * scale), rng)
    faults[~bad_cell] = HEALTHY
    return faults


def sample_faults(
    shape,
    sa0_rate: float,
    sa1_rate: float,
    rng: np.random.Generator,
    model: str = "iid",
    rows: int = 128,
    cluster_fraction: float = 0.25,
) -> np.ndarray:
    """One chip's fault map under ``model`` (``iid`` or ``column``); see the two samplers."""
    if model == "iid":
        return sample_iid(shape, sa0_rate, sa1_rate, rng)
    if model == "column":
        return sample_column_clustered(shape, sa0_rate, sa1_rate, rng, rows, cluster_fraction)
    raise ValueError(f"fault model must be one of {', '.join(FAULT_MODELS)}; got {model!r}")


def apply_faults(levels: np.ndarray, faults: np.ndarray | None, cell_bits: int) -> np.ndarray:
    """Levels the cells actually hold: SA0 cells read 0, SA1 cells read ``2**cell_bits - 1``."""
    if faults is None:
        return levels
    out = levels.copy()
    out[faults == SA0] = 0
    out[faults == SA1] = (1 << cell_bits) - 1
    return out
