"""Fault-rate tolerance: the total stuck-at rate at which accuracy falls a given amount below ideal.

The SA0 : SA1 ratio stays that of Chen et al. (IEEE Trans. Computers 2015), 1.75 : 9.04, while the total
rate ``r = sa0 + sa1`` varies. For each drop ``d`` (in accuracy points as a fraction, 0.01 = one point)
the tolerated rate is where the mean accuracy over the chips crosses ``ideal - d``: found by stepping the
rate up by ``step`` from ``start`` (at most to ``max_rate``) until the accuracy is below the line, then bisecting ``r`` on a log scale
between the last rate above and the first below (``refine`` halvings), and interpolating linearly in
``log r`` between the final pair. Chips are sampled with the same seed at every rate, so the curve is
smooth (the fault maps of nearby rates share most of their stuck cells).

The network is mapped once (pruning and placement included); only the chips are re-simulated.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dse.config import FaultScenario, HardwareConfig, Protection
from dse.mapping import MappedNetwork, map_network
from dse.simulate import accuracy, chip_layers, run_network
from dse.workloads.workload import Workload

CHEN2015_SA1_SHARE = 0.0904 / (0.0175 + 0.0904)


@dataclass
class ToleranceCurve:
    """Accuracy against total fault rate for one design, and the tolerated rates.

    ideal      fault-free accuracy of the mapped design (its own reference line)
    crossbars  crossbars the design uses
    rates      {drop: total fault rate at which the mean accuracy reaches ideal - drop}; ``inf`` when the
               accuracy never fell that far below ``max_rate``
    points     {total rate: mean accuracy over the chips} of every rate simulated
    """

    ideal: float
    crossbars: int
    rates: dict[float, float] = field(default_factory=dict)
    points: dict[float, float] = field(default_factory=dict)


def mean_accuracy(net: MappedNetwork, total_rate: float, n_chips: int, seed: int = 0,
                  sa1_share: float = CHEN2015_SA1_SHARE, max_test: int | None = None) -> float:
    """Mean test accuracy over ``n_chips`` chips at ``total_rate`` stuck cells (SA1 share ``sa1_share``)."""
    faults = FaultScenario(total_rate * (1 - sa1_share), total_rate * sa1_share, n_chips=n_chips, seed=seed)
    x, y = net.workload.x_test[:max_test], net.workload.y_test[:max_test]
    return float(np.mean([accuracy(run_network(net, chip_layers(net, faults, c), x), y) for c in range(n_chips)]))


def tolerance_rates(workload: Workload, hw: HardwareConfig, protection: Protection | None = None, *,
                    drops: tuple[float, ...] = (0.01, 0.05), n_chips: int = 16, seed: int = 0,
                    sa1_share: float = CHEN2015_SA1_SHARE, start: float = 1e-4, step: float = 2.0,
                    refine: int = 4, max_rate: float = 0.6, max_test: int | None = None) -> ToleranceCurve:
    """Tolerated total fault rates of ``workload`` on ``hw`` with ``protection`` (module docstring)."""
    net = map_network(workload, hw, protection or Protection())
    x, y = net.workload.x_test[:max_test], net.workload.y_test[:max_test]
    ideal = accuracy(run_network(net, chip_layers(net, None, None), x), y)
    curve = ToleranceCurve(ideal=ideal, crossbars=net.crossbars)

    def acc(rate: float) -> float:
        if rate not in curve.points:
            curve.points[rate] = mean_accuracy(net, rate, n_chips, seed, sa1_share, max_test)
        return curve.points[rate]

    for drop in sorted(drops):
        line = ideal - drop
        below = [r for r in sorted(curve.points) if curve.points[r] < line]
        above = [r for r in sorted(curve.points) if curve.points[r] >= line and (not below or r < below[0])]
        low = above[-1] if above else None
        high = below[0] if below else None
        rate = min(low * step, max_rate) if low is not None else start
        while high is None and (low is None or low < max_rate):  # walk up until below the line
            if acc(rate) < line:
                high = rate
            else:
                low = rate
                rate = min(rate * step, max_rate)  # the last step lands on max_rate exactly
        if high is None:
            curve.rates[drop] = math.inf
            continue
        if low is None:  # already below at the first rate: the tolerated rate is under `start`
            curve.rates[drop] = 0.0 if high <= start else high
            continue
        for _ in range(refine):
            mid = math.sqrt(low * high)
            if acc(mid) < line:
                high = mid
            else:
                low = mid
        a_low, a_high = acc(low), acc(high)
        t = (a_low - line) / (a_low - a_high) if a_low > a_high else 0.0
        curve.rates[drop] = float(math.exp(math.log(low) + t * (math.log(high) - math.log(low))))
    curve.points = dict(sorted(curve.points.items()))
    return curve
