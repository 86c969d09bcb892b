"""The ``dse`` command line: one sub-command per module in :mod:`dse.commands`."""
from __future__ import annotations

import argparse
import importlib
import sys

# Sub-command modules, in the order ``dse --help`` lists them.
COMMANDS = ("run", "query", "pareto", "show", "cost", "eval", "sweep", "bench", "report")


class OneLineParser(argparse.ArgumentParser):
    """A bad flag is one line on standard error (exit 2), like every other refusal of the ``dse`` command,
    instead of argparse's usage block: scripts and logs see the flag and what is allowed, ``--help`` the rest."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped: a refusal stays one line even
    when it quotes a user's file name or value that holds them."""
    return "".join(c if c.isprintable() or c == " " else ascii(c)[1:-1] for c in str(text))


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="dse", description="Design-space exploration of fault-tolerant ReRAM accelerators."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"dse.commands.{name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
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
