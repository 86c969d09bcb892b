"""``dse show results/<study>``: what a study searched, how far it got, and its best designs."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from dse.cli_options import count

if TYPE_CHECKING:
    import pandas as pd


def add_parser(subparsers, help: str) -> None:
    parser = subparsers.add_parser("show", help=help, description="Summarise a results folder written by `dse run`.")
    parser.add_argument("results", help="results folder, e.g. results/quickstart")
    parser.add_argument("--top", type=count(0), default=10, help="non-dominated designs to list (default 10)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object: the study, its hypervolume box and per scenario the trial "
                        "counts, the hypervolume in [0, 1] and the best value of each objective")
    parser.set_defaults(func=run)


def _hypervolume_text(hv: float | None, metadata: dict) -> str:
    if hv is None:
        return "hypervolume not stored (table written before boxes were)" if len(metadata) else ""
    box = metadata["hypervolume"]
    return (f"hypervolume {hv:.3f} of the box from ideal {box['ideal']} to reference "
            f"{[float(f'{r:.4g}') for r in box['reference']]} ({box['source']})")


def summary(frame: pd.DataFrame, metadata: dict) -> dict:
    """The numbers ``dse show --json`` prints: plain JSON (no NaN), one entry per scenario."""
    from dse.study.results import study_hypervolume

    objectives = [tuple(o) for o in metadata.get("objectives", [])]
    metrics = [m for m, _ in objectives]
    scenarios = []
    for scenario, part in frame.groupby("scenario", sort=False):
        feasible = part[part["feasible"]]
        best = {}
        for metric, direction in objectives:
            values = feasible[metric].dropna()
            if len(values):
                row = feasible.loc[values.idxmax() if direction == "maximize" else values.idxmin()]
                best[metric] = {"value": float(row[metric]), "trial_number": int(row["trial_number"])}
        scenarios.append({"scenario": scenario, "completed": int(len(part)), "feasible": int(len(feasible)),
                          "non_dominated": int(part["is_pareto"].sum()),
                          "hypervolume": study_hypervolume(feasible[metrics].to_numpy(float), metadata),
                          "best": best})
    out = {"study": metadata.get("study"), "workload": metadata.get("workload"),
           "objectives": [list(o) for o in objectives], "hypervolume_box": metadata.get("hypervolume"),
           "scenarios": scenarios}
    if len(scenarios) == 1:
        out["hypervolume"] = scenarios[0]["hypervolume"]
    return out


def summarise(frame: pd.DataFrame, metadata: dict, top: int = 10) -> str:
    import pandas as pd

    from dse.study.results import study_hypervolume

    objectives = [tuple(o) for o in metadata.get("objectives", [])]
    metrics = [m for m, _ in objectives]
    lines = [f"study {metadata.get('study', '?')} on workload {metadata.get('workload', '?')}",
             "  objectives: " + ", ".join(f"{d} {m}" for m, d in objectives),
             f"  constraints: {', '.join(metadata.get('constraints', [])) or 'none'}",
             f"  searched: {', '.join(metadata.get('searched', []))}"]
    if not len(frame):
        return "\n".join(lines + ["  no completed trials yet"])
    lines.append(f"  package version(s): {', '.join(sorted(frame['package_version'].dropna().unique()))}; "
                 f"mean trial wall time {frame['wall_time_s'].mean():.2f} s")
    for scenario, part in frame.groupby("scenario", sort=False):
        feasible = part[part["feasible"]]
        first = part.iloc[0]
        hv = study_hypervolume(feasible[metrics].to_numpy(float), metadata)
        lines.append("")
        lines.append(f"scenario {scenario}: sa0_rate {first['sa0_rate']:g}, sa1_rate {first['sa1_rate']:g}, "
                     f"{first['fault_model']} faults, {first['n_chips']} chips, seed {first['seed']}")
        lines.append(f"  {len(part)} completed trial(s), {len(feasible)} feasible, "
                     f"{int(part['is_pareto'].sum())} non-dominated; {_hypervolume_text(hv, metadata)}")
        for metric, direction in objectives:
            if len(feasible):
                best = feasible.loc[feasible[metric].idxmax() if direction == "maximize" else feasible[metric].idxmin()]
                lines.append(f"  best {metric}: {best[metric]:.6g} (trial {best['trial_number']})")
        if "needs_fault_map" in part and metrics:  # tables written before the column existed lack it
            metric, direction = objectives[0]
            for needs, label in ((False, "fault-map-free"), (True, "needs a tested fault map")):
                group = feasible[feasible["needs_fault_map"] == needs]
                if len(group):
                    best = group.loc[group[metric].idxmax() if direction == "maximize" else group[metric].idxmin()]
                    lines.append(f"  {label}: {len(group)} feasible trial(s), best {metric} {best[metric]:.6g} "
                                 f"(trial {best['trial_number']})")
                else:
                    lines.append(f"  {label}: no feasible trial")
        # Best first on each objective's own direction: the first objective decides, the others break ties.
        front = part[part["is_pareto"]].sort_values(
            [*metrics, "trial_number"], ascending=[d == "minimize" for _, d in objectives] + [True], kind="stable")
        columns = ["trial_number", *metadata.get("searched", []), *metrics, "needs_fault_map"]
        if len(front):
            order = ", ".join(f"{m} {'highest' if d == 'maximize' else 'lowest'} first" for m, d in objectives[:1])
            lines.append(f"  non-dominated designs (first {min(top, len(front))} of {len(front)}; {order}):")
            with pd.option_context("display.width", 200, "display.max_columns", 40):
                table = front[[c for c in columns if c in front]].head(top).to_string(index=False)
            lines += ["    " + line for line in table.splitlines()]
    return "\n".join(lines)


def run(args) -> int:
    from dse.study.results import read_layers, read_metadata, read_trials

    frame = read_trials(args.results)
    if args.json:
        print(json.dumps(summary(frame, read_metadata(args.results)), indent=2, allow_nan=False))
        return 0
    print(summarise(frame, read_metadata(args.results), args.top))
    layers = read_layers(args.results)
    print(f"\nper-layer table: {len(layers)} row(s) in {args.results}/_layers/")
    return 0
