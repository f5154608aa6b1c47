"""mask bank from a trained DeepUSPS2 detector

Runs a detector checkpoint written by `fit` (DeepUSPS2, the paper's appendix A.2) over every image
under --images, in batches of --batch-size on --device (default cpu) while --workers threads decode
the images and write the bank. Masks are the maps at the paper's threshold 0.9 unless --threshold
says otherwise; --flip-average also averages each map with the mirrored image's (off by default);
--crf on refines each map with the dense CRF at the image's resolution, up to a longest side of 400
px (needs the [crf] extra; off by default, as in the paper; docs/saliency.md measures it).
An unfinished bank of the same options is resumed; a run where no image could be used writes the
bank with the reasons, then exits with status 2.
"""

from __future__ import annotations

import argparse

from bgaug.core.preflight import check_json_out
from bgaug.saliency.commands.common import add_bank_arguments, finish_bank


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="detector checkpoint written by `fit`")
    add_bank_arguments(
        p, "foreground is saliency >= T (default 0.9, the paper's), or a rule: twice-mean, otsu"
    )
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=None, help="decode/encode threads (default: min(8, cores))")
    p.add_argument(
        "--flip-average",
        action="store_true",
        help="average each map with the mirrored image's map (2x the compute; off by default)",
    )
    p.add_argument(
        "--crf",
        choices=("off", "on"),
        default="off",
        help="refine each map with the dense CRF on the image's colour edges, at up to 400 px "
        "(needs the [crf] extra; default off, as the paper)",
    )


def run_from_args(args: argparse.Namespace) -> int:
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
        crf=args.crf == "on",
    )
    return finish_bank(manifest, args)
