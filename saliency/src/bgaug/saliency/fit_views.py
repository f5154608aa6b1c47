"""The views DeepUSPS2's phase II trains on: random resized crops and colour jitter (``crops``).

DeepUSPS trains on flipped images only. On a folder of a few hundred images that network learns
its training images and not the scenes: on 162 256-px synthetic scenes the detector scored maxF 0.92
on them and 0.68-0.76 on 180 others (docs/saliency.md, "A folder of a few hundred images"). Crops
and colour changes are the usual cure. Only phase II uses them: phase I folds each epoch's
predictions into a per-image average, which needs the whole, unmoved image.

Each image and its label sets move together (the labels with nearest-neighbour sampling, so they
stay binary). Crop boxes come from core's ``random_resized_crops`` (torchvision's RandomResizedCrop
parameters, as augment's SSL views draw them); every number is drawn from the caller's generator,
so a seed gives the same views. Per-image calls into torchvision's functional transforms: at 16
images of 64 px a step this costs little beside the network.
"""

from __future__ import annotations

import torch
import torchvision.transforms.v2.functional as TF
from torch import Tensor
from torchvision.transforms import InterpolationMode

from bgaug.core.crop_params import random_resized_crops

VIEWS = ("flip", "crops")
"""``flip``: horizontal flips only (DeepUSPS); ``crops``: + random resized crops and colour jitter."""

CROP_SCALE = (0.35, 1.0)
"""Area fraction of a crop (torchvision's RandomResizedCrop draws from (0.08, 1); a crop of a tenth
of the frame often holds no object, and then its labels say "no foreground" about a part of one)."""

CROP_RATIO = (3 / 4, 4 / 3)
"""Aspect ratio of a crop, as RandomResizedCrop."""

JITTER = 0.4
"""Brightness, contrast and saturation factors are drawn from [1 - JITTER, 1 + JITTER] (the SSL
recipes' colour-jitter strength). Hue is not jittered; whether it would help is not measured."""


def _uniform(g: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=g))


def crop_views(images: Tensor, labels: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """A random resized crop, flip and colour jitter of each image, the same crop and flip of its labels.

    ``images``: (B, 3, H, W) floats in [0, 1]; ``labels``: (K, B, 1, H, W), K label sets of the same
    images. Returns tensors of the same shapes.
    """
    height, width = images.shape[-2:]
    out_images, out_labels = torch.empty_like(images), torch.empty_like(labels)
    boxes = random_resized_crops(
        images.shape[0], height, width, scale=CROP_SCALE, ratio=CROP_RATIO, generator=g
    )[:, 0]
    for i, (top, left, h, w) in enumerate(boxes.to(torch.long).tolist()):
        image = TF.resized_crop(images[i], top, left, h, w, [height, width], antialias=True)
        label = TF.resized_crop(
            labels[:, i], top, left, h, w, [height, width], interpolation=InterpolationMode.NEAREST
        )
        if float(torch.rand((), generator=g)) < 0.5:
            image, label = image.flip(-1), label.flip(-1)
        image = TF.adjust_brightness(image, _uniform(g, 1 - JITTER, 1 + JITTER))
        image = TF.adjust_contrast(image, _uniform(g, 1 - JITTER, 1 + JITTER))
        image = TF.adjust_saturation(image, _uniform(g, 1 - JITTER, 1 + JITTER))
        out_images[i], out_labels[:, i] = image.clamp(0, 1), label
    return out_images, out_labels
