"""Per-sample RandomResizedCrop on batched tensors, with the paper's FG_min constraint.

Crop parameters follow torchvision's ``RandomResizedCrop.get_params`` (10 attempts at an area in
``scale`` and a log-uniform aspect ratio, else a centred crop with the ratio clamped), drawn for the
whole batch at once. torchvision and kornia draw crop parameters from the global RNG and (kornia)
cannot constrain them by a mask, so they are written here. Image and mask are concatenated on
channels and resized together, so they share exactly the same geometry; a tiled background is
resized with its own row's crop.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

RRC_ATTEMPTS = 10
"""torchvision's attempts at a valid (area, ratio) pair before falling back to a centred crop."""


def uniform(shape: tuple[int, ...], low: float, high: float, generator: torch.Generator) -> Tensor:
    """U[low, high) on the generator's device (the device of every draw in this package)."""
    u = torch.rand(shape, generator=generator, device=generator.device)
    return low + (high - low) * u


def _rrc_candidates(
    n: int,
    tries: int,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    generator: torch.Generator,
) -> Tensor:
    """(n, tries, 4) crops (top, left, h, w) as torchvision's get_params would draw them."""
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


def summed_area(masks: Tensor) -> Tensor:
    """(B, H+1, W+1) int32 summed-area table of binary masks (B, 1, H, W)."""
    B, _, H, W = masks.shape
    out = torch.zeros((B, H + 1, W + 1), dtype=torch.int32, device=masks.device)
    inner = out[:, 1:, 1:]  # written in place: no padded copy
    torch.cumsum(masks[:, 0] > 0.5, 2, dtype=torch.int32, out=inner)  # along rows first (contiguous)
    inner.cumsum_(1)
    return out


def foreground_in_crops(sat: Tensor, crops: Tensor) -> Tensor:
    """Fraction of each mask's foreground area inside each crop: ``sat`` from ``summed_area``,
    crops (B, T, 4). Four lookups per candidate; an empty mask gives 1.0 (no foreground to lose).
    """
    B = sat.shape[0]
    W1 = sat.shape[2]
    flat = sat.reshape(B, -1)
    c = crops.to(device=sat.device, dtype=torch.long)
    top, left, h, w = c.unbind(-1)

    def at(y: Tensor, x: Tensor) -> Tensor:
        return flat.gather(1, y * W1 + x)

    inside = at(top + h, left + w) - at(top, left + w) - at(top + h, left) + at(top, left)
    total = flat[:, -1:]
    return torch.where(total > 0, inside / total.clamp_min(1), torch.ones_like(inside, dtype=torch.float64))


def center_crop(height: int, width: int, size: int) -> tuple[int, int, int, int]:
    """torchvision's CenterCrop(size) on an H x W image; the whole shorter side if it is smaller."""
    side = min(size, height, width)
    return (height - side) // 2, (width - side) // 2, side, side


def sample_crops(
    n: int,
    height: int,
    width: int,
    *,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    generator: torch.Generator,
    sat: Tensor | None = None,
    fg_min: float = 0.0,
    tries: int = 10,
    fallback_size: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Per-sample crops (n, 4) = (top, left, h, w) on the generator's device, and (n,) bool fallback.

    Without ``sat`` (the masks' ``summed_area``) or with ``fg_min == 0`` this is RandomResizedCrop.
    With them, up to ``tries``
    crops are drawn per sample and the first holding at least ``fg_min`` of the foreground area is
    kept; when none does, CenterCrop(``fallback_size``) is used (paper appendix A / C.6).
    """
    constrained = sat is not None and fg_min > 0
    candidates = _rrc_candidates(n, tries if constrained else 1, height, width, scale, ratio, generator)
    if not constrained or sat is None:
        return candidates[:, 0], torch.zeros(n, dtype=torch.bool, device=candidates.device)
    frac = foreground_in_crops(sat, candidates).to(candidates.device)
    ok = frac >= fg_min
    first = ok.to(torch.uint8).argmax(dim=1)
    chosen = candidates[torch.arange(n, device=candidates.device), first]
    fallback = ~ok.any(dim=1)
    cc = torch.tensor(
        center_crop(height, width, fallback_size or min(height, width)),
        dtype=chosen.dtype,
        device=chosen.device,
    )
    chosen = torch.where(fallback[:, None], cc.expand_as(chosen), chosen)
    return chosen, fallback


def resized_crops(x: Tensor, crops: Tensor, size: int, flip: Tensor | None = None) -> Tensor:
    """Cut each sample's crop (top, left, h, w) out of ``x`` (n, C, H, W), resize it to size x size
    (bilinear, antialiased like torchvision's RandomResizedCrop) and mirror the rows in ``flip``.

    One ``F.interpolate`` per sample: on CPU its uint8 channels-last kernel is ~5x faster than a
    batched ``grid_sample`` in float and, unlike it, antialiases downscaling; on CUDA the loop costs
    a few kernel launches per sample. Keep C = 4 (image + mask) for the fast uint8 path. The result
    is in channels-last memory format (the resize's own; consumers read it in any layout).
    """
    n = x.shape[0]
    out = x.new_empty((n, x.shape[1], size, size)).contiguous(memory_format=torch.channels_last)
    if n == 0:
        return out
    if x.dtype == torch.uint8 and x.device.type != "cpu":
        # Antialiased uint8 resize exists on CPU only: resize in float, hand back uint8.
        resized = resized_crops(x.float(), crops, size, flip)
        return resized.round_().clamp_(0, 255).to(torch.uint8)
    src = x.contiguous(memory_format=torch.channels_last)
    flips = [False] * n if flip is None else flip.tolist()
    for i, (top, left, h, w) in enumerate(crops.to(torch.long).tolist()):
        patch = src[i : i + 1, :, top : top + h, left : left + w]
        y = F.interpolate(patch, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[i : i + 1] = y.flip(-1) if flips[i] else y  # mirrored while the patch is in cache
    return out
