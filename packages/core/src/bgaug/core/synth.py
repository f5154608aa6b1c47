"""Generate the synthetic foreground/background benchmark (placeholder: being written)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)


def run_from_args(args: argparse.Namespace) -> int:
    raise NotImplementedError("synth is being written")
