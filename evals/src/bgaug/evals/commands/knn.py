"""weighted kNN top-1 (k=20, 200; T=0.07) on frozen features

Extracts centre-crop features of the --train and --val ImageFolder splits with the frozen backbone
of --checkpoint and reports the weighted k-nearest-neighbour top-1 (Wu et al. 2018, as used by
MoCo/DINO) for each k in --k (default 20,200): features L2-normalised, each query's k nearest
training features vote for their class with weight exp(s / T), s the cosine similarity and T
--temperature (default 0.07). Runs on faiss (extra cpu or gpu). Prints the results as JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bgaug.core.errors import UsageError
from bgaug.evals.commands.common import (
    add_options,
    backbone_from_args,
    emit,
    eval_options,
    require_inputs,
    require_outputs,
)


def add_arguments(kn: argparse.ArgumentParser) -> None:
    kn.add_argument("--checkpoint", type=Path, required=True)
    kn.add_argument("--train", type=Path, required=True, help="ImageFolder train split")
    kn.add_argument("--val", type=Path, required=True, help="ImageFolder validation split")
    kn.add_argument("--k", default="20,200", help="comma-separated k values")
    kn.add_argument("--temperature", type=float, default=0.07)
    add_options(kn)


def run_from_args(args: argparse.Namespace) -> int:
    from torch import nn

    from bgaug.core.interfaces import Classifier
    from bgaug.evals.datasets import ImageListDataset, imagefolder_items
    from bgaug.evals.inference import extract_features
    from bgaug.evals.knn import knn_monitor

    try:
        ks = [int(k) for k in args.k.split(",")]
    except ValueError:
        raise UsageError(f"--k expects integers, got {args.k!r}") from None
    options = eval_options(args)
    require_inputs(args, files=("checkpoint",), dirs=("train", "val"))
    require_outputs(args)
    backbone, pre, _ = backbone_from_args(args)
    model = Classifier(backbone, nn.Identity(), pre).to(options.device).eval()
    train, _ = imagefolder_items(args.train)
    val, _ = imagefolder_items(args.val)
    xt, yt, bad_train = extract_features(
        model.features, ImageListDataset(train, pre), options, "train features"
    )
    xv, yv, bad_val = extract_features(model.features, ImageListDataset(val, pre), options, "val features")
    result = knn_monitor(xt, yt, xv, yv, ks=ks, temperature=args.temperature)
    unreadable = sorted(set(bad_train) | set(bad_val))
    counts = {
        "n_train": len(yt),
        "n_val": len(yv),
        "n_unreadable": len(unreadable),
        "unreadable_files": unreadable,
    }
    emit({**result, **counts, "temperature": args.temperature}, args.json)
    return 0
