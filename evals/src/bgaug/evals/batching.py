"""Batches of an evaluation dataset on the device, and the unreadable files met on the way.

Its own module so that ``inference`` and ``bn_adapt`` both use it without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from bgaug.evals.datasets import Sample
from bgaug.evals.options import EvalOptions


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


class UnreadableLog:
    """The unreadable samples of a dataset met over any number of passes (each listed once)."""

    def __init__(self, dataset: Dataset[Sample]):
        self.dataset = dataset
        self.indices: set[int] = set()

    def note(self, ok: Tensor, index: Tensor) -> None:
        self.indices.update(index[~ok].tolist())

    def paths(self) -> list[str]:
        return item_paths(self.dataset, sorted(self.indices))
