"""Command line: ``python -m bgaug.saliency {handcrafted,fit,predict,eval,pack,bench} ...``.

User errors end with exit status 2 and one line on stderr (core's ``run_cli``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Any

from bgaug.core.cli import add_command, run_cli
from bgaug.core.io import atomic_write_json

PROG = "python -m bgaug.saliency"


def _emit(result: dict[str, Any], json_path: str | None, keys: Sequence[str]) -> None:
    print(json.dumps({k: result[k] for k in keys if k in result}, indent=2, sort_keys=True))
    if json_path:
        atomic_write_json(json_path, result)


def _bank_summary(manifest: dict[str, Any], out: str) -> dict[str, Any]:
    bad = [
        {"path": e["path"], "reason": e["reason"]} for e in manifest["entries"] if e["status"] == "bad_image"
    ]
    return {"bank": out, "n_images": manifest["n_images"], "summary": manifest["summary"], "bad_images": bad}


def cmd_handcrafted(args: argparse.Namespace) -> int:
    from bgaug.saliency.handcrafted_bank import handcrafted_bank

    manifest = handcrafted_bank(
        args.method,
        args.images,
        args.out,
        threshold=args.threshold,
        soft_maps=args.soft_maps,
        workers=args.workers,
    )
    _emit(_bank_summary(manifest, args.out), args.json, ("bank", "n_images", "summary"))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from bgaug.saliency.detector_bank import detector_bank

    manifest = detector_bank(
        args.checkpoint,
        args.images,
        args.out,
        threshold=args.threshold,
        soft_maps=args.soft_maps,
        device=args.device,
        batch_size=args.batch_size,
        workers=args.workers,
        flip_average=args.flip_average,
    )
    _emit(_bank_summary(manifest, args.out), args.json, ("bank", "n_images", "summary"))
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from bgaug.saliency.deepusps import config_with, fit

    overrides = {
        "methods": tuple(args.methods.split(",")) if args.methods else None,
        "label_thresholds": tuple(float(t) for t in args.label_thresholds.split(","))
        if args.label_thresholds
        else None,
        "image_size": args.image_size,
        "arch": args.arch,
        "small_stem": args.small_stem,
        "output_stride": args.output_stride,
        "decoder": args.decoder,
        "bce_weight": args.bce_weight,
        "phase2_labels": args.phase2_labels,
        "crf": args.crf,
        "rounds": args.rounds,
        "epochs_per_round": args.epochs_per_round,
        "phase2_epochs": args.phase2_epochs,
        "batch_size": args.batch_size,
        "lr_phase1": args.lr_phase1,
        "lr_phase2": args.lr_phase2,
        "max_images": args.max_images,
        "seed": args.seed,
    }
    config = config_with(args.preset, overrides)
    summary = fit(
        args.images,
        args.out,
        config,
        init=args.init,
        gt_root=args.gt,
        device=args.device,
        workers=args.workers,
    )
    _emit(summary, args.json, ("checkpoint", "init", "n_images", "detector", "centre_prior"))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from bgaug.saliency.evaluate import evaluate

    result = evaluate(args.pred, args.gt)
    _emit(
        result,
        args.json,
        ("max_f", "mean_f", "adaptive_f", "mae", "n_images", "missing_ground_truth", "centre_prior"),
    )
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    from bgaug.saliency.pack import run_from_args

    return run_from_args(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from bgaug.saliency.bench import run_bench, run_pack_bench

    if args.pack:
        result = run_pack_bench(
            n_masks=args.pack_masks, n_distinct=args.pack_distinct, reads=args.pack_reads, seed=args.seed
        )
    else:
        result = run_bench(
            size=args.size,
            n_images=args.n_images,
            checkpoint=args.checkpoint,
            device=args.device,
            preset=args.preset,
            batch_size=args.batch_size,
            model_size=args.model_size,
        )
    _emit(result, args.json, tuple(result))
    return 0


def _bank_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--images", required=True, help="image folder (searched recursively)")
    p.add_argument("--out", required=True, help="mask bank directory (created; an unfinished one is resumed)")
    p.add_argument(
        "--threshold", type=float, default=0.9, help="saliency >= threshold is foreground (default 0.9)"
    )
    p.add_argument(
        "--soft-maps", action="store_true", help="also store the 8-bit saliency maps (needed by eval)"
    )
    p.add_argument("--json", help="write the run summary (counts, bad files) to this JSON file")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Unsupervised saliency for bgaug: hand-crafted maps, DeepUSPS2, mask banks, metrics.",
    )
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("handcrafted", help="mask bank from a hand-crafted method (CPU, parallel)")
    from bgaug.saliency.handcrafted import METHODS

    p.add_argument("--method", required=True, choices=sorted(METHODS), help="rbd, mc, dsr or mbd (MB+)")
    _bank_args(p)
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")

    p = sub.add_parser("predict", help="mask bank from a trained DeepUSPS2 detector")
    p.add_argument("--checkpoint", required=True, help="detector checkpoint written by `fit`")
    _bank_args(p)
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=None, help="decode/encode threads (default: min(8, cores))")
    p.add_argument(
        "--flip-average",
        action="store_true",
        help="average each map with the mirrored image's map (2x the compute; off by default)",
    )

    p = sub.add_parser("fit", help="train the DeepUSPS2 detector on a folder of images (no labels)")
    p.add_argument("--images", required=True, help="training image folder (searched recursively)")
    p.add_argument("--out", required=True, help="detector checkpoint to write")
    p.add_argument(
        "--init", help="self-supervised backbone checkpoint (bgaug-backbone/1); default: random init"
    )
    p.add_argument(
        "--preset",
        default="paper",
        choices=["paper", "quick"],
        help="paper: DeepUSPS defaults (GPU); quick: CPU minutes on small images",
    )
    p.add_argument("--methods", help="comma-separated hand-crafted methods (default rbd,mc,dsr,mbd)")
    p.add_argument(
        "--label-thresholds", help="comma-separated binarisation threshold per method (default 0.5 each)"
    )
    p.add_argument("--image-size", type=int)
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
    p.add_argument(
        "--gt", help="ground-truth mask folder: score pseudo-labels, phase-I networks and the detector"
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--workers", type=int, default=None, help="processes for the hand-crafted maps and the CRF"
    )
    p.add_argument("--json", help="write the training summary to this JSON file")

    p = sub.add_parser("eval", help="maxF / meanF / adaptive F (beta^2 = 0.3) and MAE against ground truth")
    p.add_argument("--pred", required=True, help="a mask bank (soft maps if stored) or a folder of grey maps")
    p.add_argument("--gt", required=True, help="ground-truth mask folder mirroring the image paths")
    p.add_argument("--json", help="write the scores to this JSON file")

    from bgaug.saliency import pack

    add_command(sub, "pack", pack, help="pack a mask bank or mask folder into one file for fast random reads")

    p = sub.add_parser(
        "bench",
        help="throughput: hand-crafted and CRF images/s per core, detector images/s; --pack: mask pack",
    )
    p.add_argument("--size", type=int, default=300, help="image side (default 300)")
    p.add_argument("--n-images", type=int, default=8)
    p.add_argument("--checkpoint", help="detector checkpoint to time (default: a random --preset network)")
    p.add_argument(
        "--preset",
        choices=["paper", "quick"],
        default="quick",
        help="network timed without --checkpoint (default quick; paper = dilated ResNet-50 at 432 px)",
    )
    p.add_argument("--batch-size", type=int, default=32, help="detector batch (default 32)")
    p.add_argument(
        "--model-size",
        type=int,
        help="side of the network-alone timing's input (default: the detector's training size)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--pack",
        action="store_true",
        help="time the mask pack instead: bytes per mask and random mask reads/s at ImageNet sizes",
    )
    p.add_argument("--pack-masks", type=int, default=20_000, help="entries in the benchmark pack")
    p.add_argument(
        "--pack-distinct", type=int, default=200, help="distinct synthetic masks drawn (repeated to fill)"
    )
    p.add_argument("--pack-reads", type=int, default=20_000, help="random reads timed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the numbers to this JSON file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    handlers: dict[str, Callable[[argparse.Namespace], int | None]] = {
        "handcrafted": cmd_handcrafted,
        "predict": cmd_predict,
        "fit": cmd_fit,
        "eval": cmd_eval,
        "bench": cmd_bench,
        "pack": cmd_pack,
    }
    return run_cli(build_parser(), handlers, argv, prog=PROG)
