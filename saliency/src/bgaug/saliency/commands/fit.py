"""train the DeepUSPS2 detector on a folder of images (no labels)

DeepUSPS2 (the paper's appendix A.2): phase I trains one network per hand-crafted method on that
method's binarised maps and refines its labels over --rounds rounds; phase II trains the detector
on the refined labels (or on the hand-crafted ones, or both: --phase2-labels). The --preset gives
every default (paper: DeepUSPS's settings, for a GPU; quick: CPU minutes on small images); each
option given replaces the preset's value. --init starts the backbone from a self-supervised
checkpoint, else from random weights (recorded as such). --gt scores the pseudo-labels, the phase-I
networks and the detector against ground-truth masks. Writes the detector checkpoint to --out, the
summary to stdout and --json.
"""

from __future__ import annotations

import argparse
from typing import Any

from bgaug.core.preflight import check_json_out
from bgaug.saliency.commands.common import PRESET_CHOICES, emit, parse_numbers

FIT_OVERRIDES = (
    "image_size",
    "handcrafted_size",
    "arch",
    "small_stem",
    "output_stride",
    "decoder",
    "bce_weight",
    "phase2_labels",
    "phase2_views",
    "crf",
    "rounds",
    "epochs_per_round",
    "phase2_epochs",
    "batch_size",
    "lr_phase1",
    "lr_phase2",
    "max_images",
    "seed",
)
"""``fit`` options that replace the preset's field of the same name when given."""


def fit_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``FitConfig`` fields the command line gives (``None``: keep the preset's)."""
    overrides = {name: getattr(args, name) for name in FIT_OVERRIDES}
    overrides["methods"] = tuple(args.methods.split(",")) if args.methods else None
    overrides["label_thresholds"] = parse_numbers(args.label_thresholds, "--label-thresholds")
    return overrides


def add_io_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--images", required=True, help="training image folder (searched recursively)")
    p.add_argument("--out", required=True, help="detector checkpoint to write (a new file)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out checkpoint")
    p.add_argument(
        "--init", help="self-supervised backbone checkpoint (bgaug-backbone/1); default: random init"
    )
    p.add_argument(
        "--gt", help="ground-truth mask folder: score pseudo-labels, phase-I networks and the detector"
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--workers", type=int, default=None, help="processes for the hand-crafted maps and the CRF"
    )
    p.add_argument("--json", help="write the training summary to this JSON file")


def add_network_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--preset",
        default="paper",
        choices=list(PRESET_CHOICES),
        help="paper: DeepUSPS defaults (GPU); quick: CPU minutes on small images",
    )
    p.add_argument("--methods", help="comma-separated hand-crafted methods (default rbd,mc,dsr,mbd)")
    p.add_argument(
        "--label-thresholds", help="comma-separated binarisation threshold per method (default 0.5 each)"
    )
    p.add_argument("--image-size", type=int, help="side of the square the networks train at")
    p.add_argument(
        "--handcrafted-size",
        type=int,
        help="longest side the hand-crafted methods see each image at, read from the file (aspect kept; "
        "each method caps it at its own working side: 400, MB+ 300; preset quick: 400, paper: 300); the "
        "maps are resized to --image-size",
    )
    p.add_argument(
        "--arch",
        choices=["resnet10_w16", "resnet10_w32", "resnet10", "resnet18", "resnet34", "resnet50"],
        help="ignored with --init (the checkpoint's arch is used)",
    )
    p.add_argument("--small-stem", action="store_true", default=None, help="3x3/1 stem for small images")
    p.add_argument(
        "--output-stride", type=int, choices=[2, 4, 8, 16, 32], help="network output stride (default 8)"
    )
    p.add_argument(
        "--decoder",
        choices=["none", "fpn"],
        help="none: 1x1 head at the output stride (paper); fpn: top-down decoder to full resolution",
    )


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--bce-weight", type=float, help="weight of a per-pixel BCE term beside 1 - soft F (paper: 0)"
    )
    p.add_argument(
        "--phase2-labels",
        choices=["refined", "pseudo", "both"],
        help="what phase II learns: refined (phase-I refined labels, DeepUSPS; default), pseudo "
        "(the binarised hand-crafted maps; phase I is skipped) or both",
    )
    p.add_argument(
        "--phase2-views",
        choices=["flip", "crops"],
        help="what the detector trains on: flipped images (DeepUSPS; both presets) or random resized "
        "crops with flips and colour jitter (for a folder of a few hundred images: docs/saliency.md)",
    )
    p.add_argument(
        "--crf",
        choices=["auto", "on", "off"],
        help="dense-CRF smoothing of each round's average (DeepUSPS): auto (paper preset) uses it when "
        "pydensecrf is installed (bgaug-saliency[crf]), on requires it, off (quick preset) skips it",
    )
    p.add_argument("--rounds", type=int, help="phase-I refinement rounds (default 3)")
    p.add_argument("--epochs-per-round", type=int)
    p.add_argument("--phase2-epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr-phase1", type=float, help="default 6e-6 (the paper)")
    p.add_argument("--lr-phase2", type=float)
    p.add_argument("--max-images", type=int, help="train on N images spread evenly over the sorted listing")
    p.add_argument("--seed", type=int)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_io_arguments(p)
    add_network_arguments(p)
    add_training_arguments(p)


def run_from_args(args: argparse.Namespace) -> int:
    from bgaug.saliency.deepusps import config_with, fit

    config = config_with(args.preset, fit_overrides(args))
    check_json_out(args.json)
    summary = fit(
        args.images,
        args.out,
        config,
        init=args.init,
        gt_root=args.gt,
        device=args.device,
        workers=args.workers,
        overwrite=args.overwrite,
    )
    emit(summary, args.json, ("checkpoint", "init", "n_images", "detector", "centre_prior"))
    return 0
