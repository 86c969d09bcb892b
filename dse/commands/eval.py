"""``dse eval``: accuracy of one design point over simulated chips."""
from __future__ import annotations

import json

from dse.cli_options import (
    MAX_WORKERS,
    add_analog_options,
    count,
    add_fault_options,
    add_hardware_options,
    add_protection_options,
    analog_from_args,
    faults_from_args,
    hardware_from_args,
    protection_from_args,
)


def add_parser(sub, help: str) -> None:
    parser = sub.add_parser("eval", help=help)
    parser.add_argument("--workload", required=True, help="built-in workload (mlp-digits, cnn-digits, minilm-l6, minilm-mr, minilm-snli) or a model file (.npz/.safetensors)")
    parser.add_argument("--data", default=None, help="with a model file: .npz holding x and y; with minilm-mr / minilm-snli: JSON Lines of your own labelled text as the test split")
    parser.add_argument("--workers", type=count(1, MAX_WORKERS), default=1,
                        help="processes simulating chips in parallel")
    parser.add_argument("--max-test", type=count(1), default=None, help="use only the first N test samples")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_fault_options(parser)
    add_hardware_options(parser)
    add_protection_options(parser)
    add_analog_options(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from dse.simulate import check_backend_runs, evaluate
    from dse.workloads import open_workload

    hw = hardware_from_args(args)
    faults = faults_from_args(args)
    protection = protection_from_args(args)
    analog = analog_from_args(args)
    analog.check(hw)
    check_backend_runs(hw, faults, analog)
    workload = open_workload(args.workload, args.data)
    result = evaluate(workload, hw, faults, protection, workers=args.workers, max_test=args.max_test,
                      progress=not args.json, analog=analog if analog.active else None)
    from dse.cost import cost

    report = cost(result.layouts, hw)  # the tech preset was checked with the flags, before the simulation
    if args.json:
        # Named as in a study's Parquet tables (dse.study.schema): the cost totals of the trials table, and
        # the layers as rows of its layers table (layout, prune fractions, cost, ADC and error per layer).
        from dse.study.objective import COST_METRICS, layer_rows
        from dse.study.results import json_safe

        totals = report.to_dict()
        print(json.dumps(json_safe({**result.to_dict(), **{name: totals[name] for name in COST_METRICS},
                                    "layers": layer_rows(result, report, workload)}), allow_nan=False))
        return 0
    print(f"{workload.name}: {result.chips} chips, SA0 {faults.sa0_rate:.2%} (OFF) / SA1 {faults.sa1_rate:.2%} (ON), "
          f"{faults.fault_model} faults, seed {faults.seed}, protect {args.protect}")
    if analog.active:
        changed = {k: v for k, v in analog.to_dict().items() if getattr(analog, k) != getattr(type(analog)(), k)}
        print("  analog effects    " + ", ".join(f"{k} {v}" for k, v in changed.items()))
    print(f"  float accuracy    {result.float_accuracy:.4f}")
    print(f"  ideal accuracy    {result.ideal_accuracy:.4f}  (quantised, fault-free, configured ADC)")
    ci = result.accuracy_ci95
    print(f"  chip accuracy     {result.accuracy_mean:.4f} +- {result.accuracy_std:.4f} (std)"
          + ("" if ci != ci else f", 95 % CI +- {ci:.4f}"))
    for name, values in result.metrics_per_chip.items():  # the workload's own numbers (e.g. minilm-l6)
        print(f"  {name:17s} float {result.float_metrics[name]:.4f}, ideal {result.ideal_metrics[name]:.4f}, "
              f"chips {result.metric_mean(name):.4f} +- {float(values.std(ddof=1)) if len(values) > 1 else 0.0:.4f} (std)")
    print(f"  crossbars {result.crossbars}, ADC conversions/inference {result.adc_conversions}"
          f" (extra for copies {result.extra_adc_conversions}), {result.wall_s:.1f} s")
    print(f"  energy {report.energy_pj / 1e3:.3f} nJ per inference, area {report.area_mm2:.4f} mm2, latency "
          f"{report.latency_ns / 1e3:.3f} us ({report.tech} preset, {report.node_nm} nm, ADC {report.adc_model} "
          f"at {report.adc_rate_gsps:.3g} GS/s; dse cost for the breakdown)")
    print()
    print(result.layers.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0
