"""linear transfer to CIFAR-10/100 or an ImageFolder data set

Linear transfer (appendix A.8 / A.9): a linear head trained on frozen features of the train split,
top-1 reported on the held-out split. --source cifar10 / cifar100 reads torchvision's on-disk format
under --root (never downloaded; images upsampled by the checkpoint's preprocessing); --source folder
reads an ImageFolder tree with train/ and val/ (or test/) under --root, e.g. Places-205. The head
uses the method's linear recipe (--method, default: the checkpoint's method; MoCo-v2's for others),
--epochs overrides its length; features are cached under --cache when given. Prints the results as
JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bgaug.core.io import sha256_file
from bgaug.evals.commands.common import (
    add_options,
    backbone_from_args,
    emit,
    eval_options,
    require_inputs,
    require_outputs,
)
from bgaug.evals.features import checkpoint_key


def add_arguments(tr: argparse.ArgumentParser) -> None:
    tr.add_argument("--checkpoint", type=Path, required=True)
    tr.add_argument("--source", choices=("cifar10", "cifar100", "folder"), required=True)
    tr.add_argument(
        "--root", type=Path, required=True, help="data set root (torchvision layout or train/ val/)"
    )
    tr.add_argument("--method", default=None)
    tr.add_argument("--epochs", type=int, default=None)
    tr.add_argument("--cache", type=Path, default=None)
    add_options(tr)


def run_from_args(args: argparse.Namespace) -> int:
    from bgaug.evals.recipes import linear_recipe
    from bgaug.evals.transfer import linear_transfer

    options = eval_options(args)
    require_inputs(args, files=("checkpoint",), dirs=("root",))
    require_outputs(args, cache=True)
    backbone, pre, state = backbone_from_args(args)
    method = args.method or state.get("meta", {}).get("method")
    result = linear_transfer(
        backbone,
        pre,
        args.source,
        args.root,
        linear_recipe(method),
        options,
        cache_dir=args.cache,
        cache_key=checkpoint_key(sha256_file(args.checkpoint)),
        batch_size=args.batch_size,
        epochs=args.epochs,
        seed=args.seed,
    )
    emit(result, args.json)
    return 0
