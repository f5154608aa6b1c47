"""Command line: ``python -m bgaug.saliency {handcrafted,fit,predict,eval,pack,bench} ...``.

User errors end with exit status 2 and one line on stderr (core's ``run_cli``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from bgaug.core.cli import add_command, run_cli
from bgaug.core.errors import UsageError
from bgaug.core.io import atomic_write_json
from bgaug.core.preflight import check_json_out

PROG = "python -m bgaug.saliency"
PHOTO_SIDES = (300, 550, 800)
"""Longest sides of the photographs ``bench`` times the hand-crafted methods on (issue 24.3)."""
WORKER_MB_PER_MEGAPIXEL = 30
WORKER_BASE_MB = 750
"""Peak memory of one ``handcrafted`` worker (measured on 2000x2000 and 5000x5000 JPEGs, DSR and MB+,
soft maps on, docs/saliency.md): ~750 MB resident after its imports (torch, numpy, scikit-image;
mostly shared library pages) plus 24-33 MB per megapixel of the image being processed (the decoded
image, its full-size map, mask, background and PNG buffers); the method itself runs at the bounded
working size. Before issue 23.14 DSR took ~285 MB per megapixel."""
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _emit(result: dict[str, Any], json_path: str | None, keys: Sequence[str]) -> None:
    print(json.dumps({k: result[k] for k in keys if k in result}, indent=2, sort_keys=True))
    if json_path:
        atomic_write_json(json_path, result)


def _bank_summary(manifest: dict[str, Any], out: str) -> dict[str, Any]:
    bad = [
        {"path": e["path"], "reason": e["reason"]} for e in manifest["entries"] if e["status"] == "bad_image"
    ]
    return {"bank": out, "n_images": manifest["n_images"], "summary": manifest["summary"], "bad_images": bad}


def _check_usable(summary: dict[str, Any], images: str) -> None:
    """A bank without one readable image is a failed run, not an empty success (issue 23.16)."""
    if summary["n_images"] and summary["summary"]["bad_image"] == summary["n_images"]:
        first = summary["bad_images"][0]
        raise UsageError(
            f"no usable image: all {summary['n_images']} images under {images} could not be used "
            f"(first: {first['path']}: {first['reason']}); the manifest lists every reason"
        )


def _finish_bank(manifest: dict[str, Any], args: argparse.Namespace) -> int:
    summary = _bank_summary(manifest, args.out)
    _emit(summary, args.json, ("bank", "n_images", "summary"))
    _check_usable(summary, args.images)
    return 0


def cmd_handcrafted(args: argparse.Namespace) -> int:
    from bgaug.saliency.handcrafted_bank import HANDCRAFTED_THRESHOLD, handcrafted_bank

    check_json_out(args.json)
    manifest = handcrafted_bank(
        args.method,
        args.images,
        args.out,
        threshold=HANDCRAFTED_THRESHOLD if args.threshold is None else args.threshold,
        soft_maps=args.soft_maps,
        workers=args.workers,
    )
    return _finish_bank(manifest, args)


def cmd_predict(args: argparse.Namespace) -> int:
    from bgaug.saliency.detector_bank import DETECTOR_THRESHOLD, detector_bank

    check_json_out(args.json)
    manifest = detector_bank(
        args.checkpoint,
        args.images,
        args.out,
        threshold=DETECTOR_THRESHOLD if args.threshold is None else args.threshold,
        soft_maps=args.soft_maps,
        device=args.device,
        batch_size=args.batch_size,
        workers=args.workers,
        flip_average=args.flip_average,
    )
    return _finish_bank(manifest, args)


FIT_OVERRIDES = (
    "image_size",
    "arch",
    "small_stem",
    "output_stride",
    "decoder",
    "bce_weight",
    "phase2_labels",
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


def _fit_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides = {name: getattr(args, name) for name in FIT_OVERRIDES}
    overrides["methods"] = tuple(args.methods.split(",")) if args.methods else None
    overrides["label_thresholds"] = _numbers(args.label_thresholds, "--label-thresholds")
    return overrides


def _numbers(text: str | None, flag: str) -> tuple[float, ...] | None:
    if not text:
        return None
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"{flag} must be comma-separated numbers, got {text!r}") from None


def cmd_fit(args: argparse.Namespace) -> int:
    from bgaug.saliency.deepusps import config_with, fit

    config = config_with(args.preset, _fit_overrides(args))
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
    _emit(summary, args.json, ("checkpoint", "init", "n_images", "detector", "centre_prior"))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from bgaug.saliency.evaluate import evaluate

    check_json_out(args.json)
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

    check_json_out(args.json)
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
            photo_sides=args.photo_sides,
        )
    _emit(result, args.json, tuple(result))
    return 0


def _threshold(text: str) -> float | str:
    """``--threshold``: a number in (0, 1] or the name of an adaptive rule (``bank.THRESHOLD_RULES``)."""
    from bgaug.saliency.bank import check_threshold

    try:
        value: float | str = float(text)
    except ValueError:
        value = text
    try:
        return check_threshold(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _photo_sides(text: str) -> tuple[int, ...]:
    try:
        sides = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated pixel sides, got {text!r}") from None
    if any(side < 16 for side in sides):
        raise argparse.ArgumentTypeError(f"photo sides must be >= 16 px, got {text!r}")
    return sides


def _bank_args(p: argparse.ArgumentParser, threshold_help: str) -> None:
    p.add_argument("--images", required=True, help="image folder (searched recursively)")
    p.add_argument(
        "--out",
        required=True,
        help="mask bank folder: new, empty, or an unfinished bank of the same options (resumed); "
        "never inside --images",
    )
    p.add_argument("--threshold", type=_threshold, default=None, metavar="T|RULE", help=threshold_help)
    p.add_argument(
        "--soft-maps", action="store_true", help="also store the 8-bit saliency maps (needed by eval)"
    )
    p.add_argument("--json", help="write the run summary (counts, bad files) to this JSON file")


def _add_handcrafted(sub: Subparsers) -> None:
    from bgaug.saliency.handcrafted import METHODS
    from bgaug.saliency.handcrafted.working_size import MB_PLUS_WORKING_SIDE, WORKING_SIDE

    p = sub.add_parser(
        "handcrafted",
        help="mask bank from a hand-crafted method (CPU, parallel)",
        description=f"Maps are computed at a longest side of at most {WORKING_SIDE} px (MB+: "
        f"{MB_PLUS_WORKING_SIDE}) and upsampled to the image. Memory per worker: ~{WORKER_BASE_MB} MB "
        f"after start-up plus ~{WORKER_MB_PER_MEGAPIXEL} MB per megapixel of the largest image (a "
        "5000x5000 photograph: ~1.4 GB peak); --workers N holds N of these.",
    )
    p.add_argument("--method", required=True, choices=sorted(METHODS), help="rbd, mc, dsr or mbd (MB+)")
    _bank_args(
        p,
        "foreground is saliency >= T (a number in (0, 1]) or a per-image rule: twice-mean (default: "
        "twice the map's mean, Achanta et al. 2009) or otsu",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="processes (default: all cores; memory: see above)"
    )


def _add_predict(sub: Subparsers) -> None:
    p = sub.add_parser("predict", help="mask bank from a trained DeepUSPS2 detector")
    p.add_argument("--checkpoint", required=True, help="detector checkpoint written by `fit`")
    _bank_args(p, "foreground is saliency >= T (default 0.9, the paper's), or a rule: twice-mean, otsu")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=None, help="decode/encode threads (default: min(8, cores))")
    p.add_argument(
        "--flip-average",
        action="store_true",
        help="average each map with the mirrored image's map (2x the compute; off by default)",
    )


def _add_fit_io(p: argparse.ArgumentParser) -> None:
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


def _add_fit_network(p: argparse.ArgumentParser) -> None:
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


def _add_fit_training(p: argparse.ArgumentParser) -> None:
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


def _add_fit(sub: Subparsers) -> None:
    p = sub.add_parser("fit", help="train the DeepUSPS2 detector on a folder of images (no labels)")
    _add_fit_io(p)
    _add_fit_network(p)
    _add_fit_training(p)


def _add_eval(sub: Subparsers) -> None:
    p = sub.add_parser("eval", help="maxF / meanF / adaptive F (beta^2 = 0.3) and MAE against ground truth")
    p.add_argument("--pred", required=True, help="a mask bank (soft maps if stored) or a folder of grey maps")
    p.add_argument("--gt", required=True, help="ground-truth mask folder mirroring the image paths")
    p.add_argument("--json", help="write the scores to this JSON file")


def _add_bench(sub: Subparsers) -> None:
    p = sub.add_parser(
        "bench",
        help="throughput: hand-crafted and CRF images/s per core, detector images/s; --pack: mask pack",
    )
    p.add_argument("--size", type=int, default=300, help="image side (default 300)")
    p.add_argument("--n-images", type=int, default=8)
    p.add_argument(
        "--photo-sides",
        type=_photo_sides,
        default=PHOTO_SIDES,
        help="longest sides the bundled scikit-image photographs are timed at, per hand-crafted method "
        f"(default {','.join(map(str, PHOTO_SIDES))}; '' skips them)",
    )
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
    _add_pack_bench(p)
    p.add_argument("--json", help="write the numbers to this JSON file")


def _add_pack_bench(p: argparse.ArgumentParser) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Unsupervised saliency for bgaug: hand-crafted maps, DeepUSPS2, mask banks, metrics.",
    )
    sub = parser.add_subparsers(dest="command")
    _add_handcrafted(sub)
    _add_predict(sub)
    _add_fit(sub)
    _add_eval(sub)
    from bgaug.saliency import pack

    add_command(sub, "pack", pack, help="pack a mask bank or mask folder into one file for fast random reads")
    _add_bench(sub)
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
