"""The per-epoch kNN monitor: weighted kNN top-1 (%) of the backbone's features, ``knn_top1``.

Train and validation images are labelled class-folder trees (e.g. the synthetic benchmark's
``train`` and ``val``), decoded and centre-cropped once through bgaug.evals and scored with its faiss
weighted kNN (k = ``knn_k``, T = 0.07). The sweep's ASHA scheduler stops trials on this number.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bgaug.core.errors import UsageError
from bgaug.core.interfaces import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from bgaug.launch.config import PretrainConfig

METRIC = "knn_top1"


class KnnMonitor:
    def __init__(self, train_root: str, val_root: str, *, image_size: int, k: int, device: torch.device):
        from bgaug.evals.datasets import ImageListDataset, imagefolder_items

        preprocess = Preprocess(resize=round(image_size * 256 / 224), crop=image_size)
        train_items, train_classes = imagefolder_items(train_root)
        val_items, val_classes = imagefolder_items(val_root)
        if train_classes != val_classes:
            raise UsageError(f"kNN monitor: class folders of {train_root} and {val_root} differ")
        self.train = ImageListDataset(train_items, preprocess)
        self.val = ImageListDataset(val_items, preprocess)
        self.k = k
        self.device = device
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)

    @classmethod
    def from_config(cls, config: PretrainConfig, device: torch.device) -> KnnMonitor | None:
        if config.knn_train is None or config.knn_val is None:
            return None
        return cls(
            config.knn_train, config.knn_val, image_size=config.image_size, k=config.knn_k, device=device
        )

    def __call__(self, backbone: nn.Module) -> dict[str, float]:
        from bgaug.evals.inference import EvalOptions, extract_features
        from bgaug.evals.knn import knn_top1

        options = EvalOptions(batch_size=256, workers=0, device=str(self.device), progress=False)
        was_training = backbone.training
        backbone.eval()

        def features(images: torch.Tensor) -> Any:
            return backbone((images - self.mean) / self.std)

        try:
            train_x, train_y, _ = extract_features(features, self.train, options, desc="knn train")
            val_x, val_y, _ = extract_features(features, self.val, options, desc="knn val")
        finally:
            backbone.train(was_training)
        return {METRIC: knn_top1(train_x, train_y, val_x, val_y, k=self.k)}
