"""Top-1 on a class-folder validation set: ImageNet val in wnid folders, or any K-class tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from bgaug.evals.datasets import ImageListDataset, labelled_by_wnid_or_folder
from bgaug.evals.inference import EvalOptions, predict
from bgaug.evals.suites.common import num_logits, preprocess_of, record


def evaluate_folder(
    model: nn.Module, root: str | Path, options: EvalOptions, name: str = "val"
) -> dict[str, Any]:
    items, labelling = labelled_by_wnid_or_folder(root, num_logits(model))
    dataset = ImageListDataset(items, preprocess_of(model))
    return record(predict(model, dataset, options, desc=name), labels=labelling)
