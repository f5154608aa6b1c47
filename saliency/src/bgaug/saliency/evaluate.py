"""Score saliency predictions against ground-truth masks (``python -m bgaug.saliency eval``).

Predictions are a mask bank or its ``masks/`` folder (the bank's soft maps when it has them, else its
binary masks), or a folder of grey maps; ground truth a folder of masks. Files pair up by relative
path, in either of the namings core's mask folders accept (``a/b.png`` or ``a/b.jpg.png`` for image
``a/b.jpg``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bgaug.core.data import mask_paths_for
from bgaug.core.errors import UsageError
from bgaug.core.io import IMAGE_EXTENSIONS, list_images, load_image, load_mask
from bgaug.core.maskbank import DirectoryMaskBank, is_mask_bank
from bgaug.core.vocabulary import BANK_SUBDIRS
from bgaug.saliency.metrics import SaliencyScores, centre_prior, to_uint8


def gt_path(gt_root: Path, relpath: str) -> Path | None:
    """The ground-truth mask of prediction ``relpath``: the same path, or any naming core's mask
    folders accept (``a/b.png`` or ``a/b.jpg.png`` for image ``a/b.jpg``); a prediction named as a
    bank names masks (``a/b.jpg.png``) is matched by its image ``a/b.jpg``."""
    names = [relpath, *mask_paths_for(relpath)]
    image = relpath.removesuffix(".png")
    if image != relpath and Path(image).suffix.lower() in IMAGE_EXTENSIONS:
        names += [image, *mask_paths_for(image)]
    for name in dict.fromkeys(names):
        if (gt_root / name).is_file():
            return gt_root / name
    return None


def iter_predictions(pred: Path) -> Iterator[tuple[str, np.ndarray]]:
    """(relative path, uint8 map) of every prediction in a bank (or its ``masks/`` folder) or a folder
    of maps."""
    if pred.name == BANK_SUBDIRS["mask"] and is_mask_bank(pred.parent):
        pred = pred.parent  # the bank's masks/ folder: read the bank (its soft maps, if kept)
    if is_mask_bank(pred):
        bank = DirectoryMaskBank(pred)
        for i in range(len(bank)):
            entry = bank.entry(i)
            if entry["status"] == "bad_image":
                continue
            soft = bank.soft_map(i)
            grey = to_uint8(soft) if soft is not None else bank[i].mask.astype(np.uint8) * 255
            yield entry["path"], grey
        return
    for rel in list_images(pred):
        yield rel, load_image(pred / rel)[..., 0]


def evaluate(
    pred: str | os.PathLike[str], gt: str | os.PathLike[str], *, progress: bool = True
) -> dict[str, Any]:
    """maxF, meanF, adaptive F (beta^2 = 0.3) and MAE of ``pred`` against ``gt``, with the
    centre-prior baseline on the same images."""
    pred_root, gt_root = Path(pred), Path(gt)
    if not gt_root.is_dir():
        raise FileNotFoundError(f"ground-truth folder not found: {gt_root}")
    if not pred_root.is_dir():
        raise FileNotFoundError(f"prediction folder not found: {pred_root}")
    scores, baseline = SaliencyScores(), SaliencyScores()
    missing: list[str] = []
    for rel, grey in tqdm(iter_predictions(pred_root), desc="eval", unit="img", disable=not progress):
        gt_file = gt_path(gt_root, rel)
        if gt_file is None:
            missing.append(rel)
            continue
        mask = load_mask(gt_file, size=grey.shape)
        scores.add(grey, mask)
        baseline.add(to_uint8(centre_prior(*mask.shape)), mask)
    if not len(scores):
        raise UsageError(f"no prediction in {pred_root} has a ground-truth mask in {gt_root}")
    return {
        **scores.results(),
        "centre_prior": baseline.results(),
        "missing_ground_truth": len(missing),
        "pred": str(pred_root),
        "gt": str(gt_root),
    }
