"""ImageNet-v2 (Recht et al. 2019): three re-collected test sets of ImageNet's 1000 classes.

Layout as released: ``imagenetv2-{variant}-format-val/{0..999}/*.jpeg``. The folder name is the
ImageNet-1k index itself; sorting folders as ImageFolder does ("0", "1", "10", ...) would scramble
the labels, so they are read as integers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from bgaug.evals.datasets import ImageListDataset, integer_folder_items
from bgaug.evals.inference import EvalOptions, predict
from bgaug.evals.suites.common import preprocess_of, record

VARIANTS: dict[str, str] = {
    "matched_frequency": "imagenetv2-matched-frequency-format-val",
    "threshold_0.7": "imagenetv2-threshold0.7-format-val",
    "top_images": "imagenetv2-top-images-format-val",
}


def evaluate_variant(
    model: nn.Module, root: str | Path, options: EvalOptions, name: str = "v2"
) -> dict[str, Any]:
    dataset = ImageListDataset(integer_folder_items(root), preprocess_of(model))
    return record(predict(model, dataset, options, desc=f"imagenet_v2/{name}"))


def evaluate_imagenet_v2(model: nn.Module, parent: str | Path, options: EvalOptions) -> dict[str, Any]:
    """Top-1 (%) on each released variant found under ``parent``; the others are listed as missing."""
    base = Path(parent)
    out: dict[str, Any] = {"variants": {}, "missing_variants": []}
    for name, folder in VARIANTS.items():
        if (base / folder).is_dir():
            out["variants"][name] = evaluate_variant(model, base / folder, options, name)
        else:
            out["missing_variants"].append(name)
    if not out["variants"]:
        raise FileNotFoundError(f"{base}: none of {', '.join(VARIANTS.values())}")
    return out
