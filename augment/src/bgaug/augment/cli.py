"""Command line of bgaug.augment: ``preview`` and ``bench``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bgaug.augment import bench, preview
from bgaug.core.cli import add_command, run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bgaug.augment",
        description="bgaug background augmentations: preview views, benchmark the batched pipelines.",
    )
    sub = parser.add_subparsers(dest="command")
    add_command(sub, "preview", preview)
    add_command(sub, "bench", bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser(), {"preview": preview.run_from_args, "bench": bench.run_from_args}, argv)
