"""``dse dashboard results/<study>``: optuna-dashboard on the study's own storage, on this machine only."""
from __future__ import annotations

from pathlib import Path

from dse.cli_options import count


def add_parser(subparsers, help: str) -> None:
    parser = subparsers.add_parser(
        "dashboard", help=help,
        description="Serve optuna-dashboard (the optional extra: pip install 'reram-dse[dashboard]') on "
        "127.0.0.1 for the study in a results folder: objectives by name, constraints marking infeasible "
        "designs, every trial's numbers as user attributes. Stop it with Ctrl-C.")
    parser.add_argument("results", help="results folder, e.g. results/quickstart")
    parser.add_argument("--port", type=count(1, 65535), default=8080, help="TCP port on 127.0.0.1 (default 8080)")
    parser.add_argument("--storage", default=None,
                        help="the Optuna storage URL the study ran with, when not the results folder's journal")
    parser.set_defaults(func=run)


def run(args) -> int:
    try:
        import optuna_dashboard
    except ImportError:
        raise ValueError("optuna-dashboard is not installed; pip install 'reram-dse[dashboard]'") from None
    from dse.study import open_storage
    from dse.study.results import results_folder

    folder = results_folder(args.results)  # refuses a folder that holds no study, before the server starts
    storage = open_storage(args.storage, Path(folder))
    print(f"optuna-dashboard for {folder} on http://127.0.0.1:{args.port}/ (Ctrl-C stops it)", flush=True)
    optuna_dashboard.run_server(storage, host="127.0.0.1", port=args.port)
    return 0
