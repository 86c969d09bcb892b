"""What every table builder shares: the :class:`Setting` of a run, the :class:`Table` record, and one
cached evaluation per design point per process (tables that share a point share its run)."""
from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from typing import Callable

from dse.config import FaultScenario, HardwareConfig, Protection
from dse.experiments import CHEN2015

# One line per design point as it starts and ends (``dse report`` shows them on stderr): a slow table's
# progress, and what each of its points cost.
log = logging.getLogger("dse.report")


@dataclass(frozen=True)
class Setting:
    """How much work a table's experiments do.

    n_chips   simulated chips per faulty design point of the digits workloads (mean and 95 % CI)
    analog_chips  the same under analog effects (the float path is slower)
    transformer_chips  the same for the transformer workloads (a chip takes seconds, not milliseconds)
    max_test  test samples per chip (None = the whole test split)
    rates     whether to run the tolerated-fault-rate searches (minutes each)
    """

    n_chips: int = 16
    analog_chips: int = 8
    transformer_chips: int = 8
    max_test: int | None = None
    rates: bool = True


FULL = Setting()
TINY = Setting(n_chips=2, analog_chips=2, transformer_chips=1, max_test=24, rates=False)


@dataclass(frozen=True)
class Table:
    """One generated table: where it lives and the function that computes its Markdown."""

    name: str
    path: str                       # relative to the repository root
    build: Callable[[Setting], str]
    about: str                      # what it shows, for ``dse report --list``


def scenario(setting: Setting, **rates) -> FaultScenario:
    return FaultScenario(**rates, n_chips=setting.n_chips)


@functools.lru_cache(maxsize=None)
def cached_workload(name: str):
    from dse.workloads import load_workload
    return load_workload(name)


@functools.lru_cache(maxsize=None)
def cached_eval(name: str, hw: HardwareConfig, faults: FaultScenario, protection: Protection = Protection(),
          max_test: int | None = None, analog=None):
    """One ``evaluate`` per design point per process: tables that share a point share its run."""
    from dse.simulate import evaluate
    what = (f"{name} {_preset_label(protection)}, {hw.adc_bits}-bit {hw.adc_range} ADC, {faults.n_chips} chip(s), "
            f"{'all' if max_test is None else max_test} test examples")
    log.info("%s: running", what)
    start = time.perf_counter()
    result = evaluate(cached_workload(name), hw, faults, protection, max_test=max_test, analog=analog)
    log.info("%s: accuracy %.4f (%.0f s)", what, result.accuracy_mean, time.perf_counter() - start)
    return result


def ideal_run(name: str, hw: HardwareConfig, setting: Setting, protection: Protection = Protection()):
    return cached_eval(name, hw, FaultScenario(n_chips=1), protection, setting.max_test)


def _preset_label(protection: Protection) -> str:
    from dse.protection.presets import PRESETS
    return next((name for name, preset in PRESETS.items() if preset == protection), "custom protection")


def preset_named(name: str) -> Protection:
    from dse.protection.presets import PRESETS
    return PRESETS[name]


def zero_space_unpruned() -> Protection:
    """The ``zero-space`` preset with its pruning set to 0 (copies only in the crossbars' unused cells)."""
    return preset_named("zero-space").replace(row_prune=0.0, col_prune=0.0)


def crossbars_cell(result) -> str:
    """``5187`` or ``6483 (+1296 spare)``: an evaluation's crossbars, its spare ones named."""
    spare = sum(layout.spare_crossbars for layout in result.layouts)
    return f"{result.crossbars} (+{spare} spare)" if spare else f"{result.crossbars}"


# 128 rows of 2-bit cells, 1-bit DACs: every column sum fits a 9-bit ADC at step 1 (the tables' lossless ADC)
LOSSLESS = HardwareConfig(adc_bits=9)
CHEN_PERCENT = f"{CHEN2015['sa0_rate'] * 100:g} % / {CHEN2015['sa1_rate'] * 100:g} %"  # "1.75 % / 9.04 %"
DIGITS = ("mlp-digits", "cnn-digits")


@functools.lru_cache(maxsize=None)
def ideal_score(name: str, hw: HardwareConfig, max_test: int | None) -> tuple[float, dict[str, float]]:
    """The fault-free chip only (score, workload metrics): the ADC tables need no faulty chips."""
    from dse.mapping import map_network
    from dse.simulate import chip_layers, run_network
    workload = cached_workload(name)
    net = map_network(workload, hw)
    x, y = workload.x_test[:max_test], workload.y_test[:max_test]
    outputs = run_network(net, chip_layers(net, None, None), x)
    return workload.score(outputs, y), workload.metrics(outputs, x, y)

