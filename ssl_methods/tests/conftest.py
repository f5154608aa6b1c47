"""Small structured data: a few fixed images, seen through noise, rotations and labels."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
import torch.nn.functional as F

from bgaug.core.interfaces import ViewBatch
from bgaug.core.seeding import torch_generator

# Tiny tensors gain nothing from intra-op threads, and on a shared 2-core machine two spinning
# OpenMP threads per test process made steps ~10x slower (measured: 17.9 s vs 1.8 s for 8 MoCo steps).
torch.set_num_threads(1)

SIZE = 16
N_IMAGES = 4

BatchProvider = Callable[[int, int], Iterator[ViewBatch]]


def _base_images() -> torch.Tensor:
    g = torch.Generator().manual_seed(1234)
    coarse = torch.randn(N_IMAGES, 3, 4, 4, generator=g)
    return F.interpolate(coarse, size=(SIZE, SIZE), mode="bilinear", align_corners=False)


def make_batch(
    generator: torch.Generator, batch_size: int = 16, p_neg: float = 0.0, noise: float = 0.3, n_local: int = 0
) -> ViewBatch:
    base = _base_images()
    idx = torch.randint(0, N_IMAGES, (batch_size,), generator=generator)

    def view(size: int = SIZE) -> torch.Tensor:
        x = base[idx] + noise * torch.randn(batch_size, 3, SIZE, SIZE, generator=generator)
        return (
            x if size == SIZE else F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        )

    rotations = torch.randint(0, 4, (batch_size,), generator=generator)
    query = view()
    query = torch.stack([torch.rot90(q, int(k), dims=(1, 2)) for q, k in zip(query, rotations, strict=True)])
    views = (query, view(), *(view(SIZE // 2) for _ in range(n_local)))
    matched = rows = None
    if p_neg > 0:
        chosen = torch.rand(batch_size, generator=generator) < p_neg
        rows = chosen.nonzero().flatten()
        other = (idx[rows] + 1) % N_IMAGES
        matched = base[other] + noise * torch.randn(len(rows), 3, SIZE, SIZE, generator=generator)
    return ViewBatch(
        views=views, n_global=2, matched_negatives=matched, matched_rows=rows, labels=idx, rotations=rotations
    )


def provider(seed: int = 0, batch_size: int = 16, p_neg: float = 0.0, n_local: int = 0) -> BatchProvider:
    """``batches(epoch, start_step)`` drawing from ``torch_generator(seed, "aug", epoch, step)``."""

    def batches(epoch: int, start: int) -> Iterator[ViewBatch]:
        step = start
        while True:
            yield make_batch(torch_generator(seed, "aug", epoch, step), batch_size, p_neg, n_local=n_local)
            step += 1

    return batches


@pytest.fixture
def batches() -> Callable[..., BatchProvider]:
    return provider


@pytest.fixture
def batch() -> Callable[..., ViewBatch]:
    def factory(seed: int = 0, **kwargs: float | int) -> ViewBatch:
        return make_batch(torch.Generator().manual_seed(seed), **kwargs)  # type: ignore[arg-type]

    return factory


TINY: dict[str, dict[str, object]] = {
    "moco_v2": {"hidden_dim": 64, "out_dim": 32, "queue_size": 64, "momentum": 0.99},
    "byol": {"hidden_dim": 64, "out_dim": 32},
    "swav": {"hidden_dim": 64, "out_dim": 32, "n_prototypes": 30, "freeze_prototypes_epochs": 0.0},
    "rotnet": {},
    "supervised": {},
    "simclr": {"hidden_dim": 64, "out_dim": 32},
}


@pytest.fixture
def tiny_options() -> dict[str, dict[str, object]]:
    return TINY
