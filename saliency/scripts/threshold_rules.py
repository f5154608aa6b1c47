"""Compare binarisation rules for hand-crafted saliency maps (docs/saliency.md, "Threshold rules").

Usage (from the repo root; SYNTH from ``python -m bgaug.core synth --out SYNTH --seed 0``):
    python saliency/scripts/threshold_rules.py SYNTH [--split pretrain] [--every 1] [--workers 2]

For every hand-crafted method and every rule (fixed 0.9, fixed 0.5, twice the mean, Otsu) it prints
the mean IoU and the maxF (beta^2 = 0.3, ``SaliencyScores``) of the binary masks against the exact
ground truth under SYNTH/masks/SPLIT, and the mean foreground fraction beside the ground truth's.
A second table gives the foreground fraction of each rule on scikit-image's bundled photographs
(astronaut, chelsea, coffee, rocket), which have no ground truth.
"""

from __future__ import annotations

import argparse
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from bgaug.core.io import list_images, load_image, load_mask
from bgaug.saliency.bank import threshold_of
from bgaug.saliency.handcrafted import METHODS
from bgaug.saliency.metrics import SaliencyScores, to_uint8

RULES: dict[str, float | str] = {"0.9": 0.9, "0.5": 0.5, "twice-mean": "twice-mean", "otsu": "otsu"}
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def masks_of(saliency: np.ndarray) -> dict[str, np.ndarray]:
    return {name: saliency >= threshold_of(saliency, rule) for name, rule in RULES.items()}


def score_image(args: tuple[str, str, str]) -> dict[str, dict[str, np.ndarray]]:
    image_path, gt_path, method = args
    saliency = METHODS[method](load_image(image_path))
    return {"masks": masks_of(saliency), "gt": {"gt": load_mask(gt_path)}}


def iou(mask: np.ndarray, gt: np.ndarray) -> float:
    union = np.count_nonzero(mask | gt)
    return 1.0 if union == 0 else np.count_nonzero(mask & gt) / union


def synthetic_table(root: Path, split: str, every: int, workers: int) -> list[str]:
    rels = list_images(root / split)[::every]
    lines = [
        "| method | rule | mean IoU | maxF | foreground fraction (ground truth {gt}) |",
        "| --- | --- | --- | --- | --- |",
    ]
    gt_fraction = 0.0
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        for method in sorted(METHODS):
            tasks = [(str(root / split / r), str(root / "masks" / split / r), method) for r in rels]
            results = list(pool.map(score_image, tasks, chunksize=16))
            gts = [r["gt"]["gt"] for r in results]
            gt_fraction = float(np.mean([g.mean() for g in gts]))
            for name in RULES:
                masks = [r["masks"][name] for r in results]
                scores = SaliencyScores()
                for mask, gt in zip(masks, gts, strict=True):
                    scores.add(to_uint8(mask.astype(np.float64)), gt)
                mean_iou = np.mean([iou(m, g) for m, g in zip(masks, gts, strict=True)])
                fraction = np.mean([m.mean() for m in masks])
                max_f = scores.results()["max_f"]
                lines.append(f"| {method} | {name} | {mean_iou:.3f} | {max_f:.3f} | {fraction:.3f} |")
    lines[0] = lines[0].replace("{gt}", f"{gt_fraction:.3f}")
    lines.insert(0, f"{len(rels)} images of {root / split}")
    return lines


def photo_table() -> list[str]:
    from skimage import data

    lines = ["| method | " + " | ".join(RULES) + " |", "| --- |" + " --- |" * len(RULES)]
    photos = [getattr(data, name)() for name in PHOTOS]
    for method in sorted(METHODS):
        fractions: dict[str, list[float]] = {name: [] for name in RULES}
        for photo in photos:
            for name, mask in masks_of(METHODS[method](photo)).items():
                fractions[name].append(float(mask.mean()))
        cells = [" / ".join(f"{f:.2f}" for f in fractions[name]) for name in RULES]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("synth", type=Path, help="output folder of `python -m bgaug.core synth`")
    parser.add_argument("--split", default="pretrain")
    parser.add_argument("--every", type=int, default=1, help="use every N-th image")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print("\n".join(synthetic_table(args.synth, args.split, args.every, args.workers)))
    print(f"\nforeground fraction on {', '.join(PHOTOS)}:")
    print("\n".join(photo_table()))


if __name__ == "__main__":
    main()
