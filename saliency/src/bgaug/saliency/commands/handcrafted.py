"""mask bank from a hand-crafted method (CPU, parallel)

Maps are computed at a longest side of at most 400 px (MB+: 300) and upsampled to the image.
Memory per worker: ~750 MB after start-up plus ~30 MB per megapixel of the largest image (a
5000x5000 photograph: ~1.4 GB peak); --workers N holds N of these.

Methods: rbd, mc and dsr (three of DeepUSPS's four) and mbd (MB+, in place of HS). Each map is
binarised at twice its mean unless --threshold says otherwise (docs/saliency.md, "Threshold
rules"). An unfinished bank of the same options is resumed; a run where no image could be used
writes the bank with the reasons, then exits with status 2.
"""

from __future__ import annotations

import argparse

from bgaug.core.preflight import check_json_out
from bgaug.saliency.commands.common import add_bank_arguments, finish_bank
from bgaug.saliency.handcrafted import METHODS

WORKER_MB_PER_MEGAPIXEL = 30
WORKER_BASE_MB = 750
"""Peak memory of one ``handcrafted`` worker (measured on 2000x2000 and 5000x5000 JPEGs, DSR and MB+,
soft maps on, docs/saliency.md): ~750 MB resident after its imports (torch, numpy, scikit-image;
mostly shared library pages) plus 24-33 MB per megapixel of the image being processed (the decoded
image, its full-size map, mask, background and PNG buffers); the method itself runs at the bounded
working size. Before issue 23.14 DSR took ~285 MB per megapixel. The docstring above quotes these
numbers and ``working_size``'s sides (tests/test_cli.py checks that they agree)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", required=True, choices=sorted(METHODS), help="rbd, mc, dsr or mbd (MB+)")
    add_bank_arguments(
        p,
        "foreground is saliency >= T (a number in (0, 1]) or a per-image rule: twice-mean (default: "
        "twice the map's mean, Achanta et al. 2009) or otsu",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="processes (default: all cores; memory: see above)"
    )


def run_from_args(args: argparse.Namespace) -> int:
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
    return finish_bank(manifest, args)
