"""Per-sample RandomResizedCrop on batched tensors, with the paper's FG_min constraint.

Crop parameters come from core's ``random_resized_crops`` (torchvision's
``RandomResizedCrop.get_params``, drawn for the whole batch from a generator). torchvision and
kornia draw crop parameters from the global RNG and (kornia) cannot constrain them by a mask, so
the constraint is written here. Image and mask are concatenated on channels and resized together,
so they share exactly the same geometry; a tiled background is resized with its own row's crop.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from bgaug.core.crop_params import random_resized_crops


@functools.lru_cache(maxsize=256)
def device_constant(values: tuple[float, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    """A small constant tensor on ``device``, made once per (values, dtype, device) and shared: read
    it, never write it. ``torch.tensor(values, device=cuda)`` copies from pageable host memory and
    waits for the stream (a host sync) on every call."""
    return torch.tensor(values, dtype=dtype, device=device)


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
    candidates = random_resized_crops(
        n, height, width, scale=scale, ratio=ratio, generator=generator, tries=tries if constrained else 1
    )
    if not constrained or sat is None:
        return candidates[:, 0], torch.zeros(n, dtype=torch.bool, device=candidates.device)
    frac = foreground_in_crops(sat, candidates).to(candidates.device)
    ok = frac >= fg_min
    first = ok.to(torch.uint8).argmax(dim=1)
    chosen = candidates[torch.arange(n, device=candidates.device), first]
    fallback = ~ok.any(dim=1)
    side = fallback_size or min(height, width)
    cc = device_constant(center_crop(height, width, side), chosen.dtype, chosen.device)
    chosen = torch.where(fallback[:, None], cc.expand_as(chosen), chosen)
    return chosen, fallback


def resized_crops(
    x: Tensor,
    crops: Tensor,
    size: int,
    flip: Tensor | None = None,
    *,
    batched: bool | None = None,
) -> Tensor:
    """Cut each sample's crop (top, left, h, w) out of ``x`` (n, C, H, W), resize it to size x size
    (bilinear, antialiased like torchvision's RandomResizedCrop) and mirror the rows in ``flip``.

    Two code paths; ``batched`` picks one (default: batched on every device but the CPU):

    - per sample (CPU): one ``F.interpolate`` per sample. Its uint8 channels-last kernel is ~5x
      faster on CPU than a batched resampling in float, and it antialiases exactly. The result has
      ``x``'s dtype (uint8 stays uint8) in channels-last memory format (the resize's own). Keep
      C = 4 (image + mask) for the fast uint8 path.
    - batched (GPU): one ``torchvision.ops.roi_align`` for the whole batch and one ``torch.where``
      for the flips: a handful of kernel launches and no host sync whatever n is (the loop costs
      ~3 launches per sample and a sync). The result is float, contiguous NCHW; uint8 input is
      read as ``x / 255``, so it comes back in [0, 1] (a mask channel at 255 comes back at 1.0:
      thresholds at half scale hold either way). See ``_resized_crops_batched`` for how closely
      it follows the antialiased resize.
    """
    if batched is None:
        batched = x.device.type != "cpu"
    if batched:
        return _resized_crops_batched(x, crops, size, flip)
    n = x.shape[0]
    out = x.new_empty((n, x.shape[1], size, size)).contiguous(memory_format=torch.channels_last)
    if n == 0:
        return out
    if x.dtype == torch.uint8 and x.device.type != "cpu":
        # Antialiased uint8 resize exists on CPU only: resize in float, hand back uint8.
        resized = resized_crops(x.float(), crops, size, flip, batched=False)
        return resized.round_().clamp_(0, 255).to(torch.uint8)
    src = x.contiguous(memory_format=torch.channels_last)
    flips = [False] * n if flip is None else flip.tolist()
    for i, (top, left, h, w) in enumerate(crops.to(torch.long).tolist()):
        patch = src[i : i + 1, :, top : top + h, left : left + w]
        y = F.interpolate(patch, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[i : i + 1] = y.flip(-1) if flips[i] else y  # mirrored while the patch is in cache
    return out


def _resized_crops_batched(x: Tensor, crops: Tensor, size: int, flip: Tensor | None) -> Tensor:
    """``resized_crops`` for the whole batch at once with ``roi_align`` (see there).

    Geometry: box (left, top, left + w, top + h) in pixel coordinates with ``aligned=True`` samples
    bin j at ``left - 0.5 + (j + 0.5) w / size``: the pixel centres of
    ``F.interpolate(align_corners=False)``, so an identity-size crop copies its pixels exactly and
    upscaling is the same bilinear interpolation. One difference: at the crop's border a sample
    point may fall between the crop's last pixel and the image pixel just outside it; roi_align
    reads that neighbour (clamping only at the image border), ``F.interpolate`` on the cut-out patch
    clamps to the crop. That touches the outer ring of output pixels, within one pixel step of the
    image there.

    Antialiasing: ``sampling_ratio=-1`` (adaptive) averages ceil(w / size) x ceil(h / size)
    bilinear samples spread evenly over each output pixel's footprint: one sample when upscaling or
    at identity size (plain bilinear, as above), ~k^2 when downscaling by k. That box average over
    the footprint approximates torchvision's antialiased bilinear (a triangle filter as wide as the
    footprint) closely on natural images. A fixed ratio would be wrong at one end or the other:
    2 blurs every identity-size and upscaled crop (its samples sit a quarter pixel off the centres)
    and still aliases when downscaling by more than 2; a large one wastes work on the common
    upscaled crops. The adaptive count is computed per box inside the kernel: no host sync.
    """
    from torchvision.ops import roi_align  # torchvision's compiled ops load on first use only

    n, C = x.shape[:2]
    dtype = x.dtype if x.is_floating_point() else torch.float32
    if n == 0:
        return torch.empty((0, C, size, size), dtype=dtype, device=x.device)
    if x.is_floating_point():
        src = x.contiguous()  # roi_align's layout (it would copy a channels-last input itself)
    else:
        src = torch.empty(x.shape, dtype=dtype, device=x.device)
        torch.div(x, 255, out=src)  # uint8 -> float in [0, 1] and NCHW in one pass
    c = crops.to(device=x.device, dtype=dtype)
    top, left, h, w = c.unbind(1)
    index = torch.arange(n, device=x.device, dtype=dtype)
    boxes = torch.stack([index, left, top, left + w, top + h], dim=1)
    y: Tensor = roi_align(src, boxes, (size, size), spatial_scale=1.0, sampling_ratio=-1, aligned=True)
    if flip is not None:
        y = torch.where(flip.to(x.device).view(n, 1, 1, 1), y.flip(-1), y)
    return y
