"""Random resized crop parameters, drawn for a whole batch from the caller's generator.

torchvision's ``RandomResizedCrop.get_params`` draws one image's crop from the global RNG; a
resumable pipeline draws every number from its own generator, for the whole batch at once. This
follows get_params: ``RRC_ATTEMPTS`` tries at an area fraction in ``scale`` and a log-uniform
aspect ratio in ``ratio``, else the whole image with its ratio clamped into ``ratio``, centred.
Augment's SSL views and saliency's phase-II views both crop with it, so the two cannot drift apart.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

RRC_ATTEMPTS = 10
"""torchvision's attempts at a valid (area, ratio) pair before falling back to a centred crop."""


def uniform(shape: tuple[int, ...], low: float, high: float, generator: torch.Generator) -> Tensor:
    """U[low, high) on the generator's device."""
    u = torch.rand(shape, generator=generator, device=generator.device)
    return low + (high - low) * u


def random_resized_crops(
    n: int,
    height: int,
    width: int,
    *,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    generator: torch.Generator,
    tries: int = 1,
) -> Tensor:
    """(n, tries, 4) float crops (top, left, h, w) of an H x W image, as get_params draws them.

    ``tries`` independent crops per sample (a caller that constrains crops picks among them).
    """
    area = float(height * width)
    shape = (n, tries, RRC_ATTEMPTS)
    target = area * uniform(shape, scale[0], scale[1], generator)
    aspect = torch.exp(uniform(shape, math.log(ratio[0]), math.log(ratio[1]), generator))
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    valid = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = valid.to(torch.uint8).argmax(dim=-1, keepdim=True)
    w = w.gather(-1, first).squeeze(-1)
    h = h.gather(-1, first).squeeze(-1)
    found = valid.any(dim=-1)
    # torchvision's fallback: the whole image, its aspect ratio clamped into ``ratio``.
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fw, fh = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        fw, fh = round(height * ratio[1]), height
    else:
        fw, fh = width, height
    w = torch.where(found, w, torch.full_like(w, fw))
    h = torch.where(found, h, torch.full_like(h, fh))
    pos = torch.rand((n, tries, 2), generator=generator, device=generator.device)
    top = torch.floor(pos[..., 0] * (height - h + 1))
    left = torch.floor(pos[..., 1] * (width - w + 1))
    top = torch.where(found, top, torch.full_like(top, (height - fh) // 2))
    left = torch.where(found, left, torch.full_like(left, (width - fw) // 2))
    return torch.stack([top, left, h, w], dim=-1)
