"""The ``python -m bgaug.saliency`` subcommands, one module each (core's ``add_command`` style).

Each module's docstring is the command's description (its first line the one-line help), and it
defines ``add_arguments(parser)`` and ``run_from_args(args) -> int``; ``bgaug.saliency.cli`` only
registers them. Library imports (torch models, the bank builders) happen inside ``run_from_args``,
so building the parser stays cheap. ``pack`` lives in ``bgaug.saliency.pack``, beside the format it
writes. Helpers used by several commands: ``common``.
"""
