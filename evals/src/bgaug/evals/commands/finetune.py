"""fine-tune on the 1% / 10% label splits (appendix A.5.2)

Fine-tunes the whole network of --checkpoint (trunk and a new 1000-way linear head, BatchNorm in
train mode) on RandomResizedCrop + flip views of the SimCLR split's images (--split over the
ImageNet train/{wnid}/ folder --imagenet-train), then reports top-1 on --val (ImageNet val in wnid
folders). The recipe is SwAV's semi-supervised one, trunk and head with separate learning rates
(BYOL's for a BYOL checkpoint): --fraction picks the 1pct or 10pct recipe, --method overrides the
checkpoint's method, --epochs the recipe's length. --out writes the fine-tuned checkpoint. Prints
the summary as JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bgaug.evals.commands.common import (
    add_options,
    add_overwrite,
    backbone_from_args,
    emit,
    eval_options,
    require_inputs,
    require_outputs,
)


def add_arguments(ft: argparse.ArgumentParser) -> None:
    ft.add_argument("--checkpoint", type=Path, required=True)
    ft.add_argument("--split", type=Path, required=True, help="SimCLR split file")
    ft.add_argument("--fraction", choices=("1pct", "10pct"), required=True)
    ft.add_argument("--imagenet-train", type=Path, required=True, help="ImageNet train/{wnid}/ folder")
    ft.add_argument("--val", type=Path, required=True, help="ImageNet val in wnid folders")
    ft.add_argument("--method", default=None)
    ft.add_argument("--epochs", type=int, default=None)
    ft.add_argument("--out", type=Path, default=None, help="write the fine-tuned checkpoint here")
    add_overwrite(ft, "an existing --out file")
    add_options(ft)


def run_from_args(args: argparse.Namespace) -> int:
    from torch import nn

    from bgaug.core.backbones import save_backbone
    from bgaug.evals.datasets import ImageListDataset, labelled_by_wnid_or_folder
    from bgaug.evals.finetune import finetune
    from bgaug.evals.inference import predict
    from bgaug.evals.recipes import finetune_recipe
    from bgaug.evals.splits import split_items

    options = eval_options(args)
    require_inputs(args, files=("checkpoint", "split"), dirs=("imagenet_train", "val"))
    require_outputs(args, out_file=True)
    backbone, pre, state = backbone_from_args(args)
    items = split_items(args.split, args.imagenet_train)
    method = args.method or state.get("meta", {}).get("method")
    model, losses, unreadable = finetune(
        backbone,
        pre,
        items,
        1000,
        finetune_recipe(args.fraction, method),
        options,
        batch_size=min(args.batch_size, len(items)),
        epochs=args.epochs,
        seed=args.seed,
    )
    val_items, _ = labelled_by_wnid_or_folder(args.val, 1000)
    outcome = predict(model, ImageListDataset(val_items, pre), options, desc="val")
    all_unreadable = sorted(set(unreadable) | set(outcome.unreadable))
    summary = {
        "fraction": args.fraction,
        "n_train": len(items),
        "final_train_loss": losses[-1],
        "val_top1": outcome.top1,
        "n_unreadable": len(all_unreadable),
        "unreadable_files": all_unreadable,
    }
    if args.out is not None:
        assert isinstance(model.head, nn.Linear)
        save_backbone(
            args.out,
            model.backbone,
            arch=str(state["arch"]),
            small_stem=bool(state["small_stem"]),
            head=model.head,
            preprocess=pre,
            meta={**state.get("meta", {}), "finetune": summary},
        )
    emit(summary, args.json)
    return 0
