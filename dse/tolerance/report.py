"""The tables of docs/tolerance.md, reproducible: ``python -m dse.tolerance.report [--quick]``.

Prints Markdown: pruning alone (both methods), the scheme comparison and ablation at the Chen et al.
rates (SA0 1.75 %, SA1 9.04 %, 16 chips), and the tolerated fault rates. ``--quick`` uses 4 chips and
skips the fault-rate search (a smoke run; the docs use the full run, several minutes on two cores).
"""
from __future__ import annotations

import argparse
import math
import time

from dse.config import FaultScenario, HardwareConfig, Protection
from dse.simulate import evaluate
from dse.tolerance.network import pruned_workload
from dse.tolerance.presets import PRESETS
from dse.tolerance.rates import tolerance_rates
from dse.workloads import load_workload

PRUNE = dict(row_prune=0.3, col_prune=0.3, prune_method="gates")
DUP = dict(dup_copies=3, dup_slices=2)

# (label, protection): the comparison first, then the ablation of the zero-space scheme.
SCHEMES: list[tuple[str, Protection]] = [
    ("none", PRESETS["none"]),
    ("spare columns (1 MSB copy, test-aware)", PRESETS["spare-cols"]),
    ("remap rows", PRESETS["remap"]),
    ("prune 30 %", PRESETS["prune"]),
    ("prune + dup (median)", Protection(**PRUNE, **DUP, vote="median")),
    ("prune + dup + MSB embed (median) = paper", PRESETS["zero-space-paper"]),
    ("prune + dup + MSB embed (test-aware)", Protection(**PRUNE, **DUP, msb_embed=1, vote="test-aware")),
    ("compensate alone", PRESETS["compensate"]),
    ("prune + compensate", Protection(**PRUNE, compensate=True)),
    ("MSB embed + compensate (mean)", Protection(msb_embed=1, vote="mean", compensate=True)),
    ("prune + MSB embed + compensate (mean)", Protection(**PRUNE, msb_embed=1, vote="mean", compensate=True)),
    ("prune + dup + MSB embed + test-aware + compensate", Protection(**PRUNE, **DUP, msb_embed=1,
                                                                     vote="test-aware", compensate=True)),
    ("**zero-space** (prune + dup + MSB embed + mean + compensate)", PRESETS["zero-space"]),
]

RATE_SCHEMES = ["none", "prune", "zero-space-paper", "compensate", "zero-space"]


def scheme_table(workload_name: str, n_chips: int) -> str:
    workload = load_workload(workload_name)
    hw = HardwareConfig()
    faults = FaultScenario(sa0_rate=0.0175, sa1_rate=0.0904, n_chips=n_chips)
    rows = ["| scheme | ideal | accuracy (mean ± 95 % CI) | below unprotected ideal | crossbars | spare "
            "| ADC conv. / inference | of which copies | conv. vs prune 30 % |",
            "|---|---|---|---|---|---|---|---|---|"]
    reference = None
    pruned_conversions = evaluate(workload, hw, FaultScenario(n_chips=1), PRESETS["prune"]).adc_conversions
    for label, protection in SCHEMES:
        r = evaluate(workload, hw, faults, protection)
        if reference is None:
            reference = r.ideal_accuracy
        spare = sum(layout.spare_crossbars for layout in r.layouts)
        rows.append(
            f"| {label} | {r.ideal_accuracy:.3f} | {r.accuracy_mean:.3f} ± {r.accuracy_ci95:.3f} "
            f"| {100 * (reference - r.accuracy_mean):.1f} | {r.crossbars} | {spare} | {r.adc_conversions} "
            f"| {r.extra_adc_conversions} | {100 * (r.adc_conversions / pruned_conversions - 1):+.0f} % |"
        )
    return "\n".join(rows)


def prune_table() -> str:
    rows = ["| workload | method | rows / cols pruned | float accuracy | ideal (crossbars, fault-free) | crossbars |",
            "|---|---|---|---|---|---|"]
    hw = HardwareConfig()
    for name in ("mlp-digits", "cnn-digits"):
        workload = load_workload(name)
        dense = evaluate(workload, hw, FaultScenario(n_chips=1), Protection())
        rows.append(f"| {name} | dense | 0 / 0 | {workload.float_accuracy:.3f} | {dense.ideal_accuracy:.3f} "
                    f"| {dense.crossbars} |")
        for fraction in (0.3, 0.5):
            for method in ("magnitude", "gates"):
                protection = Protection(row_prune=fraction, col_prune=fraction, prune_method=method)
                pruned, _, _ = pruned_workload(workload, protection)
                r = evaluate(workload, hw, FaultScenario(n_chips=1), protection)
                rows.append(f"| {name} | {method} | {fraction:.0%} / {fraction:.0%} | {pruned.float_accuracy:.3f} "
                            f"| {r.ideal_accuracy:.3f} | {r.crossbars} |")
    return "\n".join(rows)


def rates_table(n_chips: int) -> str:
    rows = ["| workload | scheme | ideal | crossbars | rate at -1 point | rate at -5 points "
            "| ratio -1 pt | ratio -5 pt |", "|---|---|---|---|---|---|---|---|"]
    hw = HardwareConfig()
    for name in ("mlp-digits", "cnn-digits"):
        workload = load_workload(name)
        base = None
        for scheme in RATE_SCHEMES:
            curve = tolerance_rates(workload, hw, PRESETS[scheme], n_chips=n_chips)
            base = base or curve

            def ratio(drop):
                if base.rates[drop] == 0 or math.isinf(curve.rates[drop]):
                    return "n/a"
                return f"{curve.rates[drop] / base.rates[drop]:.1f}x"

            rows.append(f"| {name} | {scheme} | {curve.ideal:.3f} | {curve.crossbars} "
                        f"| {100 * curve.rates[0.01]:.2f} % | {100 * curve.rates[0.05]:.2f} % "
                        f"| {ratio(0.01)} | {ratio(0.05)} |")
    return "\n".join(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("prune", "schemes", "rates"), default=None)
    args = parser.parse_args(argv)
    chips = 4 if args.quick else 16
    start = time.perf_counter()
    if args.only in (None, "prune"):
        print("### Pruning alone\n\n" + prune_table() + "\n", flush=True)
    if args.only in (None, "schemes"):
        for name in ("mlp-digits", "cnn-digits"):
            print(f"### {name}, SA0 1.75 % / SA1 9.04 %, {chips} chips\n\n" + scheme_table(name, chips) + "\n",
                  flush=True)
    if args.only in (None, "rates") and not args.quick:
        print("### Tolerated total fault rate (SA0 : SA1 = 1.75 : 9.04)\n\n" + rates_table(chips) + "\n", flush=True)
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
