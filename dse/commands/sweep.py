"""``dse sweep``: accuracy against total fault rate, to Parquet and a PNG, with tolerance rates."""
from __future__ import annotations

import json
from pathlib import Path

from dse.cli_options import (
    MAX_WORKERS,
    add_analog_options,
    add_fault_options,
    add_hardware_options,
    analog_from_args,
    count,
    faults_from_args,
    hardware_from_args,
    protection_fields_options,
    protect_presets,
    protection_from_args,
)


def _rates(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"total_rate must be comma-separated numbers in [0, 1], got {text!r}") from None


def add_parser(sub, help: str) -> None:
    parser = sub.add_parser("sweep", help=help)
    parser.add_argument("--workload", required=True, help="built-in workload (mlp-digits, cnn-digits) or a model file (.npz/.safetensors)")
    parser.add_argument("--data", default=None, help="with a model file: .npz holding x and y")
    parser.add_argument("--total-rate", default="0,0.01,0.02,0.05,0.1,0.2",
                        help="comma-separated total stuck-at rates (SA0 + SA1)")
    parser.add_argument("--sa1-share", type=float, default=None,
                        help="fraction of faults that are SA1 (ON) (default Chen et al. 2015: "
                             "9.04 / (1.75 + 9.04) = 0.838)")
    parser.add_argument("--workers", type=count(1, MAX_WORKERS), default=1, help="processes simulating chips in parallel")
    parser.add_argument("--out", default=None, help="output folder (default results/sweep-<workload>)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_fault_options(parser, rates=False)
    add_hardware_options(parser)
    parser.add_argument("--protect", default="none", metavar="NAME,...",
                        help=f"comma-separated protection presets to compare, e.g. none,zero-space; one of "
                             f"{', '.join(protect_presets())} each (default none); the field flags below "
                             "override the values of every one")
    protection_fields_options(parser)
    add_analog_options(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from dse.experiments.sweep import CHEN_SA1_SHARE, plot_sweep, run_sweep, summarize, write_sweep
    from dse.workloads import open_workload

    hw = hardware_from_args(args)
    share = CHEN_SA1_SHARE if args.sa1_share is None else args.sa1_share
    if not (0.0 <= share <= 1.0):
        raise ValueError(f"sa1_share must be in [0, 1], got {share}")
    # Each swept total rate replaces these; a total of 1 split by the share gives post-test failures
    # their SA0 : SA1 ratio (FaultScenario.post_test_rates).
    faults = faults_from_args(args, sa0_rate=1.0 - share, sa1_rate=share)
    analog = analog_from_args(args)
    analog.check(hw)
    rates = sorted(_rates(args.total_rate))
    if faults.post_test_rate and rates and rates[0] == 0:
        raise ValueError("post_test_rate splits SA0 : SA1 in the scenario's ratio, which a total rate of 0 does "
                         "not have: sweep total rates > 0 with --post-test-rate")
    names = [name.strip() for name in args.protect.split(",") if name.strip()]
    protections = {name: protection_from_args(args, name) for name in names}  # unknown names fail here, early
    out = Path(args.out or f"results/sweep-{args.workload}")
    workload = open_workload(args.workload, args.data)
    table = run_sweep(workload, hw, rates, protections, n_chips=faults.n_chips, seed=faults.seed,
                      fault_model=faults.fault_model,
                      sa1_share=share,
                      workers=args.workers, progress=not args.json, analog=analog if analog.active else None,
                      scenario=faults)
    write_sweep(table, out / "sweep.parquet")
    plot_sweep(table, out / "sweep.png")
    summary = summarize(table)
    (out / "summary.json").write_text(summary.to_json(orient="records", indent=1))
    if args.json:
        print(json.dumps({"summary": json.loads(summary.to_json(orient="records")),
                          "parquet": str(out / "sweep.parquet"), "plot": str(out / "sweep.png")}))
        return 0
    means = table.groupby(["protect", "total_rate"], sort=False)["accuracy"].agg(["mean", "std"]).unstack(0)
    print(means.to_string(float_format=lambda v: f"{v:.4f}"))
    print()
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nwrote {out / 'sweep.parquet'} ({len(table)} rows) and {out / 'sweep.png'}")
    return 0
