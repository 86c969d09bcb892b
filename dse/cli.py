"""The ``dse`` command line: one sub-command per module in :mod:`dse.commands`."""
from __future__ import annotations

import argparse
import importlib
import sys

# Sub-command modules, in the order ``dse --help`` lists them.
COMMANDS = ("run", "query", "pareto", "show", "cost", "eval", "sweep", "bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dse", description="Design-space exploration of fault-tolerant ReRAM accelerators."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"dse.commands.{name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValueError as exc:  # validation errors are for the user, not a traceback
        print(f"dse {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:  # what is stored is safe (atomic writes); no traceback for a Ctrl-C
        print(f"dse {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
