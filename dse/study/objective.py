"""One trial: a design point (hardware, protection, faults) becomes a flat dict of metrics.

This composes the three parts of the project: the workload (model and data), the Monte Carlo
accuracy simulation and the cost model. :func:`evaluate_design` is the default objective of
:func:`dse.study.run.run_study`; any function with the same signature and result type can replace it.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dse.config import AnalogEffects, FaultScenario, HardwareConfig, Protection, split_layer_key
from dse.study.schema import ACCURACY_COLUMNS, BREAKDOWN_COLUMNS, COST_COLUMNS

# Every number evaluate_design reports for any workload (all may be objectives or constraints of a
# study), beside the workload's own metrics (``workload_metrics``); declared, with units, in dse.study.schema.
ACCURACY_METRICS = tuple(c.name for c in ACCURACY_COLUMNS)
COST_METRICS = tuple(c.name for c in COST_COLUMNS)
HEADLINE_METRICS = ACCURACY_METRICS + COST_METRICS
METRICS = HEADLINE_METRICS + tuple(c.name for c in BREAKDOWN_COLUMNS)
# The values each metric can take, for refusing a constraint no design can meet (accuracy_mean >= 1.5).
# Accuracies are fractions; the standard deviation of fractions is at most 0.5 (half at 0, half at 1), and
# a 95 % half-width is unbounded above for a few chips; every cost is non-negative.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    **{m: (0.0, 1.0) for m in ("accuracy_mean", "accuracy_min", "float_accuracy", "ideal_accuracy")},
    "accuracy_std": (0.0, 0.5), "accuracy_ci95": (0.0, math.inf),
    **{m: (0.0, math.inf) for m in METRICS if m not in ACCURACY_METRICS},
}


def workload_metrics(names) -> tuple[str, ...]:
    """What evaluate_design reports for a workload's own metrics ``names`` (``WorkloadInfo.metrics``):
    ``<name>_mean`` over the chips and ``ideal_<name>`` (the mapped model without faults)."""
    return tuple(column for name in names for column in (f"{name}_mean", f"ideal_{name}"))


@dataclass(frozen=True)
class TrialResult:
    """What an objective returns.

    metrics  flat numbers with units in the names (``METRICS``): the accuracy statistics over chips,
             the workload's own metrics if it has any (``<name>_mean`` over chips, ``ideal_<name>``)
             and every number of the cost report (``CostReport.to_dict``, breakdown included)
    layers   one dict per layer (its layout and the simulation's per-layer numbers)
    """

    metrics: dict[str, float | int]
    layers: list[dict[str, Any]] = field(default_factory=list)


def split_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split parameter values by name into HardwareConfig and Protection fields.

    A per-layer parameter ``row_prune_layers.fc1`` (``col_prune_layers.<layer>``) becomes the entry
    ``fc1`` of the Protection field ``row_prune_layers`` (a ``{layer: fraction}`` dict).
    """
    hw_names = {f.name for f in dataclasses.fields(HardwareConfig)}
    protection_names = {f.name for f in dataclasses.fields(Protection)}
    hw: dict[str, Any] = {}
    protection: dict[str, Any] = {}
    unknown = []
    for name, value in params.items():
        layered = split_layer_key(name)
        if name in hw_names:
            hw[name] = value
        elif name in protection_names:
            protection[name] = value
        elif layered is not None:
            protection.setdefault(layered[0], {})[layered[1]] = value
        else:
            unknown.append(name)
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(sorted(unknown))}")
    return hw, protection


@functools.lru_cache(maxsize=4)
def load_design_workload(name: str, data: str | None = None):
    """Load (and train, the first time) a workload once per process: a built-in by name, or a model
    file with its data (``dse.workloads.open_workload``)."""
    from dse.workloads import open_workload

    return open_workload(name, data)


def evaluate_design(workload: str, hw: HardwareConfig, faults: FaultScenario, protection: Protection,
                    *, analog: AnalogEffects | None = None, data: str | None = None,
                    max_test: int | None = None) -> TrialResult:
    """Simulate accuracy over ``faults.n_chips`` chips (with ``analog`` effects, if any) and cost the
    mapped layout. ``workload`` is a built-in name or a model file's path; ``data``, with a model
    file, the ``.npz`` file holding its inputs ``x`` and labels ``y`` (with a text workload, a JSON
    Lines test file); ``max_test`` bounds the test examples per chip (the first ones)."""
    from dse.cost import cost
    from dse.simulate import evaluate

    loaded = load_design_workload(workload, data)
    result = evaluate(loaded, hw, faults, protection, analog=analog, max_test=max_test)
    report = cost(result.layouts, hw)
    per_chip = np.asarray(result.accuracy_per_chip, dtype=float)
    metrics: dict[str, float | int] = {
        "accuracy_mean": float(result.accuracy_mean),
        "accuracy_std": float(result.accuracy_std),
        "accuracy_ci95": float(result.accuracy_ci95),
        "accuracy_min": float(per_chip.min()) if per_chip.size else float("nan"),
        "float_accuracy": float(result.float_accuracy),
        "ideal_accuracy": float(result.ideal_accuracy),
    }
    for name, per_chip_values in result.metrics_per_chip.items():  # e.g. the transformer's fidelity
        mean, ideal = workload_metrics([name])
        metrics[mean] = float(np.mean(per_chip_values))
        metrics[ideal] = float(result.ideal_metrics[name])
    metrics.update(report.to_dict())
    return TrialResult(metrics, layer_rows(result, report, loaded))


def layer_rows(result, report, workload) -> list[dict[str, Any]]:
    """One row per mapped layer, the columns of the layers table (``dse.study.schema.LAYER_COLUMNS``):
    the layout of ``result`` (an ``EvalResult``), its realised prune fractions against ``workload``'s
    unpruned layers, the cost ``report``'s per-layer energy, area and latency, and the simulation's
    per-layer ADC and error numbers."""
    simulated = {row["name"]: row for row in result.layers.to_dict(orient="records")}
    costs = {row["name"]: row for row in report.layers.to_dict(orient="records")}
    unpruned = {layer.name: layer for layer in workload.crossbar_layers()}
    rows = []
    for layout in result.layouts:
        full, cost_row, sim = unpruned[layout.name], costs[layout.name], simulated[layout.name]
        rows.append({
            "name": layout.name,
            "in_features": layout.in_features,
            "out_features": layout.out_features,
            "layer_row_prune": 1.0 - layout.in_features / full.in_features,
            "layer_col_prune": 1.0 - layout.out_features / full.out_features,
            "bitlines": layout.bitlines,
            "copy_bitlines": layout.copy_bitlines,
            "row_tiles": layout.row_tiles,
            "layer_crossbars": layout.crossbars,
            "layer_spare_crossbars": layout.spare_crossbars,
            "mvms_per_inference": layout.mvms_per_inference,
            "weights": layout.weights,
            "layer_macs": int(cost_row["layer_macs"]),
            "layer_adc_conversions": int(cost_row["layer_adc_conversions"]),
            "layer_extra_adc_conversions": int(cost_row["layer_extra_adc_conversions"]),
            "layer_energy_pj": float(cost_row["layer_energy_pj"]),
            "layer_area_um2": float(cost_row["layer_area_um2"]),
            "layer_latency_ns": float(cost_row["layer_latency_ns"]),
            "adc_step": float(sim["adc_step"]),
            "adc_saturation": float(sim["adc_saturation"]),
            "output_error": float(sim["output_error"]),
        })
    return rows
