"""Batched inference over an ``ImageListDataset``: predictions, features, and the unreadable files.

Everything runs under ``torch.inference_mode`` with optional bfloat16 autocast and DataLoader workers;
a ``decide`` function turns each batch of logits into predictions in the suite's own label space
(IN-9 groups, the 200 ImageNet-A classes, ...), so full 1000-way logits are never kept in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from bgaug.evals.batching import batches, item_paths, loader
from bgaug.evals.bn_adapt import adapt_batchnorm
from bgaug.evals.datasets import Sample
from bgaug.evals.options import EvalOptions, default_workers

# EvalOptions, default_workers, loader, batches and item_paths live in `options` and `batching` (shared
# with `bn_adapt` without a cycle); they stay importable from here, where callers have always found them.
__all__ = [
    "Decide",
    "EvalOptions",
    "Outcome",
    "argmax",
    "batches",
    "default_workers",
    "extract_features",
    "item_paths",
    "loader",
    "predict",
]

Decide = Callable[[Tensor], Tensor]
"""Logits (B, K) -> predicted labels (B,) in the suite's label space."""


def argmax(logits: Tensor) -> Tensor:
    return logits.argmax(dim=1)


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
