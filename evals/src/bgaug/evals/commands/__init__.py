"""The subcommands of ``python -m bgaug.evals``, one module each.

Each module's docstring is its ``--help`` description (first line: its one-line help), and it has
``add_arguments(parser)`` and ``run_from_args(args) -> int``; ``bgaug.evals.cli`` only registers them.
Options and checks shared by several commands live in ``common``.
"""
