"""``dse pareto results/<study>``: draw the Pareto front(s) of a study to PNG or SVG."""
from __future__ import annotations

from pathlib import Path



def add_parser(subparsers, help: str) -> None:
    parser = subparsers.add_parser(
        "pareto", help=help,
        description="One panel per pair of objectives (or --x/--y), dominated designs faded, designs "
        "non-dominated over all objectives highlighted, hypervolume (share of the study's fixed objective box) in the title.",
    )
    parser.add_argument("results", help="results folder, e.g. results/quickstart")
    parser.add_argument("--x", help="column on the x axis (with --y), e.g. energy_pj")
    parser.add_argument("--y", help="column on the y axis (with --x), e.g. accuracy_mean")
    parser.add_argument("-o", "--output", help="PNG, SVG or PDF file, or .html with --html (default: the Pareto "
                        "plot file in RESULTS, dse.study.folder.PARETO_FILE, or _pareto.html)")
    parser.add_argument("--html", action="store_true",
                        help="an interactive plot instead (plotly, pip install 'reram-dse[plots]'): hover shows "
                             "each point's trial number, searched parameters and objectives")
    parser.set_defaults(func=run)


def run(args) -> int:
    from dse.study.folder import PARETO_FILE
    from dse.study.plots import plot_pareto
    from dse.study.results import read_metadata, read_trials

    frame = read_trials(args.results)
    if frame.empty:
        raise ValueError(f"{args.results}: no completed trials to plot yet")
    metadata = read_metadata(args.results)
    objectives = [tuple(pair) for pair in metadata.get("objectives", [])]
    if args.html:
        from dse.study.plots import pareto_html

        if args.x or args.y:
            raise ValueError("--html draws every pair of objectives; leave out --x and --y")
        out = Path(args.output) if args.output else Path(args.results) / Path(PARETO_FILE).with_suffix(".html").name
        print(pareto_html(frame, objectives, out, title=metadata.get("study", ""),
                          searched=metadata.get("searched"), constraints=metadata.get("constraints")))
        return 0
    out = Path(args.output) if args.output else Path(args.results) / PARETO_FILE
    path = plot_pareto(frame, objectives, out, title=metadata.get("study", ""), x=args.x, y=args.y,
                       constraints=metadata.get("constraints"),
                       hypervolume_box=metadata.get("hypervolume"))
    print(path)
    return 0
