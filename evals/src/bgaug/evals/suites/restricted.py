"""ImageNet-A and ImageNet-R (Hendrycks et al.): 200-class subsets scored on their 200 logits.

Layout: ``ROOT/{wnid}/`` with the subset's wnids. As in the authors' evaluation, the 1000 logits are
restricted to the subset's 200 ImageNet indices before the argmax. The Only-FG variant of ImageNet-A
keeps each image's foreground from a mask bank (``bgaug.core.MaskBank``, looked up by the path
relative to ``ROOT``) and sets the background to black, as ImageNet-9's Only-FG does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from bgaug.core.interfaces import MaskBank
from bgaug.evals.datasets import ImageListDataset, LabelledImage, folder_items
from bgaug.evals.inference import Decide, EvalOptions, predict
from bgaug.evals.suites.common import preprocess_of, record
from bgaug.evals.tables import imagenet_a_indices, imagenet_r_indices, wnid_to_index

SUBSETS = {"imagenet_a": imagenet_a_indices, "imagenet_r": imagenet_r_indices}


def subset_items(root: str | Path, indices: tuple[int, ...], name: str) -> list[LabelledImage]:
    """Images labelled by position of their wnid's ImageNet index within ``indices``."""
    position = {index: i for i, index in enumerate(indices)}
    wnids = wnid_to_index()

    def label(folder: str) -> int:
        index = wnids.get(folder)
        if index is None or index not in position:
            raise ValueError(f"{Path(root) / folder}: not one of the 200 {name} wnids")
        return position[index]

    items = folder_items(root, label)
    if not items:
        raise ValueError(f"{root}: no images in {name} class folders")
    return items


def restricted_decider(indices: tuple[int, ...]) -> Decide:
    chosen = torch.tensor(indices, dtype=torch.long)

    def decide(logits: Tensor) -> Tensor:
        if logits.shape[1] != 1000:
            raise ValueError(f"needs a 1000-way ImageNet classifier, got {logits.shape[1]} logits")
        return logits[:, chosen.to(logits.device)].argmax(dim=1)

    return decide


def evaluate_subset(model: nn.Module, root: str | Path, subset: str, options: EvalOptions) -> dict[str, Any]:
    """Top-1 (%) of ``subset`` ("imagenet_a" or "imagenet_r") with the 200-index restriction."""
    indices = SUBSETS[subset]()
    dataset = ImageListDataset(subset_items(root, indices, subset), preprocess_of(model))
    return record(predict(model, dataset, options, decide=restricted_decider(indices), desc=subset))


class OnlyForeground:
    """Blacken each image's background using its mask from ``bank`` (a picklable ``prepare`` step)."""

    def __init__(self, bank: MaskBank, root: str | Path):
        self.bank = bank
        self.root = Path(root)

    def __call__(self, image: np.ndarray, item: LabelledImage) -> np.ndarray:
        rel = item.path.relative_to(self.root).as_posix()
        mask = self.bank[self.bank.index_of(rel)].mask
        if mask.shape != image.shape[:2]:
            raise ValueError(f"{rel}: mask {mask.shape} does not match image {image.shape[:2]}")
        return np.asarray(image * mask[:, :, None].astype(image.dtype))


def evaluate_imagenet_a_only_fg(
    model: nn.Module, root: str | Path, bank: MaskBank, options: EvalOptions
) -> dict[str, Any]:
    """ImageNet-A with backgrounds removed by ``bank``'s masks; same 200-index restriction."""
    indices = imagenet_a_indices()
    dataset = ImageListDataset(
        subset_items(root, indices, "imagenet_a"), preprocess_of(model), prepare=OnlyForeground(bank, root)
    )
    return record(
        predict(model, dataset, options, decide=restricted_decider(indices), desc="imagenet_a_only_fg")
    )
