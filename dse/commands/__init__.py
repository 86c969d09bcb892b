"""One module per ``dse`` sub-command; each defines ``add_parser(subparsers, help)`` and ``run(args)``;
the one-line help of each lives in ``dse.cli.COMMANDS``."""
