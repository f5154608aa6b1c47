"""linear evaluation of a frozen backbone (appendix A.3)

Trains a linear head on the frozen backbone of --checkpoint (eval mode: BatchNorm statistics stay
fixed) and reports its top-1 on --val, an ImageFolder split or ImageNet val in wnid folders. Training
images: an ImageFolder split (--train), or a SimCLR 1%/10% split file (--split) over an ImageNet
train/{wnid}/ folder (--imagenet-train; 1000 classes, appendix A.5.2).

--mode fast (default) trains one probe for every method (SGD lr 0.3, momentum 0.9, cosine, 100
epochs unless --epochs) on standardised centre-crop features computed once, cached under --cache when
given (keyed by the checkpoint's sha256). --mode paper trains on RandomResizedCrop + flip views every
epoch with the method's published recipe (--method, default: the checkpoint's method; MoCo-v2's
recipe for others). --out writes the checkpoint with its new head. Prints the summary as JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bgaug.core.errors import UsageError
from bgaug.core.io import sha256_file
from bgaug.evals.commands.common import (
    add_options,
    add_overwrite,
    backbone_from_args,
    emit,
    eval_options,
    require_inputs,
    require_outputs,
)
from bgaug.evals.features import checkpoint_key


def add_arguments(lin: argparse.ArgumentParser) -> None:
    lin.add_argument("--checkpoint", type=Path, required=True)
    lin.add_argument("--train", type=Path, default=None, help="ImageFolder train split")
    lin.add_argument(
        "--split", type=Path, default=None, help="SimCLR 1%%/10%% split file (with --imagenet-train)"
    )
    lin.add_argument("--imagenet-train", type=Path, default=None, help="ImageNet train/{wnid}/ folder")
    lin.add_argument("--val", type=Path, required=True, help="ImageFolder (or wnid) validation split")
    lin.add_argument("--mode", choices=("fast", "paper"), default="fast")
    lin.add_argument("--method", default=None, help="recipe (default: the checkpoint's method)")
    lin.add_argument("--epochs", type=int, default=None)
    lin.add_argument("--cache", type=Path, default=None, help="feature cache folder (fast mode)")
    lin.add_argument("--out", type=Path, default=None, help="write the checkpoint with its new head here")
    add_overwrite(lin, "an existing --out file")
    add_options(lin)


def run_from_args(args: argparse.Namespace) -> int:
    from bgaug.core.backbones import save_backbone
    from bgaug.evals.datasets import imagefolder_items, labelled_by_wnid_or_folder
    from bgaug.evals.linear import train_linear
    from bgaug.evals.recipes import linear_recipe
    from bgaug.evals.splits import split_items

    options = eval_options(args)
    if args.split is not None and args.imagenet_train is None:
        raise UsageError("--split needs --imagenet-train")
    if args.split is None and args.train is None:
        raise UsageError("give --train DIR or --split FILE --imagenet-train DIR")
    require_inputs(args, files=("checkpoint", "split"), dirs=("train", "imagenet_train", "val"))
    require_outputs(args, cache=True, out_file=True)
    backbone, pre, state = backbone_from_args(args)
    if args.split is not None:
        items, classes = split_items(args.split, args.imagenet_train), 1000
    else:
        items, names = imagefolder_items(args.train)
        classes = len(names)
    val_items, _ = labelled_by_wnid_or_folder(args.val, classes)
    method = args.method or state.get("meta", {}).get("method")
    result = train_linear(
        backbone,
        pre,
        items,
        classes,
        linear_recipe(method),
        options,
        val_items=val_items,
        mode=args.mode,
        epochs=args.epochs,
        batch_size=min(args.batch_size, len(items)),
        cache_dir=args.cache,
        cache_key=checkpoint_key(sha256_file(args.checkpoint)),
        seed=args.seed,
    )
    summary = {
        "method_recipe": method or "default",
        "n_train": len(items),
        "classes": classes,
        **result.summary(),
    }
    if args.out is not None:
        save_backbone(
            args.out,
            backbone,
            arch=str(state["arch"]),
            small_stem=bool(state["small_stem"]),
            head=result.head,
            preprocess=pre,
            meta={**state.get("meta", {}), "linear_eval": summary},
        )
    emit(summary, args.json)
    return 0
