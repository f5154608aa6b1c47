"""Linear transfer (paper appendix A.8 / A.9) to any data set already on disk.

Sources: ``cifar10`` / ``cifar100`` (torchvision's on-disk format, never downloaded), or ``folder``:
any ImageFolder tree with ``train/`` and ``val/`` (or ``test/``) splits, e.g. Places-205. The frozen
backbone's features feed the linear protocol (``bgaug.evals.linear``) on the train split; top-1 is
reported on the held-out split. CIFAR images are upsampled by the classifier's preprocessing (to 224
for an ImageNet backbone), as in the paper's transfer evaluation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from bgaug.core.interfaces import Classifier, Preprocess
from bgaug.evals.datasets import (
    ImageListDataset,
    LabelledImage,
    Sample,
    imagefolder_items,
    resize_center_crop,
)
from bgaug.evals.features import cached_features
from bgaug.evals.inference import EvalOptions
from bgaug.evals.linear import fit_head_on_features, head_top1
from bgaug.evals.recipes import Recipe

SOURCES = ("cifar10", "cifar100", "folder")


class ArrayImageDataset(Dataset[Sample]):
    """uint8 (N, H, W, 3) images in memory (CIFAR), served like ``ImageListDataset``."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, preprocess: Preprocess):
        if images.ndim != 4 or images.shape[3] != 3 or len(images) != len(labels):
            raise ValueError(
                f"expected (N, H, W, 3) images and N labels, got {images.shape} and {labels.shape}"
            )
        self.images, self.labels, self.preprocess = images, labels.astype(np.int64), preprocess

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Sample:
        tensor = torch.from_numpy(np.ascontiguousarray(self.images[index])).permute(2, 0, 1)
        tensor = resize_center_crop(tensor, self.preprocess.resize, self.preprocess.crop)
        return tensor.float().div_(255.0), int(self.labels[index]), True, index


def cifar(name: str, root: str | Path, train: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """CIFAR images (N, 32, 32, 3) uint8, labels and class count from torchvision's on-disk files."""
    from torchvision import datasets

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError as exc:  # torchvision's "Dataset not found or corrupted"
        raise FileNotFoundError(f"{name} not found under {root}: {exc}") from None
    return np.asarray(ds.data), np.asarray(ds.targets), len(ds.classes)


def folder_splits(root: str | Path) -> tuple[list[LabelledImage], list[LabelledImage], int]:
    """Train and held-out items of an ImageFolder data set with ``train/`` and ``val/`` or ``test/``."""
    base = Path(root)
    held_out = next((base / s for s in ("val", "test") if (base / s).is_dir()), None)
    if not (base / "train").is_dir() or held_out is None:
        raise FileNotFoundError(f"{base}: expected train/ and val/ (or test/) class folders")
    train, classes = imagefolder_items(base / "train")
    val, val_classes = imagefolder_items(held_out)
    if val_classes != classes:
        raise ValueError(f"{base}: {held_out.name}/ classes differ from train/")
    return train, val, len(classes)


def transfer_datasets(
    source: str, root: str | Path, preprocess: Preprocess
) -> tuple[Dataset[Sample], Dataset[Sample], int]:
    """(train, held-out, number of classes) of a transfer data set."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if source == "folder":
        train, val, classes = folder_splits(root)
        return ImageListDataset(train, preprocess), ImageListDataset(val, preprocess), classes
    x_train, y_train, classes = cifar(source, root, True)
    x_test, y_test, _ = cifar(source, root, False)
    return (
        ArrayImageDataset(x_train, y_train, preprocess),
        ArrayImageDataset(x_test, y_test, preprocess),
        classes,
    )


def linear_transfer(
    backbone: torch.nn.Module,
    preprocess: Preprocess,
    source: str,
    root: str | Path,
    recipe: Recipe,
    options: EvalOptions,
    *,
    cache_dir: str | Path | None = None,
    cache_key: dict[str, Any] | None = None,
    batch_size: int | None = None,
    epochs: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Top-1 (%) of a linear head trained on frozen features of ``source``'s train split.

    ``cache_key`` must name the backbone by content (``features.checkpoint_key``)."""
    train, held_out, classes = transfer_datasets(source, root, preprocess)
    frozen = Classifier(backbone, torch.nn.Identity(), preprocess).to(options.device).eval()
    key = {"source": source, "root": str(root), **(cache_key or {})}

    def cache(name: str) -> Path | None:
        return Path(cache_dir) / f"{source}-{name}.features.npz" if cache_dir is not None else None

    train_features = cached_features(frozen.features, train, options, cache("train"), key, f"{source} train")
    val = cached_features(frozen.features, held_out, options, cache("val"), key, f"{source} val")
    head, losses = fit_head_on_features(
        train_features.features,
        train_features.labels,
        classes,
        recipe,
        options,
        batch_size=batch_size,
        epochs=epochs,
        seed=seed,
    )
    unreadable = sorted(set(train_features.unreadable) | set(val.unreadable))
    return {
        "source": source,
        "classes": classes,
        "n_train": len(train_features.labels),
        "n_val": len(val.labels),
        "top1": head_top1(head, val.features, val.labels, "cpu"),
        "final_train_loss": losses[-1],
        "n_unreadable": len(unreadable),
        "unreadable_files": unreadable,
    }
