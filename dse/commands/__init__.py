"""One module per ``dse`` sub-command; each defines ``add_parser(subparsers)`` and ``run(args)``."""
