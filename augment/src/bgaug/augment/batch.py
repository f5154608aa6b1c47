"""Building a ``MaskedImages`` batch from per-image tensors, with errors that name the sample."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from bgaug.core.interfaces import MaskedImages


def stack_masked_images(
    images: Sequence[Tensor],
    masks: Sequence[Tensor],
    backgrounds: Sequence[Tensor | None] | None = None,
    *,
    index: Tensor | None = None,
    labels: Tensor | None = None,
) -> MaskedImages:
    """Stack (3, H, W) images, (1, H, W) or (H, W) masks and optional (3, H, W) tiled backgrounds.

    A sample whose mask or background size differs from its image raises ``ValueError`` naming the
    sample (its position and, when given, its dataset index). A ``None`` background marks a sample
    without one (``has_background`` False; its slot is filled with the image, never used).
    """
    if len(images) != len(masks):
        raise ValueError(f"got {len(images)} images but {len(masks)} masks")
    if not images:
        raise ValueError("cannot build an empty batch")

    def name(i: int) -> str:
        return f"sample {i}" + (f" (dataset index {int(index[i])})" if index is not None else "")

    mask_list = []
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        if image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(f"{name(i)}: image must be (3, H, W), got {tuple(image.shape)}")
        m = mask.unsqueeze(0) if mask.ndim == 2 else mask
        if m.shape[-2:] != image.shape[-2:]:
            mask_size, image_size = tuple(m.shape[-2:]), tuple(image.shape[-2:])
            raise ValueError(f"{name(i)}: mask size {mask_size} differs from image size {image_size}")
        if image.shape != images[0].shape:
            raise ValueError(
                f"{name(i)}: image size {tuple(image.shape)} differs from {tuple(images[0].shape)}"
            )
        mask_list.append(m.to(torch.float32))
    bgs = None
    has_bg = None
    if backgrounds is not None:
        if len(backgrounds) != len(images):
            raise ValueError(f"got {len(images)} images but {len(backgrounds)} backgrounds")
        filled = []
        for i, (image, bg) in enumerate(zip(images, backgrounds, strict=True)):
            if bg is not None and bg.shape != image.shape:
                bg_size, image_size = tuple(bg.shape), tuple(image.shape)
                raise ValueError(f"{name(i)}: background size {bg_size} differs from image size {image_size}")
            filled.append(image if bg is None else bg)
        bgs = torch.stack(filled)
        has_bg = torch.tensor([bg is not None for bg in backgrounds])
    return MaskedImages(
        images=torch.stack(list(images)),
        masks=torch.stack(mask_list),
        backgrounds=bgs,
        index=index,
        labels=labels,
        has_background=has_bg,
    )
