"""``dse run STUDY.toml``: run or resume a study, with a progress bar and a summary at the end."""
from __future__ import annotations

from dse.cli_options import MAX_WORKERS, count


def add_parser(subparsers, help: str) -> None:
    parser = subparsers.add_parser(
        "run", help=help,
        description="Run a study file until each fault scenario has its budget of trials. Running the "
        "same study again with the same storage resumes it; raise --trials to extend it.",
    )
    parser.add_argument("study", help="study file (TOML), e.g. studies/quickstart.toml")
    parser.add_argument("--trials", type=count(1), help="finished trials per scenario (overrides study.trials)")
    parser.add_argument("--workers", type=count(1, MAX_WORKERS), default=1,
                        help="worker processes on this machine (default 1)")
    parser.add_argument("--storage", help="Optuna storage URL shared by several machines, e.g. "
                        "postgresql://user@host/db (default: a journal file in the results folder)")
    parser.add_argument("--results", default="results", help="parent folder of results/<study>/ (default results)")
    parser.add_argument("--timeout-s", type=float, help="start no trial after this many seconds (overrides study.timeout_s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args) -> int:
    from dse.config import HardwareConfig
    from dse.simulate import check_backend_runs
    from dse.study import load_study, run_study

    spec = load_study(args.study).with_overrides(trials=args.trials, timeout_s=args.timeout_s)
    if spec.hardware.get("backend", "cpu") != "cpu":  # here, not in every trial (where it would read as invalid)
        hw = HardwareConfig(backend=spec.hardware["backend"])
        for scenario in spec.scenarios:
            check_backend_runs(hw, scenario.faults, scenario.analog)
    summary = run_study(spec, workers=args.workers, storage=args.storage, results=args.results,
                        progress=not args.no_progress)
    print(summary.format())
    return 0
