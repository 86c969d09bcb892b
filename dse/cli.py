"""The ``dse`` command line: one sub-command per module in :mod:`dse.commands`.

Only the sub-command being run is imported (with Numba, pandas, Optuna... behind it), so ``dse --help``
and ``dse --version`` answer without loading any of them, and ``dse SUB --help`` loads only what SUB's
flags need (the config dataclasses they are generated from).
"""
from __future__ import annotations

import argparse
import importlib
import sys

# Sub-commands in the order ``dse --help`` lists them, with their one-line help (the module
# ``dse.commands.<name>`` builds the rest of its parser from it).
COMMANDS = {
    "run": "run or resume a study file (search the design space)",
    "query": "print the designs of a study that match a filter expression",
    "pareto": "draw a study's Pareto front(s)",
    "show": "summarise a study's results",
    "dashboard": "browse a study in optuna-dashboard (optional extra)",
    "cost": "energy, area and latency from the technology tables",
    "eval": "simulate a workload on faulty crossbars over many chips",
    "sweep": "accuracy against fault rate (Parquet table and PNG)",
    "tolerance": "tolerated fault rate of each protection, with intervals",
    "bench": "measure simulator throughput against a numpy baseline",
    "report": "regenerate or check the number tables of README.md and docs/",
}


class OneLineParser(argparse.ArgumentParser):
    """A bad flag is one line on standard error (exit 2), like every other refusal of the ``dse`` command,
    instead of argparse's usage block: scripts and logs see the flag and what is allowed, ``--help`` the rest."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped: a refusal stays one line even
    when it quotes a user's file name or value that holds them."""
    return "".join(c if c.isprintable() or c == " " else ascii(c)[1:-1] for c in str(text))


def _version() -> str:
    from dse import __version__

    return f"dse (reram-dse) {__version__}"


def _command_in(argv: list[str]) -> str | None:
    """The sub-command ``argv`` names: its first argument that is not an option."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv``: every sub-command is listed, only the one ``argv`` names is built in full
    (``argv=None``: all of them, for documentation and tests)."""
    parser = OneLineParser(prog="dse", description="Design-space exploration of fault-tolerant ReRAM accelerators.")
    parser.add_argument("--version", action="version", version=_version(), help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=OneLineParser)
    wanted = None if argv is None else _command_in(argv)
    for name, help in COMMANDS.items():
        if argv is None or name == wanted:
            importlib.import_module(f"dse.commands.{name}").add_parser(sub, help)
        else:
            sub.add_parser(name, help=help, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser(argv).parse_args(argv)
    except SystemExit as exc:  # --help (0) or a refused flag (2, its one line already printed)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args.func(args) or 0)
    except ValueError as exc:  # validation errors are for the user, not a traceback
        print(f"dse {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head and the like
        sys.stderr.close()
        return 0
    except OSError as exc:  # a file the user named: missing, a folder, unreadable, a name too long, ...
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"dse {args.command}: error: {one_line(where + str(exc.strerror or exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # what is stored is safe (atomic writes); no traceback for a Ctrl-C
        print(f"dse {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
