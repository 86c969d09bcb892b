"""Fault-rate tolerance: the total stuck-at rate at which accuracy falls a given amount below ideal.

The one algorithm for that question (``dse tolerance``, ``dse sweep``'s summary and the docs' tables all
use :func:`crossing`). The SA0 : SA1 ratio stays fixed (default Chen et al., IEEE Trans. Computers 2015,
1.75 : 9.04) while the total rate ``r = sa0 + sa1`` varies. For each drop ``d`` (in accuracy points as a
fraction, 0.01 = one point) the tolerated rate is where the mean accuracy over the chips first falls below
``ideal - d`` among the rates simulated, interpolated linearly in ``log r`` between the last rate above
and the first below (linearly in ``r`` from a rate of 0); 0 when the lowest rate simulated is already
below the line, ``inf`` when no rate simulated is.

:func:`tolerance_rates` chooses the rates: stepping up by ``step`` from ``start`` (at most to
``max_rate``) until the accuracy is below the line, then bisecting ``r`` on a log scale between the last
rate above and the first below (``refine`` halvings), and one more step above the highest rate
simulated, so that resamples of the chips (below) that cross later still find a crossing. Chips are sampled with the same seed at every
rate, so the curve is smooth (the fault maps of nearby rates share most of their stuck cells); the
network is mapped once (pruning and placement included), only the chips are re-simulated.

Uncertainty. The chips are a random sample, so the rate is an estimate: :func:`bootstrap_rates` resamples
the chips (with replacement, the same chips at every rate), recomputes each rate on the same simulated
points, and :func:`interval` takes the 2.5 and 97.5 percentiles. A ratio between two designs (the
tolerated rate against no protection's, whose rate is tiny and noisy) gets its interval from the ratios
of independent resamples of both. The resolution of an interval is that of the rates simulated: fine near
the crossing of the whole sample (the bisection), coarser (factors of ``step``) away from it.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from dse.config import FaultScenario, HardwareConfig, Protection
from dse.experiments import CHEN2015
from dse.mapping import MappedNetwork, map_network
from dse.simulate import accuracy, chip_layers, run_network
from dse.workloads.workload import Workload

CHEN2015_SA1_SHARE = CHEN2015["sa1_rate"] / (CHEN2015["sa0_rate"] + CHEN2015["sa1_rate"])
BOOTSTRAP_SAMPLES = 2000
log = logging.getLogger(__name__)  # one line per rate simulated: a search on a transformer takes many minutes


def crossing(rates, accuracy_means, line: float) -> float:
    """The first rate (``rates`` ascending) where the mean accuracy falls below ``line`` (module docstring)."""
    rates = np.asarray(rates, dtype=float)
    means = np.asarray(accuracy_means, dtype=float)
    if rates.ndim != 1 or rates.shape != means.shape or np.any(np.diff(rates) <= 0):
        raise ValueError("crossing needs ascending, distinct rates and one mean accuracy per rate")
    below = np.flatnonzero(means < line)
    if len(below) == 0:
        return math.inf
    i = int(below[0])
    if i == 0:
        return 0.0
    (r0, r1), (a0, a1) = rates[i - 1:i + 1], means[i - 1:i + 1]
    t = (a0 - line) / (a0 - a1)  # a0 >= line > a1
    if r0 == 0:
        return float(r0 + t * (r1 - r0))
    return float(min(max(math.exp(math.log(r0) + t * (math.log(r1) - math.log(r0))), r0), r1))  # exp(log) rounds


@dataclass
class ToleranceCurve:
    """Accuracy against total fault rate for one design, and the tolerated rates.

    ideal      fault-free accuracy of the mapped design (its own reference line)
    crossbars  crossbars the design uses
    rates      {drop: tolerated total fault rate} (:func:`crossing` of the mean accuracies)
    points     {total rate: mean accuracy over the chips} of every rate simulated, ascending
    per_chip   {total rate: (chips,) accuracy of each chip} (what the bootstrap resamples)
    """

    ideal: float
    crossbars: int
    rates: dict[float, float] = field(default_factory=dict)
    points: dict[float, float] = field(default_factory=dict)
    per_chip: dict[float, np.ndarray] = field(default_factory=dict, repr=False)

    def rate_at(self, drop: float) -> float:
        return crossing(list(self.points), list(self.points.values()), self.ideal - drop)


def bootstrap_rates(curve: ToleranceCurve, drop: float, samples: int = BOOTSTRAP_SAMPLES,
                    seed: int = 0) -> np.ndarray:
    """(samples,) tolerated rates of ``curve`` at ``drop`` over resamples of its chips."""
    rates = sorted(curve.per_chip)
    table = np.stack([curve.per_chip[r] for r in rates])  # (rates, chips)
    n_chips = table.shape[1]
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n_chips, size=(samples, n_chips))
    means = table[:, picks].mean(axis=2)  # (rates, samples)
    return np.array([crossing(rates, means[:, b], curve.ideal - drop) for b in range(samples)])


def interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval (lower, upper) of bootstrap values, which may hold 0 and inf (no interpolation)."""
    tail = (1.0 - level) / 2
    values = np.asarray(values, dtype=float)
    return (float(np.quantile(values, tail, method="lower")), float(np.quantile(values, 1 - tail, method="higher")))


def ratio_interval(curve: ToleranceCurve, base: ToleranceCurve, drop: float, level: float = 0.95,
                   samples: int = BOOTSTRAP_SAMPLES) -> tuple[float, float]:
    """Interval of ``curve``'s tolerated rate over ``base``'s (independent chip resamples of the two)."""
    mine = bootstrap_rates(curve, drop, samples, seed=1)
    theirs = bootstrap_rates(base, drop, samples, seed=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(theirs > 0, mine / np.where(theirs > 0, theirs, 1.0), math.inf)
    return interval(ratios, level)


def chip_accuracies(net: MappedNetwork, faults: FaultScenario, max_test: int | None = None) -> np.ndarray:
    """(n_chips,) test accuracy of every chip of ``faults`` on the mapped network."""
    x, y = net.workload.x_test[:max_test], net.workload.y_test[:max_test]
    return np.array([accuracy(run_network(net, chip_layers(net, faults, c), x), y) for c in range(faults.n_chips)])


def mean_accuracy(net: MappedNetwork, total_rate: float, n_chips: int, seed: int = 0,
                  sa1_share: float = CHEN2015_SA1_SHARE, max_test: int | None = None) -> float:
    """Mean test accuracy over ``n_chips`` chips at ``total_rate`` stuck cells (SA1 share ``sa1_share``)."""
    faults = FaultScenario(total_rate * (1 - sa1_share), total_rate * sa1_share, n_chips=n_chips, seed=seed)
    return float(np.mean(chip_accuracies(net, faults, max_test)))


@threadpool_limits.wrap(limits=1, user_api="blas")  # as in evaluate: idle BLAS threads would steal Numba's cores
def tolerance_rates(workload: Workload, hw: HardwareConfig, protection: Protection | None = None, *,
                    drops: tuple[float, ...] = (0.01, 0.05), n_chips: int = 16, seed: int = 0,
                    sa1_share: float = CHEN2015_SA1_SHARE, start: float = 1e-4, step: float = 2.0,
                    refine: int = 4, max_rate: float = 0.6, max_test: int | None = None,
                    scenario: FaultScenario | None = None) -> ToleranceCurve:
    """Tolerated total fault rates of ``workload`` on ``hw`` with ``protection`` (module docstring).

    scenario  the other fault fields (fault model, test escapes, post-test failures, stuck-level
              spread); its rates, chips and seed are replaced by ``total_rate``, ``n_chips``, ``seed``
    """
    for name, value, low in (("start", start, 0.0), ("max_rate", max_rate, start)):
        if not (low < value <= 1.0):
            raise ValueError(f"{name} must be in ({low}, 1], got {value}")
    if not step > 1:
        raise ValueError(f"step must be > 1, got {step}")
    if not all(0 < d < 1 for d in drops):
        raise ValueError(f"drops must be in (0, 1) (0.01 = one point), got {list(drops)}")
    template = scenario or FaultScenario()
    net = map_network(workload, hw, protection or Protection())
    x, y = net.workload.x_test[:max_test], net.workload.y_test[:max_test]
    ideal = accuracy(run_network(net, chip_layers(net, None, None), x), y)
    curve = ToleranceCurve(ideal=ideal, crossbars=net.crossbars)

    def acc(rate: float) -> float:
        if rate not in curve.points:
            faults = template.replace(sa0_rate=rate * (1 - sa1_share), sa1_rate=rate * sa1_share,
                                      n_chips=n_chips, seed=seed)
            begun = time.perf_counter()
            curve.per_chip[rate] = chip_accuracies(net, faults, max_test)
            curve.points[rate] = float(np.mean(curve.per_chip[rate]))
            log.info("%s: total fault rate %.3g: accuracy %.4f (ideal %.4f; %.0f s)", workload.name, rate,
                     curve.points[rate], ideal, time.perf_counter() - begun)
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
        if high is not None and low is not None:
            for _ in range(refine):
                mid = math.sqrt(low * high)
                if acc(mid) < line:
                    high = mid
                else:
                    low = mid
        if high is not None and high < max_rate:
            acc(min(max(curve.points) * step, max_rate))  # headroom: chip resamples may cross later
    curve.points = dict(sorted(curve.points.items()))
    curve.per_chip = dict(sorted(curve.per_chip.items()))
    curve.rates = {drop: curve.rate_at(drop) for drop in drops}
    return curve
