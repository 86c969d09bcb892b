"""The Python API in five calls, for notebooks and scripts (``import dse``; docs/api.md is the tutorial).

``dse.load_study`` / ``dse.run_study`` search a study file, ``dse.read_results`` gives its tables back
as DataFrames, ``dse.evaluate`` simulates one design point over many faulty chips, and ``dse.estimate_cost``
costs it. Every other name a user needs is one attribute away (``dse.HardwareConfig``, ...); all of
them load on first use, so ``import dse`` itself costs nothing.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import pandas as pd

    from dse.config import AnalogEffects, FaultScenario, HardwareConfig, Protection
    from dse.cost.model import CostReport
    from dse.simulate.network import EvalResult
    from dse.study.run import RunSummary
    from dse.study.spec import StudySpec
    from dse.workloads.workload import Workload


class StudyResults(NamedTuple):
    """The tables of one results folder (``trials, layers, metadata = dse.read_results(path)``).

    trials    one row per completed trial (and scenario): the design's every config field, its
              objectives (``accuracy_mean`` fraction in [0, 1], ``energy_pj`` per inference, ``area_mm2``,
              ``latency_ns``, ...), ``feasible`` and ``is_pareto``; docs/studies.md lists every column
    layers    one row per (trial, scenario, layer): the per-layer numbers, keyed by ``trial_number``,
              ``scenario`` and the layer's name
    metadata  the study facts stored with the trials table: objectives and their directions,
              constraints, scenarios, searched parameters, the study description
    """

    trials: pd.DataFrame
    layers: pd.DataFrame
    metadata: dict[str, Any]


def load_study(path: str | Path) -> StudySpec:
    """Read and check a study file (TOML, schema in docs/studies.md); a bad key raises ``ValueError``
    naming the file, the key and what is allowed, before any work."""
    from dse.study import load_study as load

    return load(path)


def run_study(study: str | Path | StudySpec, *, workers: int = 1, storage: str | None = None,
              results: str | Path = "results", progress: bool = True, **overrides: Any) -> RunSummary:
    """Run (or resume) ``study`` (a file or a loaded spec) until every fault scenario has its trials.

    workers    processes on this machine; storage: an Optuna RDB URL shared by machines (default: a
               journal file in the results folder); results: parent of ``results/<study>/``
    overrides  study settings replaced for this run: ``trials=`` (finished trials per scenario),
               ``timeout_s=`` (start no trial after this many seconds)
    Returns the run's summary (``.results_dir`` is the folder ``read_results`` takes). Running the same
    study again resumes it; a run killed at any moment loses no completed trial.
    """
    from dse.study import load_study as load, run_study as run

    spec = load(study) if isinstance(study, (str, Path)) else study
    if overrides:
        spec = spec.with_overrides(**overrides)
    return run(spec, workers=workers, storage=storage, results=results, progress=progress)


def read_results(path: str | Path) -> StudyResults:
    """The trials and layers tables of a results folder (``results/<study>``) as DataFrames, with the
    study's metadata; see :class:`StudyResults` for the rows and columns."""
    from dse.study.results import read_layers, read_metadata, read_trials

    return StudyResults(read_trials(path), read_layers(path), read_metadata(path))


def evaluate(workload: str | Workload, hw: HardwareConfig | None = None, faults: FaultScenario | None = None,
             protection: str | Protection | None = None, *, analog: AnalogEffects | None = None,
             data: str | Path | None = None, workers: int = 1, max_test: int | None = None,
             progress: bool = False) -> EvalResult:
    """Accuracy of one design point on ``faults.n_chips`` simulated chips (Monte Carlo over fault maps).

    workload    a built-in name (``mlp-digits``, ``cnn-digits``, ``minilm-l6``, ...), a model file
                (``.npz`` / ``.safetensors``, with ``data``: an ``.npz`` of ``x``, ``y``) or a Workload
    hw          the design (default ``HardwareConfig()``: 128x128 crossbars, 2-bit cells, 8-bit weights,
                inputs and ADCs); faults: stuck-at rates per cell (fractions), model, chips, seed
                (default: no faults, 8 chips); protection: a preset name (``"zero-space"``) or a
                ``Protection``; analog: non-idealities beside stuck-at faults (default none)
    Returns an ``EvalResult``: ``accuracy_per_chip`` (array of shape ``(n_chips,)``, fractions in [0, 1]),
    ``accuracy_mean`` / ``accuracy_std`` / ``accuracy_ci95`` (half-width of the 95 % interval of the
    mean), ``ideal_accuracy`` (fault-free chip) and ``float_accuracy`` (the float model), ``layers``
    (DataFrame, one row per crossbar layer, its columns named as in a study's layers table: ``name``,
    ``layer_crossbars``, ``adc_step``, ``adc_saturation``, ``output_error``, ...), ``crossbars``,
    ``adc_conversions`` (per inference) and ``wall_s``. ``dse.estimate_cost(result)`` gives its energy, area and latency.
    """
    from dse.config import FaultScenario, HardwareConfig
    from dse.simulate import evaluate as run
    from dse.workloads import open_workload

    if isinstance(workload, (str, Path)):
        workload = open_workload(str(workload), data)
    elif data is not None:
        raise ValueError("data goes with a workload name or model file, not with a loaded Workload")
    if isinstance(protection, str):
        from dse.protection import PRESETS

        if protection not in PRESETS:
            raise ValueError(f"protection must be one of {', '.join(PRESETS)} or a Protection; got {protection!r}")
        protection = PRESETS[protection]
    return run(workload, hw or HardwareConfig(), faults or FaultScenario(), protection, workers=workers,
               max_test=max_test, progress=progress, analog=analog)


def estimate_cost(result: EvalResult, *, tech: str | None = None, adc_model: str | None = None,
         node_nm: int | None = None) -> CostReport:
    """Energy per inference (``energy_pj``), area (``area_um2`` / ``area_mm2``) and latency
    (``latency_ns``) of an evaluated design, with per-component and per-layer breakdowns
    (DataFrames), from the technology preset ``tech`` (default the design's, ``hw.tech``)."""
    from dse.cost import cost as run

    return run(result.layouts, result.hw, tech=tech, adc_model=adc_model, node_nm=node_nm)
