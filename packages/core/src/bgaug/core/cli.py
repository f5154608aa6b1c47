"""Command line of bgaug.core: ``python -m bgaug.core synth --out DIR --seed S [...]``.

User errors (bad arguments, unreadable inputs) end with exit status 2 and one line on stderr,
never a traceback; see ``run_cli``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from bgaug.core.errors import UsageError, one_line
from bgaug.core.io import BadCheckpointError, BadImageError

USER_ERRORS: tuple[type[BaseException], ...] = (
    UsageError,
    BadImageError,
    BadCheckpointError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    PermissionError,
)


def run_cli(
    parser: argparse.ArgumentParser,
    handlers: dict[str, Callable[[argparse.Namespace], int | None]],
    argv: Sequence[str] | None = None,
    prog: str | None = None,
) -> int:
    """Parse ``argv``, dispatch to the subcommand's handler, and turn user errors into one line.

    Every bgaug package's CLI goes through this, so all of them fail the same way: exit status 2 and
    ``<prog>: error: <cause>`` on stderr.
    """
    args = parser.parse_args(argv)
    command = getattr(args, "command", None)
    if command is None:
        parser.print_help()
        return 2
    try:
        result = handlers[command](args)
    except USER_ERRORS as exc:
        # One line whatever the message holds: a library's text may span several.
        print(f"{prog or parser.prog}: error: {one_line(exc, limit=None)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog or parser.prog}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


def run_single_command(
    prog: str,
    module: ModuleType,
    handler: Callable[[argparse.Namespace], int | None],
    argv: Sequence[str] | None = None,
) -> int:
    """``run_cli`` for a module that is one command (no subcommands): options from
    ``module.add_arguments``, description from its docstring."""
    parser = argparse.ArgumentParser(
        prog=prog, description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    module.add_arguments(parser)
    parser.set_defaults(command=prog)
    return run_cli(parser, {prog: handler}, argv)


def add_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    module: ModuleType,
    help: str | None = None,
) -> None:
    """Register subcommand ``name`` from ``module``: its options from ``module.add_arguments``, its
    description from the module docstring (help: the docstring's first line unless given)."""
    doc = module.__doc__ or ""
    module.add_arguments(
        subparsers.add_parser(
            name,
            help=help or (doc.splitlines()[0] if doc else None),
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )


def build_parser() -> argparse.ArgumentParser:
    from bgaug.core import import_backbone, synth

    parser = argparse.ArgumentParser(
        prog="python -m bgaug.core",
        description="bgaug core tools: the synthetic benchmark; backbones from other libraries.",
    )
    subparsers = parser.add_subparsers(dest="command")
    add_command(subparsers, "synth", synth)
    add_command(subparsers, "import-backbone", import_backbone)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from bgaug.core import import_backbone, synth

    handlers: dict[str, Callable[[argparse.Namespace], int | None]] = {
        "synth": synth.run_from_args,
        "import-backbone": import_backbone.run_from_args,
    }
    return run_cli(build_parser(), handlers, argv)
