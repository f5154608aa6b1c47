"""Command line: ``python -m bgaug.saliency {handcrafted,fit,predict,eval,pack,bench} ...``.

Each subcommand is a module with ``add_arguments(parser)`` and ``run_from_args(args)`` (core's
``add_command`` style): ``bgaug.saliency.commands.*`` and ``bgaug.saliency.pack``. This module only
registers them. User errors end with exit status 2 and one line on stderr (core's ``run_cli``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from types import ModuleType

from bgaug.core.cli import add_command, run_cli

PROG = "python -m bgaug.saliency"
HELP = {"pack": "pack a mask bank or mask folder into one file for fast random reads"}
"""One-line help of the commands whose module docstring opens with something else."""


def commands() -> dict[str, ModuleType]:
    """Every subcommand's module by name, in the order ``--help`` lists them (imported on call)."""
    from bgaug.saliency import pack
    from bgaug.saliency.commands import bench, evaluate, fit, handcrafted, predict

    return {
        "handcrafted": handcrafted,
        "predict": predict,
        "fit": fit,
        "eval": evaluate,
        "pack": pack,
        "bench": bench,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Unsupervised saliency for bgaug: hand-crafted maps, DeepUSPS2, mask banks, metrics.",
    )
    sub = parser.add_subparsers(dest="command")
    for name, module in commands().items():
        add_command(sub, name, module, help=HELP.get(name))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    handlers: dict[str, Callable[[argparse.Namespace], int | None]] = {
        name: module.run_from_args for name, module in commands().items()
    }
    return run_cli(build_parser(), handlers, argv, prog=PROG)
