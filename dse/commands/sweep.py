"""``dse sweep``: accuracy against total fault rate, to Parquet and a PNG, with tolerance rates."""
from __future__ import annotations

import json
from pathlib import Path

from dse.cli_options import MAX_WORKERS, add_hardware_options, count, hardware_from_args, protection_preset
from dse.experiments.sweep import CHEN_SA1_SHARE, plot_sweep, run_sweep, summarize, write_sweep


def _rates(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"total_rate must be comma-separated numbers in [0, 1], got {text!r}") from None


def add_parser(sub) -> None:
    parser = sub.add_parser("sweep", help="accuracy against fault rate (Parquet table and PNG)")
    parser.add_argument("--workload", required=True, help="built-in workload (mlp-digits, cnn-digits) or a model file (.npz/.safetensors)")
    parser.add_argument("--data", default=None, help="with a model file: .npz holding x and y")
    parser.add_argument("--total-rate", default="0,0.01,0.02,0.05,0.1,0.2",
                        help="comma-separated total stuck-at rates (SA0 + SA1)")
    parser.add_argument("--sa1-share", type=float, default=CHEN_SA1_SHARE,
                        help="fraction of faults that are SA1 (ON); default Chen 2015: 0.838")
    parser.add_argument("--protect", default="none",
                        help="comma-separated protection presets to compare, e.g. none,zero-space")
    parser.add_argument("--chips", "--n-chips", dest="n_chips", type=count(1), default=8)
    parser.add_argument("--seed", type=count(0), default=0)
    parser.add_argument("--fault-model", default="iid", help="iid or column")
    parser.add_argument("--workers", type=count(1, MAX_WORKERS), default=1)
    parser.add_argument("--out", default=None, help="output folder (default results/sweep-<workload>)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_hardware_options(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from dse.workloads import open_workload

    hw = hardware_from_args(args)
    rates = sorted(_rates(args.total_rate))
    names = [name.strip() for name in args.protect.split(",") if name.strip()]
    protections = {name: protection_preset(name) for name in names}  # unknown names fail here, early
    out = Path(args.out or f"results/sweep-{args.workload}")
    workload = open_workload(args.workload, args.data)
    table = run_sweep(workload, hw, rates, protections, n_chips=args.n_chips, seed=args.seed,
                      fault_model=args.fault_model, sa1_share=args.sa1_share, workers=args.workers,
                      progress=not args.json)
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
