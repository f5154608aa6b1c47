"""Command line of bgaug.ssl_methods: ``python -m bgaug.ssl_methods bench [--json FILE]``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bgaug.core.cli import add_command, run_cli
from bgaug.ssl_methods import bench


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bgaug.ssl_methods",
        description="bgaug SSL methods (MoCo-v2, BYOL, SwAV, RotNet, SimCLR, supervised): tools.",
    )
    add_command(
        parser.add_subparsers(dest="command"),
        "bench",
        bench,
        help="training-step speed of every method and the BG_Swaps / MoCo-v2 step-time ratio",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser(), {"bench": bench.run}, argv)
