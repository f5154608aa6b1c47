"""Options, input and output checks and result printing shared by the ``bgaug.evals`` subcommands.

Every command checks its device (``eval_options``), its input paths (``require_inputs``) and where it
will write (``require_outputs``) before it loads a model, so bad input costs one line and exit status
2 (``bgaug.core.cli.run_cli``), never a traceback or an hour of compute.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bgaug.core.io import atomic_write_json
from bgaug.core.preflight import check_input_file, check_input_folder, check_new_file, check_writable
from bgaug.evals.inference import EvalOptions, default_workers


def add_options(p: argparse.ArgumentParser) -> None:
    """The ``inference`` option group every model-running command has, ``--json`` included."""
    g = p.add_argument_group("inference")
    g.add_argument("--batch-size", type=int, default=256, help="images per batch (default 256)")
    g.add_argument("--workers", type=int, default=default_workers(), help="DataLoader workers")
    g.add_argument(
        "--device", default=None, help="torch device, checked first (default: cuda if available, else cpu)"
    )
    g.add_argument("--bf16", action="store_true", help="bfloat16 autocast for inference")
    g.add_argument("--no-progress", action="store_true", help="hide progress bars")
    g.add_argument("--seed", type=int, default=0, help="seed of shuffles, crops and corruptions")
    g.add_argument(
        "--json",
        type=Path,
        default=None,
        help="also write the results to this JSON file (replaced if present)",
    )


def eval_options(args: argparse.Namespace, **extra: Any) -> EvalOptions:
    """``EvalOptions`` from the ``add_options`` group (``extra``: further fields); the device is
    checked here, first."""
    kwargs: dict[str, Any] = {
        "batch_size": args.batch_size,
        "workers": args.workers,
        "bf16": args.bf16,
        "progress": not args.no_progress,
        **extra,
    }
    if args.device:
        kwargs["device"] = args.device
    return EvalOptions(**kwargs)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def require_inputs(args: argparse.Namespace, files: Sequence[str] = (), dirs: Sequence[str] = ()) -> None:
    """Every input path the user gave (by argparse name) exists, before anything is loaded."""
    for name in files:
        if getattr(args, name) is not None:
            check_input_file(getattr(args, name), _flag(name))
    for name in dirs:
        if getattr(args, name) is not None:
            check_input_folder(getattr(args, name), _flag(name))


def require_outputs(args: argparse.Namespace, *, cache: bool = False, out_file: bool = False) -> None:
    """``--json`` (and ``--cache`` / ``--out`` where the command has them) can be written; an existing
    ``--out`` file is refused unless ``--overwrite``. ``--json`` is a copy of the printed results, so
    it is replaced."""
    if args.json is not None:
        check_new_file(args.json, "--json", overwrite=True)
    if cache and args.cache is not None:
        check_writable(args.cache, "--cache")
    if out_file and args.out is not None:
        check_new_file(args.out, "--out", overwrite=args.overwrite)


def add_overwrite(p: argparse.ArgumentParser, what: str) -> None:
    """``--overwrite``, whose help says what it replaces."""
    p.add_argument("--overwrite", action="store_true", help=f"replace {what}")


def emit(result: dict[str, Any], json_path: Path | None) -> None:
    """Print ``result`` as JSON; also write it to ``json_path`` (``--json``) when given."""
    if json_path is not None:
        atomic_write_json(json_path, result)
    print(json.dumps(result, indent=2, sort_keys=True, default=str))


def backbone_from_args(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    """(backbone, ``Preprocess``, checkpoint state) of ``--checkpoint``."""
    from bgaug.core.backbones import load_backbone
    from bgaug.core.interfaces import Preprocess

    backbone, state = load_backbone(args.checkpoint)
    p = state["preprocess"]
    pre = Preprocess(resize=int(p["resize"]), crop=int(p["crop"]), mean=tuple(p["mean"]), std=tuple(p["std"]))
    return backbone, pre, state
