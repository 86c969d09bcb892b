"""Accuracy against fault rate: one row per (protection, rate, chip), a plot, and tolerance rates.

The SA0 : SA1 split of a total rate is fixed by ``sa1_share`` (default 9.04 / (1.75 + 9.04), the
HfO2 ratio of Chen et al., IEEE Trans. Computers 2015). The *tolerated rate* at a drop of ``d`` is the
total fault rate at which the mean accuracy first falls ``d`` below the fault-free ideal, by the one
algorithm of :mod:`dse.experiments.tolerance` (``crossing``: log-linear between the swept rates; 0 when the
lowest rate is already below, inf when no swept rate is), with a bootstrap interval over the chips. On
a coarse grid of rates it is coarse; ``dse tolerance`` bisects for it.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd
import pyarrow as pa

from dse import __version__
from dse.config import AnalogEffects, FaultScenario, HardwareConfig, Protection
from dse.mapping import map_network
from dse.study.results import write_atomic
from dse.simulate import evaluate
from dse.experiments.tolerance import CHEN2015_SA1_SHARE, ToleranceCurve, bootstrap_rates, interval, ratio_interval
from dse.workloads.workload import Workload

CHEN_SA1_SHARE = CHEN2015_SA1_SHARE
DROPS = (0.01, 0.05)


def split_rate(total_rate: float, sa1_share: float = CHEN_SA1_SHARE) -> tuple[float, float]:
    """(sa0_rate, sa1_rate) of a total stuck-at rate."""
    return total_rate * (1.0 - sa1_share), total_rate * sa1_share


def run_sweep(
    workload: Workload,
    hw: HardwareConfig,
    total_rates: list[float],
    protections: dict[str, Protection],
    *,
    n_chips: int = 8,
    seed: int = 0,
    fault_model: str = "iid",
    sa1_share: float = CHEN_SA1_SHARE,
    workers: int = 1,
    progress: bool = True,
    analog: AnalogEffects | None = None,
    scenario: FaultScenario | None = None,
) -> pd.DataFrame:
    """Evaluate every protection at every total fault rate; one row per chip. ``analog`` effects and the
    other fault settings of ``scenario`` (test escapes, post-test failures, stuck-level spread; its rates,
    model, chips and seed are the sweep's) apply to every chip; their values are columns of the table."""
    if not total_rates:
        raise ValueError("total_rate needs at least one rate")
    for rate in total_rates:
        if not (0.0 <= rate <= 1.0) or math.isnan(rate):
            raise ValueError(f"total_rate values must be in [0, 1], got {rate}")
    if not (0.0 <= sa1_share <= 1.0):
        raise ValueError(f"sa1_share must be in [0, 1], got {sa1_share}")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(protections) * len(total_rates), desc=f"sweep {workload.name}", unit="point")
    rows = []
    for name, protection in protections.items():
        net = map_network(workload, hw, protection)
        for rate in total_rates:
            sa0, sa1 = split_rate(rate, sa1_share)
            faults = dataclasses.replace(scenario or FaultScenario(), sa0_rate=sa0, sa1_rate=sa1,
                                         fault_model=fault_model, n_chips=n_chips, seed=seed)
            result = evaluate(workload, hw, faults, protection, workers=workers, mapped=net, analog=analog)
            for chip, acc in enumerate(result.accuracy_per_chip):
                rows.append({
                    "workload": workload.name, "protect": name, "total_rate": rate,
                    **{f.name: getattr(faults, f.name) for f in dataclasses.fields(faults) if f.name != "n_chips"},
                    "chip": chip, "accuracy": acc, "ideal_accuracy": result.ideal_accuracy,
                    "float_accuracy": result.float_accuracy, "crossbars": result.crossbars,
                    "adc_conversions": result.adc_conversions,
                    "extra_adc_conversions": result.extra_adc_conversions,
                    **{f.name: getattr(hw, f.name) for f in dataclasses.fields(hw)},
                    **protection.to_columns(),  # per-layer fractions as row_prune_layers.<layer>
                    **(analog.to_dict() if analog is not None else {}),
                    "version": __version__,
                })
            if bar:
                bar.update()
    if bar:
        bar.close()
    return pd.DataFrame(rows)


def curves(table: pd.DataFrame) -> dict[str, ToleranceCurve]:
    """Per protection, the sweep's accuracies as a :class:`ToleranceCurve` (rates at ``DROPS``)."""
    result = {}
    for name, part in table.groupby("protect", sort=False):
        per_rate = part.sort_values("chip").groupby("total_rate")["accuracy"]
        curve = ToleranceCurve(ideal=float(part["ideal_accuracy"].iloc[0]), crossbars=int(part["crossbars"].iloc[0]),
                               points={float(r): float(a.mean()) for r, a in per_rate},
                               per_chip={float(r): a.to_numpy(float) for r, a in per_rate})
        curve.rates = {drop: curve.rate_at(drop) for drop in DROPS}
        result[name] = curve
    return result


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per protection: the tolerated rates at 1 and 5 points with 95 % bootstrap intervals, and (with a
    ``none`` row) their ratio to no protection's, with its interval."""
    found = curves(table)
    base = found.get("none")
    out = []
    for name, curve in found.items():
        part = table[table["protect"] == name]
        row = {"protect": name, "ideal_accuracy": curve.ideal, "crossbars": curve.crossbars,
               "extra_adc_conversions": int(part["extra_adc_conversions"].iloc[0])}
        for drop in DROPS:
            key = f"rate_at_{round(drop * 100)}pt_drop"
            row[key] = curve.rates[drop]
            row[f"{key}_low"], row[f"{key}_high"] = interval(bootstrap_rates(curve, drop))
            if base is not None and len(found) > 1:
                row[f"{key}_ratio"] = curve.rates[drop] / base.rates[drop] if base.rates[drop] > 0 else math.inf
                row[f"{key}_ratio_low"], row[f"{key}_ratio_high"] = ratio_interval(curve, base, drop)
        out.append(row)
    return pd.DataFrame(out)


def write_sweep(table: pd.DataFrame, path: Path) -> None:
    """Write the sweep table atomically (temporary file and rename; see :func:`dse.study.results.write_atomic`)."""
    write_atomic(pa.Table.from_pandas(table, preserve_index=False), path)


def plot_sweep(table: pd.DataFrame, path: Path, title: str | None = None) -> None:
    """Mean accuracy against total fault rate, error bars = std over chips, one line per protection."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, part in table.groupby("protect", sort=False):
        stats = part.groupby("total_rate")["accuracy"].agg(["mean", "std"]).sort_index()
        ax.errorbar(stats.index * 100, stats["mean"], yerr=stats["std"].fillna(0), marker="o", capsize=3,
                    label=f"{name} ({int(part['crossbars'].iloc[0])} crossbars)")
    ideal = float(table["ideal_accuracy"].max())
    for drop, style in zip(DROPS, (":", "--")):
        ax.axhline(ideal - drop, color="grey", linestyle=style, linewidth=1,
                   label=f"ideal - {round(drop * 100)} pt")
    ax.set_xlabel("total stuck-at fault rate (%)  [SA0 OFF + SA1 ON]")
    ax.set_ylabel("test accuracy (mean over chips, bars: std)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or f"{table['workload'].iloc[0]}: accuracy against fault rate")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
