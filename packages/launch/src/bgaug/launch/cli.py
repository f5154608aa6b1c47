"""``bgaug``: the umbrella command line.

bgaug pretrain ...            Ray Train pretraining (see ``bgaug pretrain --help``)
bgaug sweep ...               Ray Tune sweep over background-augmentation probabilities
bgaug demo ...                the end-to-end demo
bgaug bench ...               end-to-end pretraining rate (GPU data path) against the bare step
bgaug <package> <command> ... forwards to ``python -m bgaug.<package> <command> ...``
                              (packages: core, saliency, augment, ssl_methods, evals)
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import runpy
import sys
from collections.abc import Callable, Sequence

from bgaug.core.cli import add_command, run_cli

PACKAGES: dict[str, str] = {
    "core": "bgaug-core",
    "saliency": "bgaug-saliency",
    "augment": "bgaug-augment",
    "ssl_methods": "bgaug-ssl-methods",
    "evals": "bgaug-evals",
}


def forward(package: str, argv: Sequence[str]) -> int:
    """Run ``python -m bgaug.<package> argv...`` in this process and return its exit status."""
    module = f"bgaug.{package}"
    try:
        found = importlib.util.find_spec(f"{module}.__main__") is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        print(
            f"bgaug: error: {module} has no command line (is {PACKAGES[package]} installed?)", file=sys.stderr
        )
        return 2
    saved = sys.argv
    sys.argv = [f"bgaug {package}", *argv]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=False)
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    finally:
        sys.argv = saved
    return 0


def run_demo(argv: Sequence[str]) -> int:
    """``bgaug demo ...``: ``bgaug.launch.demo.main(argv)``, imported only when asked for."""
    try:
        demo = importlib.import_module("bgaug.launch.demo")
    except ModuleNotFoundError as exc:
        if exc.name != "bgaug.launch.demo":
            raise
        print(
            "bgaug: error: the demo is not available in this installation (bgaug.launch.demo is missing)",
            file=sys.stderr,
        )
        return 2
    status = demo.main(list(argv))
    return int(status or 0)


def build_parser() -> argparse.ArgumentParser:
    from bgaug.launch import bench, pretrain, sweep

    parser = argparse.ArgumentParser(
        prog="bgaug",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_command(sub, "pretrain", pretrain)
    add_command(sub, "sweep", sweep)
    add_command(sub, "bench", bench)
    sub.add_parser("demo", help="the end-to-end demo (options: bgaug demo --help)", add_help=False)
    for package in PACKAGES:
        sub.add_parser(package, help=f"python -m bgaug.{package} ...", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Package commands take their own flags (--help included): forward them untouched.
    if args_list and args_list[0] in PACKAGES:
        return forward(args_list[0], args_list[1:])
    from bgaug.launch import bench, pretrain, sweep

    handlers: dict[str, Callable[[argparse.Namespace], int | None]] = {
        "pretrain": pretrain.run_from_args,
        "sweep": sweep.run_from_args,
        "bench": bench.run,
    }
    try:
        if args_list and args_list[0] == "demo":
            return run_demo(args_list[1:])
        return run_cli(build_parser(), handlers, args_list, prog="bgaug")
    except RuntimeError as exc:  # a run that failed for good (after its restarts): one line, status 1
        print(f"bgaug: error: {exc}", file=sys.stderr)
        return 1
