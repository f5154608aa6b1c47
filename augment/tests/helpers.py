"""Batches built so that the answer is known."""

from __future__ import annotations

import torch

from bgaug.augment.config import BackgroundConfig, ViewSpec
from bgaug.augment.pipeline import ViewPipeline
from bgaug.core.interfaces import IMAGENET_MEAN, IMAGENET_STD, MaskedImages


def identity_view(size: int) -> ViewSpec:
    """A view that is the whole image, unflipped, with no colour change: pixels pass through."""
    return ViewSpec(
        size=size, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, gray_p=0.0, blur_p=0.0
    )


def identity_pipeline(kind: str, size: int, n_views: int = 2, **options: object) -> ViewPipeline:
    return ViewPipeline("test", [identity_view(size)] * n_views, BackgroundConfig(kind=kind, **options))  # type: ignore[arg-type]


def unnormalize(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return x * std + mean


def square_batch(B: int = 4, size: int = 16, *, backgrounds: bool = True) -> MaskedImages:
    """Row i: foreground colour (i+1)/(B+1) in red on a centred square, background noise; its tiled
    background a constant, distinct colour per row (so any background pixel names its source)."""
    g = torch.Generator().manual_seed(123)
    images = torch.rand(B, 3, size, size, generator=g) * 0.5
    masks = torch.zeros(B, 1, size, size)
    q = size // 4
    masks[:, :, q : size - q, q : size - q] = 1
    for i in range(B):
        images[i, 0][masks[i, 0] > 0] = (i + 1) / (B + 1)
    bgs = None
    if backgrounds:
        colours = torch.linspace(0.1, 0.9, B)
        bgs = torch.stack([torch.stack([colours[i], 1 - colours[i], colours[i] / 2]) for i in range(B)])
        bgs = bgs.view(B, 3, 1, 1).expand(B, 3, size, size).clone()
    return MaskedImages(images=images, masks=masks, backgrounds=bgs, index=torch.arange(B))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
