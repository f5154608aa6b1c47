"""ImageNet ReaL (Beyer et al. 2020): re-assessed multi-label ImageNet validation labels.

``real.json`` holds 50,000 lists of acceptable ImageNet-1k indices in validation-file order
(``ILSVRC2012_val_00000001.JPEG`` is entry 0). A prediction is correct when it is in its image's
list; images whose list is empty are excluded from numerator and denominator alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from bgaug.evals.datasets import ImageListDataset, LabelledImage, imagenet_val_number
from bgaug.evals.inference import EvalOptions, predict
from bgaug.evals.suites.common import preprocess_of

N_VAL = 50_000


def load_real_labels(path: str | Path) -> list[list[int]]:
    """Read ``real.json``; check it has 50,000 lists of indices in [0, 1000)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"ReaL labels not found: {p}")
    data = json.loads(p.read_text(encoding="utf-8"))
    if not isinstance(data, list) or len(data) != N_VAL:
        raise ValueError(f"{p}: expected a list of {N_VAL} label lists")
    for i, labels in enumerate(data):
        if not isinstance(labels, list) or not all(isinstance(x, int) and 0 <= x < 1000 for x in labels):
            raise ValueError(f"{p}: entry {i} is not a list of ImageNet indices")
    return data


def real_accuracy(predictions: Mapping[int, int], real: Sequence[Sequence[int]]) -> dict[str, Any]:
    """ReaL top-1 (%) of ``predictions`` (1-based validation number -> predicted index)."""
    scored = correct = excluded = 0
    for number, pred in predictions.items():
        if not 1 <= number <= len(real):
            raise ValueError(f"validation number {number} outside 1..{len(real)}")
        labels = real[number - 1]
        if not labels:
            excluded += 1
            continue
        scored += 1
        correct += int(pred in labels)
    top1 = 100.0 * correct / scored if scored else float("nan")
    return {"top1": top1, "n": scored, "n_excluded_empty": excluded}


def read_predictions(path: str | Path) -> dict[int, int]:
    """A JSON prediction file ``{"ILSVRC2012_val_00000001.JPEG": 65, ...}`` keyed by validation number."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object mapping validation file names to indices")
    out: dict[int, int] = {}
    for name, pred in data.items():
        number = imagenet_val_number(name)
        if number is None:
            raise ValueError(f"{path}: {name!r} is not an ImageNet validation file name")
        out[number] = int(pred)
    return out


def val_items(root: str | Path) -> list[LabelledImage]:
    """ImageNet validation images (flat, or in wnid folders); the label slot holds the file number."""
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"ImageNet validation folder not found: {base}")
    items = []
    for p in sorted(base.rglob("ILSVRC2012_val_*")):
        number = imagenet_val_number(p)
        if number is not None and p.is_file():
            items.append(LabelledImage(p, number))
    if not items:
        raise ValueError(f"{base}: no ILSVRC2012_val_*.JPEG files")
    return items


def evaluate_real(
    model: nn.Module, val_root: str | Path, real_path: str | Path, options: EvalOptions
) -> dict[str, Any]:
    real = load_real_labels(real_path)
    dataset = ImageListDataset(val_items(val_root), preprocess_of(model))
    outcome = predict(model, dataset, options, desc="real")
    result = real_accuracy(
        dict(zip(outcome.labels.tolist(), outcome.predictions.tolist(), strict=True)), real
    )
    result.update(n_unreadable=len(outcome.unreadable), unreadable=outcome.unreadable)
    return result
