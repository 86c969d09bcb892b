"""Hypervolume of a study's designs: the share of a fixed objective box that they dominate.

Each objective runs from an *ideal* value (default: 1 for a maximised objective such as
``accuracy_mean``, 0 for a minimised cost such as ``energy_pj``) to a *reference* value, the worst value
that still counts. A point contributes the part of the box it dominates; the hypervolume is that
dominated volume divided by the box's volume, so it lies in [0, 1]. Because the box is fixed for a study
(declared in the study file's ``[hypervolume]`` table, or fixed from the points of the first export and
stored with the results), adding a trial never lowers it and adding a dominated one changes nothing.

Points are clipped into the box first (a value better than the ideal counts as the ideal, one worse
than the reference contributes nothing), then the volume is computed by moocore (the C implementation
of Fonseca, Paquete and Lopez-Ibanez's hypervolume algorithms; ``moocore.hypervolume``).
"""
from __future__ import annotations

import numpy as np

REFERENCE_MARGIN = 1.0  # a first-export reference lies this share of the ideal-to-worst span beyond the worst


def default_ideal(directions: list[str]) -> list[float]:
    """1 for maximised objectives (accuracies and fidelities are fractions), 0 for minimised costs."""
    return [1.0 if d == "maximize" else 0.0 for d in directions]


def _signed(values, directions: list[str]) -> np.ndarray:
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return np.asarray(values, dtype=float).reshape(-1, len(directions)) * signs


def default_reference(values: np.ndarray, directions: list[str], ideal: list[float]) -> list[float]:
    """A reference point well beyond the worst of ``values`` (points x objectives) in every objective.

    A maximised fraction (ideal 1, values in [0, 1], e.g. ``accuracy_mean``) gets 0, the worst it can be.
    Otherwise the reference lies ``REFERENCE_MARGIN`` times the ideal-to-worst span beyond the worst value,
    so designs somewhat worse than the first ones still count (a cost: twice the worst first value).
    An objective whose points all sit at the ideal gets a span of 1 (or of its ideal's magnitude).
    """
    points = _signed(values, directions)
    points = points[np.all(np.isfinite(points), axis=1)]
    best = _signed(ideal, directions)[0]
    worst = points.max(axis=0) if len(points) else best
    span = worst - best
    span = np.where(span > 0, span, np.maximum(np.abs(best), 1.0))
    reference = [float(r) for r in (worst + REFERENCE_MARGIN * span) * _signed(np.ones(len(directions)), directions)[0]]
    raw = np.asarray(values, dtype=float).reshape(-1, len(directions))
    for i, direction in enumerate(directions):
        column = raw[np.isfinite(raw[:, i]), i]
        if direction == "maximize" and ideal[i] == 1.0 and len(column) and column.min() >= 0.0:
            reference[i] = 0.0
    return reference


def hypervolume(values: np.ndarray, directions: list[str], ideal: list[float], reference: list[float]) -> float:
    """Share of the box from ``ideal`` to ``reference`` dominated by ``values`` (points x objectives).

    Rows with a NaN or infinite value are ignored (a failed measurement dominates nothing).
    """
    import moocore  # imported here: only summaries and plots need it

    m = len(directions)
    best, worst = _signed(ideal, directions)[0], _signed(reference, directions)[0]
    if len(best) != m or len(worst) != m:
        raise ValueError(f"ideal and reference need one value per objective ({m})")
    if not np.all(worst > best):
        bad = [i for i in range(m) if not worst[i] > best[i]]
        raise ValueError(f"the reference must be worse than the ideal in every objective; it is not in "
                         f"objective(s) {bad} (ideal {ideal}, reference {reference})")
    points = _signed(values, directions)
    points = points[np.all(np.isfinite(points), axis=1)]
    if not len(points):
        return 0.0
    unit = (np.clip(points, best, worst) - best) / (worst - best)
    return float(min(1.0, moocore.hypervolume(unit, ref=np.ones(m))))
