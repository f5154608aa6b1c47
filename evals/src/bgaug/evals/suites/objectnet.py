"""ObjectNet (Barbu et al. 2019) on its 113 classes that overlap ImageNet.

Layout as released: ``objectnet-1.0/images/{folder}/*.png``; folders outside the 113 are ignored.
Protocol of the ObjectNet authors: remove the 2-pixel red border, resize the shorter side to the
crop size (224) and centre-crop; each ObjectNet class scores the maximum of its ImageNet logits
(125 indices in all) and the argmax over the 113 classes is the prediction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from bgaug.core.interfaces import Preprocess
from bgaug.evals.datasets import ImageListDataset, LabelledImage, folder_items
from bgaug.evals.inference import Decide, EvalOptions, predict
from bgaug.evals.suites.common import preprocess_of, record
from bgaug.evals.tables import objectnet_groups

BORDER = 2


def remove_border(image: np.ndarray, item: LabelledImage | None = None) -> np.ndarray:
    """Drop ``BORDER`` pixels on every side (ObjectNet images carry a thin red frame)."""
    h, w = image.shape[:2]
    if h <= 2 * BORDER or w <= 2 * BORDER:
        return image
    return image[BORDER : h - BORDER, BORDER : w - BORDER]


def objectnet_decider() -> Decide:
    groups = list(objectnet_groups().values())
    width = max(len(g) for g in groups)
    # Pad each class's index list by repeating its first index, so one gather + max serves all.
    table = torch.tensor([list(g) + [g[0]] * (width - len(g)) for g in groups], dtype=torch.long)

    def decide(logits: Tensor) -> Tensor:
        if logits.shape[1] != 1000:
            raise ValueError(f"ObjectNet needs a 1000-way ImageNet classifier, got {logits.shape[1]} logits")
        t = table.to(logits.device)
        per_class = logits[:, t.flatten()].view(logits.shape[0], *t.shape).amax(dim=2)
        return per_class.argmax(dim=1)

    return decide


def objectnet_items(root: str | Path) -> list[LabelledImage]:
    position = {name: i for i, name in enumerate(objectnet_groups())}
    items = folder_items(root, position.get)
    if not items:
        raise ValueError(f"{root}: none of ObjectNet's 113 ImageNet-overlapping class folders")
    return items


def evaluate_objectnet(model: nn.Module, root: str | Path, options: EvalOptions) -> dict[str, Any]:
    pre = preprocess_of(model)
    protocol = Preprocess(resize=pre.crop, crop=pre.crop, mean=pre.mean, std=pre.std)
    dataset = ImageListDataset(objectnet_items(root), protocol, prepare=remove_border)
    return record(predict(model, dataset, options, decide=objectnet_decider(), desc="objectnet"))
