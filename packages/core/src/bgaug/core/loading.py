"""Training data for one worker: the image folder, its masks, a distributed sampler and the views.

``open_dataset`` loads an image folder with its masks (``maskbank.open_mask_bank``: a bank, a pack
or a plain mask folder). ``EpochBatches`` is the ``batches(epoch, start_step)`` callable of the
ssl_methods training loop: it shards each epoch with ``DistributedSampler`` (same permutation on
every rank, disjoint shards) and draws every step's augmentation from ``torch_generator(seed,
"aug", epoch, step, rank)``, so a resumed run repeats the exact views it would have drawn. Loader
worker processes start once and serve every epoch: on a folder of a few hundred images an epoch
is one or two steps, and starting the workers again each epoch cost more than the epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from bgaug.core.data import MaskedImageDataset, collate_masked
from bgaug.core.errors import UsageError
from bgaug.core.interfaces import MaskBank, MaskedImages, ViewBatch
from bgaug.core.seeding import spawn_seed, torch_generator, worker_seed


def open_dataset(
    image_root: str,
    bank: MaskBank | None,
    *,
    size: int,
    labelled: bool = False,
    cache: bool | Callable[[int], bool] = False,
) -> Dataset[Any]:
    """The ``MaskedImageDataset`` of ``image_root`` with ``bank`` (``open_mask_bank``), at load size
    ``size``; ``cache``: keep samples in memory, or a function of the image count that decides."""
    if not Path(image_root).is_dir():
        raise FileNotFoundError(f"image folder not found: {image_root}")
    dataset = MaskedImageDataset(image_root, bank=bank, size=size, labelled=labelled)
    if cache if isinstance(cache, bool) else cache(len(dataset)):
        dataset.keep_in_memory()
    out: Dataset[Any] = dataset
    return out


def _collate(samples: list[Any]) -> MaskedImages:
    return collate_masked(samples)


class _BatchPlan:
    """The batch sampler of the persistent loader: the batches set for the current epoch.

    A ``DataLoader`` iterates its batch sampler in the main process at every ``iter()``, so the
    workers it keeps (``persistent_workers``) fetch whatever batches were set last.
    """

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class EpochBatches:
    """``batches(epoch, start_step)`` over one worker's shard of ``dataset``.

    ``augment`` is a ``ViewAugmentation`` with ``set_epoch``; ``batch_size`` is this worker's batch.
    Incomplete final batches are dropped (queues and batch statistics expect full batches).
    """

    def __init__(
        self,
        dataset: Dataset[Any],
        augment: Callable[[MaskedImages, torch.Generator], ViewBatch],
        *,
        batch_size: int,
        rank: int,
        world_size: int,
        seed: int,
        device: torch.device,
        loader_workers: int = 0,
        collate: Callable[[list[Any]], MaskedImages] = _collate,
    ) -> None:
        self.dataset = dataset
        self.augment = augment
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.device = device
        self.loader_workers = loader_workers
        self.collate = collate
        self._plan = _BatchPlan()
        self._persistent: DataLoader[Any] | None = None  # made on first use, kept across epochs
        self.sampler: DistributedSampler[Any] = DistributedSampler(
            dataset,
            num_replicas=world_size,
            rank=rank,
            shuffle=True,
            seed=spawn_seed(seed, "sampler") % (2**31),
            drop_last=True,
        )
        if self.steps_per_epoch == 0:
            raise UsageError(
                f"dataset of {len(self.sampler) * world_size} images is too small for batch size "
                f"{batch_size} on {world_size} worker(s)"
            )

    @property
    def steps_per_epoch(self) -> int:
        return len(self.sampler) // self.batch_size

    def batch_indices(self, epoch: int) -> list[list[int]]:
        """This rank's batches of dataset indices for ``epoch`` (the same on every call)."""
        self.sampler.set_epoch(epoch)
        order = list(iter(self.sampler))
        n = self.steps_per_epoch
        return [order[i * self.batch_size : (i + 1) * self.batch_size] for i in range(n)]

    def _worker_init(self, worker_id: int) -> None:
        torch.manual_seed(worker_seed(self.seed, self.rank, worker_id))

    def start_epoch(self, epoch: int, start_step: int = 0) -> list[list[int]]:
        """Set the augmentation's epoch (warm-up) and return this rank's batches from ``start_step``."""
        set_epoch = getattr(self.augment, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)
        return self.batch_indices(epoch)[start_step:]

    def loader(self, batches: list[list[int]]) -> DataLoader[Any]:
        """A ``DataLoader`` over ``batches`` with this object's collate and worker seeding.

        With loader workers it is the same loader every call, its processes kept between epochs:
        iterate one call's loader to its end, or drop it, before the next call. Workers draw no
        random numbers (views are drawn here, per step), so keeping them changes no batch.
        """
        workers = self.loader_workers
        if not workers:
            return DataLoader(
                self.dataset,
                batch_sampler=batches,
                collate_fn=self.collate,
                pin_memory=self.device.type == "cuda",
            )
        self._plan.batches = batches
        if self._persistent is None:
            self._persistent = DataLoader(
                self.dataset,
                batch_sampler=self._plan,
                collate_fn=self.collate,
                num_workers=workers,
                worker_init_fn=self._worker_init,
                pin_memory=self.device.type == "cuda",
                prefetch_factor=4,
                persistent_workers=True,
            )
        return self._persistent

    def __call__(self, epoch: int, start_step: int = 0) -> Iterator[ViewBatch]:
        batches = self.start_epoch(epoch, start_step)
        if not batches:  # resumed at the epoch's end: no workers to start
            return
        for step, batch in enumerate(self.loader(batches), start=start_step):
            generator = torch_generator(self.seed, "aug", epoch, step, self.rank, device=self.device)
            yield self.augment(batch.to(self.device, non_blocking=True), generator)
