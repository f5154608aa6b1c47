"""maxF / meanF / adaptive F (beta^2 = 0.3) and MAE against ground truth

--pred is a mask bank (its soft maps when it stored them, else its binary masks) or a folder of
grey maps; --gt a folder of ground-truth masks mirroring the image paths (a/b.png or a/b.jpg.png for
image a/b.jpg). A centre-prior map is scored on the same images as a baseline (centre_prior).
Predictions without a ground-truth mask are counted in missing_ground_truth and skipped; when none
has one, exit status 2. Prints the scores; --json also writes them.
"""

from __future__ import annotations

import argparse

from bgaug.core.preflight import check_json_out
from bgaug.saliency.commands.common import emit


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pred", required=True, help="a mask bank (soft maps if stored) or a folder of grey maps")
    p.add_argument("--gt", required=True, help="ground-truth mask folder mirroring the image paths")
    p.add_argument("--json", help="write the scores to this JSON file")


def run_from_args(args: argparse.Namespace) -> int:
    from bgaug.saliency.evaluate import evaluate

    check_json_out(args.json)
    result = evaluate(args.pred, args.gt)
    emit(
        result,
        args.json,
        ("max_f", "mean_f", "adaptive_f", "mae", "n_images", "missing_ground_truth", "centre_prior"),
    )
    return 0
