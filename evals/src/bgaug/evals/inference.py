"""Batched inference over an ``ImageListDataset``: predictions, features, and the unreadable files.

Everything runs under ``torch.inference_mode`` with optional bfloat16 autocast and DataLoader workers;
a ``decide`` function turns each batch of logits into predictions in the suite's own label space
(IN-9 groups, the 200 ImageNet-A classes, ...), so full 1000-way logits are never kept in memory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from bgaug.core.config import check_positive
from bgaug.evals.datasets import Sample

Decide = Callable[[Tensor], Tensor]
"""Logits (B, K) -> predicted labels (B,) in the suite's label space."""


def argmax(logits: Tensor) -> Tensor:
    return logits.argmax(dim=1)


def default_workers() -> int:
    return min(8, os.cpu_count() or 1)


@dataclass(frozen=True)
class EvalOptions:
    """How inference runs: batch size, DataLoader workers, device, bfloat16 autocast, progress bars.

    ``bn_adapt``: re-estimate BatchNorm statistics on each evaluated set before predicting on it
    (``bgaug.evals.bn_adapt``; paper appendix C.8).
    """

    batch_size: int = 256
    workers: int = field(default_factory=default_workers)
    device: str = "cuda" if torch.cuda.is_available() else "cpu"
    bf16: bool = False
    progress: bool = True
    bn_adapt: bool = False

    def __post_init__(self) -> None:
        check_positive("batch_size", self.batch_size)
        check_positive("workers", self.workers, allow_zero=True)

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(self.device).type, dtype=torch.bfloat16)


@dataclass(frozen=True)
class Outcome:
    """Per-image predictions and labels of the readable images, plus the unreadable ones."""

    predictions: np.ndarray
    labels: np.ndarray
    indices: np.ndarray
    unreadable: list[str]

    @property
    def correct(self) -> np.ndarray:
        return np.asarray(self.predictions == self.labels)

    @property
    def top1(self) -> float:
        """Top-1 accuracy in percent over readable images (nan when there are none)."""
        return float(100.0 * self.correct.mean()) if len(self.labels) else float("nan")


def loader(
    dataset: Dataset[Sample],
    options: EvalOptions,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
) -> DataLoader[Sample]:
    return DataLoader(
        dataset,
        batch_size=options.batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=options.workers,
        pin_memory=torch.device(options.device).type == "cuda",
        persistent_workers=False,
    )


def batches(
    dataset: Dataset[Sample], options: EvalOptions, desc: str
) -> Iterator[tuple[Tensor, Tensor, Tensor, Tensor]]:
    """(images on device, labels, ok mask, indices) per batch, with a progress bar."""
    for images, labels, ok, index in tqdm(
        loader(dataset, options), desc=desc, disable=not options.progress, leave=False
    ):
        yield images.to(options.device, non_blocking=True), labels, ok, index


def item_paths(dataset: Dataset[Sample], indices: list[int]) -> list[str]:
    """The file paths of dataset indices (the indices themselves for datasets without files)."""
    items = getattr(dataset, "items", None)
    return [str(items[i].path) if items is not None else str(i) for i in indices]


def predict(
    model: nn.Module,
    dataset: Dataset[Sample],
    options: EvalOptions,
    *,
    decide: Decide = argmax,
    desc: str = "eval",
) -> Outcome:
    """Run ``model`` ([0, 1] images -> logits) over ``dataset`` and decide each image's label."""
    if options.bn_adapt:
        from bgaug.evals.bn_adapt import adapt_batchnorm

        model = adapt_batchnorm(model, dataset, options)
    model = model.to(options.device).eval()
    preds: list[Tensor] = []
    labels: list[Tensor] = []
    kept: list[Tensor] = []
    bad: list[int] = []
    with torch.inference_mode(), options.autocast():
        for images, y, ok, index in batches(dataset, options, desc):
            bad.extend(index[~ok].tolist())
            if not bool(ok.any()):
                continue
            logits = model(images[ok.to(images.device)]).float()
            preds.append(decide(logits).cpu())
            labels.append(y[ok])
            kept.append(index[ok])
    return _outcome(preds, labels, kept, item_paths(dataset, bad))


def _outcome(preds: list[Tensor], labels: list[Tensor], kept: list[Tensor], unreadable: list[str]) -> Outcome:
    def cat(ts: list[Tensor]) -> np.ndarray:
        return torch.cat(ts).numpy() if ts else np.zeros(0, dtype=np.int64)

    return Outcome(cat(preds), cat(labels), cat(kept), unreadable)


def extract_features(
    model: Callable[[Tensor], Tensor], dataset: Dataset[Sample], options: EvalOptions, desc: str = "features"
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features (N, D) float32 and labels (N,) of the readable images, and the unreadable paths."""
    feats: list[Tensor] = []
    labels: list[Tensor] = []
    bad: list[int] = []
    with torch.inference_mode(), options.autocast():
        for images, y, ok, index in batches(dataset, options, desc):
            bad.extend(index[~ok].tolist())
            if bool(ok.any()):
                feats.append(model(images[ok.to(images.device)]).float().flatten(1).cpu())
                labels.append(y[ok])
    if not feats:
        raise ValueError(f"{desc}: no readable images")
    return torch.cat(feats).numpy(), torch.cat(labels).numpy(), item_paths(dataset, bad)
