"""Command line: ``python -m bgaug.evals {run,linear,finetune,knn,transfer,real-score,bench} ...``.

Each subcommand is a module of ``bgaug.evals.commands`` (``add_arguments`` and ``run_from_args``; its
docstring is the ``--help`` description); this module only registers them. Every command checks its
device, its input paths and where it will write before it loads a model, so bad input costs one line
and exit status 2 (``bgaug.core.cli.run_cli``), never a traceback or an hour of compute.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from bgaug.core.cli import add_command, run_cli
from bgaug.evals.commands import bench, finetune, knn, linear, real_score, run, transfer

PROG = "python -m bgaug.evals"

HANDLERS: dict[str, Callable[[argparse.Namespace], int | None]] = {
    "run": run.run_from_args,
    "linear": linear.run_from_args,
    "finetune": finetune.run_from_args,
    "knn": knn.run_from_args,
    "transfer": transfer.run_from_args,
    "real-score": real_score.run_from_args,
    "bench": bench.run_from_args,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="bgaug evaluation: linear, limited-label, kNN and transfer protocols; robustness suites.",
    )
    sub = parser.add_subparsers(dest="command")
    add_command(sub, "run", run)
    add_command(sub, "linear", linear)
    # argparse %-formats help strings: the docstring's "1% / 10%" needs escaping here.
    add_command(sub, "finetune", finetune, help="fine-tune on the 1%% / 10%% label splits (appendix A.5.2)")
    add_command(sub, "knn", knn)
    add_command(sub, "transfer", transfer)
    add_command(sub, "bench", bench)
    add_command(sub, "real-score", real_score)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser(), HANDLERS, argv, PROG)


if __name__ == "__main__":
    sys.exit(main())
