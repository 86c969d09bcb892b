"""``dse query results/<study> "accuracy_mean > 0.95 and energy_pj < 2e5"``: matching designs."""
from __future__ import annotations

import sys

from dse.cli_options import count


def add_parser(subparsers, help: str) -> None:
    parser = subparsers.add_parser(
        "query", help=help,
        description="Filter a study's trials table and print the matches. The expression language "
        "(docs/studies.md, dse/query.py): column names (backticks for unusual names), numbers, strings, "
        "comparisons, in [list], and/or/not, arithmetic; nothing else (no calls, attributes or @ names).",
    )
    parser.add_argument("results", help="results folder, e.g. results/quickstart")
    parser.add_argument("expr", nargs="?", default="", help='e.g. "accuracy_mean > 0.95 and energy_pj < 2e5"')
    parser.add_argument("--sort", help="sort by this column (ascending; see --descending)")
    parser.add_argument("--descending", action="store_true", help="sort from largest to smallest")
    parser.add_argument("--columns", help="comma-separated columns to show (default: the searched "
                        "parameters and the objectives; --csv writes every column)")
    parser.add_argument("--limit", type=count(0), help="print at most this many rows")
    parser.add_argument("--layers", action="store_true", help="query the per-layer table instead")
    parser.add_argument("--csv", action="store_true", help="write CSV to standard output")
    parser.set_defaults(func=run)


def default_columns(frame, metadata: dict) -> list[str]:
    objectives = [m for m, _ in metadata.get("objectives", [])]
    wanted = ["trial_number", *(["scenario"] if len(metadata.get("scenarios", [])) > 1 else []),
              *metadata.get("searched", []), *objectives, "feasible", "is_pareto"]
    return [c for c in dict.fromkeys(wanted) if c in frame]


def run(args) -> int:
    import pandas as pd

    from dse.query import select
    from dse.study.results import read_layers, read_metadata, read_trials

    frame = read_layers(args.results) if args.layers else read_trials(args.results)
    rows = select(frame, args.expr)
    if args.sort:
        if args.sort not in rows:
            raise ValueError(f"--sort {args.sort}: no such column; columns: {', '.join(frame.columns)}")
        rows = rows.sort_values(args.sort, ascending=not args.descending, kind="stable")
    if args.columns:
        columns = [c.strip() for c in args.columns.split(",") if c.strip()]
        missing = [c for c in columns if c not in rows]
        if missing:
            raise ValueError(f"--columns: no column(s) {', '.join(missing)}; columns: {', '.join(frame.columns)}")
    elif args.csv or args.layers:
        columns = list(rows.columns)
    else:
        columns = default_columns(rows, read_metadata(args.results))
    rows = rows[columns] if args.limit is None else rows[columns].head(args.limit)
    if args.csv:
        rows.to_csv(sys.stdout, index=False)
        return 0
    else:
        with pd.option_context("display.width", 200, "display.max_columns", 40, "display.max_rows", 500):
            print(rows.to_string(index=False) if len(rows) else "no matching designs")
        print(f"{len(rows)} of {len(frame)} row(s)", file=sys.stderr)
    return 0
