"""``dse report``: rerun the experiments behind every number table of README.md and docs/."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from dse.experiments.report import FULL, TABLES, TINY, run_tables, select


def add_parser(subparsers, help: str) -> None:
    parser = subparsers.add_parser(
        "report", help=help,
        description="Each table in README.md and docs/ sits between '<!-- dse report: NAME -->' and "
        "'<!-- end dse report: NAME -->'. --check reruns its experiments and exits 1 if the text differs; "
        "--write replaces it. Tables: " + ", ".join(TABLES) + ".")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--check", action="store_true", help="rerun and compare; exit 1 naming stale tables")
    what.add_argument("--write", action="store_true", help="rerun and rewrite the tables in place")
    what.add_argument("--list", action="store_true", help="list the tables and where they live (default)")
    parser.add_argument("tables", nargs="*", metavar="NAME", help=f"tables to run (default all): {', '.join(TABLES)}")
    parser.add_argument("--root", default=".", help="repository root holding README.md and docs/ (default .)")
    parser.add_argument("--tiny", action="store_true",
                        help=f"a smoke setting ({TINY.n_chips} chips, {TINY.max_test} test samples, no rate "
                        "searches): exercises the machinery, its numbers are not the docs'")
    parser.set_defaults(func=run)


_PROGRESS = logging.StreamHandler(sys.stderr)
_PROGRESS.setFormatter(logging.Formatter("  %(asctime)s %(message)s", "%H:%M:%S"))


def _show_progress() -> None:
    """Each design point and rate on stderr as it runs (tables take hours): once per process, however
    often ``run`` is called."""
    for name in ("dse.report", "dse.experiments.tolerance"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        if _PROGRESS not in logger.handlers:
            logger.addHandler(_PROGRESS)


def run(args) -> int:
    tables = select(args.tables)
    root = Path(args.root)
    if not (args.check or args.write):
        for table in tables:
            print(f"{table.name:<18} {table.path:<22} {table.about}")
        return 0
    setting = TINY if args.tiny else FULL
    _show_progress()
    outcomes = run_tables(tables, root, setting, write=args.write,
                          progress=lambda line: print(line, file=sys.stderr, flush=True))
    stale = [o for o in outcomes if o.changed]
    for o in outcomes:
        state = ("rewritten" if args.write else "STALE") if o.changed else "up to date"
        print(f"{o.name}: {state} ({o.seconds:.0f} s)")
        if o.changed and args.check:
            print(o.diff)
    return 1 if stale and args.check else 0
