"""``dse tolerance``: the total fault rate each protection tolerates, bisected, with its uncertainty.

The algorithm is :mod:`dse.experiments.tolerance` (the one ``dse sweep`` summarises with). No protection is
always run as well: every rate is also given as a ratio to its, with a 95 % bootstrap interval over the
chips (the unprotected rate is tiny and noisy, so the ratio's interval is wide).
"""
from __future__ import annotations

import json
import math

from dse.cli_options import (add_fault_options, add_hardware_options, count, faults_from_args, hardware_from_args,
                             protect_presets, protection_preset)


def _numbers(text: str, name: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"{name} must be comma-separated numbers, got {text!r}") from None


def add_parser(sub, help: str) -> None:
    parser = sub.add_parser("tolerance", help=help, description=__doc__)
    parser.add_argument("--workload", required=True, help="built-in workload or a model file (.npz/.safetensors)")
    parser.add_argument("--data", default=None, help="with a model file: .npz holding x and y")
    parser.add_argument("--protect", default="none", metavar="NAME,...",
                        help=f"comma-separated presets, e.g. none,zero-space; each one of {', '.join(protect_presets())}")
    parser.add_argument("--drops", default="0.01,0.05", help="accuracy drops below ideal (0.01 = one point)")
    parser.add_argument("--sa1-share", type=float, default=None,
                        help="fraction of faults that are SA1 (ON) (default Chen et al. 2015: "
                             "9.04 / (1.75 + 9.04) = 0.838)")
    parser.add_argument("--refine", type=count(0, 20), default=4, help="log-scale bisections per crossing (default 4)")
    parser.add_argument("--max-test", type=count(1), default=None, help="use only the first N test samples")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_fault_options(parser, rates=False)  # --chips (default 16 here), --seed, --test-escape-rate, ...
    add_hardware_options(parser)
    parser.set_defaults(func=run)


def _percent(rate: float) -> str:
    return "inf" if math.isinf(rate) else f"{100 * rate:.3g} %"


def _times(ratio: float) -> str:
    return "inf" if math.isinf(ratio) else f"{ratio:.3g}x"


def run(args) -> int:
    from dse.experiments.tolerance import CHEN2015_SA1_SHARE, bootstrap_rates, interval, ratio_interval, tolerance_rates
    from dse.workloads import open_workload

    hw = hardware_from_args(args)
    drops = _numbers(args.drops, "drops")
    if not drops or not all(0 < d < 1 for d in drops):
        raise ValueError(f"drops must be in (0, 1) (0.01 = one point), got {args.drops!r}")
    sa1_share = CHEN2015_SA1_SHARE if args.sa1_share is None else args.sa1_share
    if not (0.0 <= sa1_share <= 1.0):
        raise ValueError(f"sa1_share must be in [0, 1], got {sa1_share}")
    # The rates are searched; a total of 1 split by the share stands in for them, so that post-test
    # failures have their SA0 : SA1 ratio (FaultScenario.post_test_rates).
    scenario = faults_from_args(args, sa0_rate=1.0 - sa1_share, sa1_rate=sa1_share,
                                **({} if args.n_chips is not None else {"n_chips": 16}))
    names = [name.strip() for name in args.protect.split(",") if name.strip()]
    names = ["none"] + [n for n in names if n != "none"]
    protections = {name: protection_preset(name) for name in names}  # unknown names fail here, before work
    workload = open_workload(args.workload, args.data)
    found = {}
    for name, protection in protections.items():
        found[name] = tolerance_rates(workload, hw, protection, drops=drops, n_chips=scenario.n_chips,
                                      seed=scenario.seed, sa1_share=sa1_share, refine=args.refine,
                                      max_test=args.max_test, scenario=scenario)
    base = found["none"]
    rows = []
    for name, curve in found.items():
        row = {"protect": name, "needs_fault_map": protections[name].needs_fault_map, "ideal_accuracy": curve.ideal,
               "crossbars": curve.crossbars, "rates": {}}
        for drop in drops:
            low, high = interval(bootstrap_rates(curve, drop))
            entry = {"rate": curve.rates[drop], "rate_ci95": [low, high]}
            if name != "none":
                ratio = curve.rates[drop] / base.rates[drop] if base.rates[drop] > 0 else math.inf
                entry.update(ratio=ratio, ratio_ci95=list(ratio_interval(curve, base, drop)))
            row["rates"][f"{drop:g}"] = entry
        row["points"] = [[rate, mean] for rate, mean in curve.points.items()]
        rows.append(row)
    if args.json:
        def finite(value):  # JSON has no infinity: an unreached crossing is null
            if isinstance(value, float) and math.isinf(value):
                return None
            if isinstance(value, dict):
                return {k: finite(v) for k, v in value.items()}
            if isinstance(value, list):
                return [finite(v) for v in value]
            return value
        print(json.dumps({"workload": workload.name, "n_chips": scenario.n_chips, "sa1_share": sa1_share,
                          "protections": finite(rows)}))
        return 0
    print(f"{workload.name}: tolerated total stuck-at rate (SA1 share {sa1_share:.3f}), {scenario.n_chips} chips, "
          f"95 % bootstrap intervals over chips")
    def bound(rate: float, curve) -> str:  # an interval end beyond every rate simulated
        return f"> {_percent(max(curve.points))}" if math.isinf(rate) else _percent(rate)

    for row, curve in zip(rows, found.values()):
        needs = "needs a tested fault map" if row["needs_fault_map"] else "fault-map-free"
        print(f"  {row['protect']} ({needs}; ideal {row['ideal_accuracy']:.4f}, {row['crossbars']} crossbars)")
        for drop, entry in row["rates"].items():
            low, high = entry["rate_ci95"]
            line = f"    -{100 * float(drop):g} pt: {_percent(entry['rate'])} [{bound(low, curve)}, {bound(high, curve)}]"
            if "ratio" in entry:
                r_low, r_high = entry["ratio_ci95"]
                line += f", {_times(entry['ratio'])} no protection's [{_times(r_low)}, {_times(r_high)}]"
            print(line)
    return 0
