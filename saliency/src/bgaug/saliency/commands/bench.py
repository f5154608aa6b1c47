"""throughput: hand-crafted and CRF images/s per core, detector images/s; --pack: mask pack

Times each hand-crafted method and the dense CRF (when pydensecrf is installed) on --n-images
drawn --size px scenes (images/s on one core), each hand-crafted method on scikit-image's bundled
photographs at the longest sides --photo-sides (default 300,550,800; issue 24.3), and the detector
(--checkpoint, or a random network of --preset; default quick) in batches of --batch-size on
--device: end to end as `predict` runs it, and the network alone at --model-size. With --pack it
times the mask pack instead: bytes per mask and random mask reads/s at ImageNet sizes. Prints the
numbers; --json also writes them.
"""

from __future__ import annotations

import argparse

from bgaug.core.preflight import check_json_out
from bgaug.saliency.commands.common import PRESET_CHOICES, emit

PHOTO_SIDES = (300, 550, 800)
"""Longest sides of the photographs ``bench`` times the hand-crafted methods on (issue 24.3)."""


def parse_photo_sides(text: str) -> tuple[int, ...]:
    """``--photo-sides``: comma-separated pixel sides, each >= 16; '' for none."""
    try:
        sides = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated pixel sides, got {text!r}") from None
    if any(side < 16 for side in sides):
        raise argparse.ArgumentTypeError(f"photo sides must be >= 16 px, got {text!r}")
    return sides


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=int, default=300, help="image side (default 300)")
    p.add_argument("--n-images", type=int, default=8)
    p.add_argument(
        "--photo-sides",
        type=parse_photo_sides,
        default=PHOTO_SIDES,
        help="longest sides the bundled scikit-image photographs are timed at, per hand-crafted method "
        f"(default {','.join(map(str, PHOTO_SIDES))}; '' skips them)",
    )
    p.add_argument("--checkpoint", help="detector checkpoint to time (default: a random --preset network)")
    p.add_argument(
        "--preset",
        choices=list(PRESET_CHOICES),
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
    add_pack_arguments(p)
    p.add_argument("--json", help="write the numbers to this JSON file")


def add_pack_arguments(p: argparse.ArgumentParser) -> None:
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


def run_from_args(args: argparse.Namespace) -> int:
    from bgaug.saliency.bench import BenchResult, PackBenchResult, run_bench, run_pack_bench

    check_json_out(args.json)
    result: BenchResult | PackBenchResult
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
    data = result.to_json()
    emit(data, args.json, tuple(data))
    return 0
