"""Per-sample colour jitter, grayscale, Gaussian blur and solarize on batched tensors.

The operations follow torchvision's definitions (``ColorJitter`` with a random order of its four
operations per sample, ITU-R 601-2 grayscale, solarize at 0.5), with parameters drawn per sample
from the ``torch.Generator`` passed in. torchvision's functional ops take one factor per call and
kornia's augmentation modules draw from the global RNG, so the factors are drawn here; the HSV
hue shift is written out (torchvision's HSV definition) because converting to HSV and back with
kornia cost 3x more on CPU. Blur is a separable Gaussian per sample in one grouped convolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from bgaug.augment.config import ViewSpec
from bgaug.augment.crops import uniform

GRAY_WEIGHTS = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class PhotometricParams:
    """Per-sample photometric parameters of one view; factors of 1 / hue 0 / sigma 0 mean 'off'."""

    brightness: Tensor
    contrast: Tensor
    saturation: Tensor
    hue: Tensor
    order: Tensor  # (n, 4) permutation of the four jitter operations
    jitter: Tensor  # (n,) bool
    gray: Tensor
    blur_sigma: Tensor  # (n,) 0 = no blur
    solarize: Tensor

    def select(self, rows: Tensor) -> PhotometricParams:
        return PhotometricParams(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))


def sample_photometric(spec: ViewSpec, n: int, generator: torch.Generator) -> PhotometricParams:
    """Draw one view's photometric parameters for ``n`` samples (always the same number of draws)."""
    b, c, s, h = spec.jitter

    def factor(strength: float) -> Tensor:
        return uniform((n,), max(0.0, 1 - strength), 1 + strength, generator)

    def coin(p: float) -> Tensor:
        return uniform((n,), 0.0, 1.0, generator) < p

    brightness, contrast, saturation = factor(b), factor(c), factor(s)
    hue = uniform((n,), -h, h, generator)
    order = torch.rand((n, 4), generator=generator, device=generator.device).argsort(dim=1)
    jitter = coin(spec.jitter_p)
    gray = coin(spec.gray_p)
    sigma = uniform((n,), spec.blur_sigma[0], spec.blur_sigma[1], generator)
    blur = coin(spec.blur_p)
    solarize = coin(spec.solarize_p)
    return PhotometricParams(
        brightness=brightness,
        contrast=contrast,
        saturation=saturation,
        hue=hue,
        order=order,
        jitter=jitter,
        gray=gray,
        blur_sigma=torch.where(blur, sigma, torch.zeros_like(sigma)),
        solarize=solarize,
    )


def grayscale(x: Tensor) -> Tensor:
    """(n, 1, H, W) luma of RGB images, torchvision's weights (a 1x1 convolution: one pass)."""
    weight = torch.tensor(GRAY_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return F.conv2d(x, weight)


def _blend(x: Tensor, other: Tensor, factor: Tensor) -> Tensor:
    """``factor * x + (1 - factor) * other``, clamped (torchvision's _blend), as one lerp."""
    return torch.lerp(other.expand_as(x), x, factor.view(-1, 1, 1, 1).to(x.dtype)).clamp_(0, 1)


def _brightness(x: Tensor, f: Tensor) -> Tensor:
    return (x * f.view(-1, 1, 1, 1)).clamp_(0, 1)


def _contrast(x: Tensor, f: Tensor) -> Tensor:
    return _blend(x, grayscale(x).mean(dim=(1, 2, 3), keepdim=True), f)


def _saturation(x: Tensor, f: Tensor) -> Tensor:
    return _blend(x, grayscale(x), f)


_HUE_OFFSETS = (5.0, 3.0, 1.0)  # HSV -> RGB: channel c = V - C * clamp(min(k, 4 - k), 0, 1)


def _hue(x: Tensor, f: Tensor) -> Tensor:
    """Rotate the HSV hue by ``f`` turns, keeping value and saturation (torchvision's adjust_hue)."""
    r, g, b = x.unbind(1)
    v = x.amax(dim=1)
    chroma = v - x.amin(dim=1)
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    h = torch.where(v == r, (g - b) / safe, torch.where(v == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h = (h + 6 * f.view(-1, 1, 1)).unsqueeze(1)  # sextants, any real; the remainder wraps it
    offsets = torch.tensor(_HUE_OFFSETS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    k = torch.remainder(h + offsets, 6)
    weight = torch.minimum(k, 4 - k).clamp_(0, 1)
    return (v.unsqueeze(1) - chroma.unsqueeze(1) * weight).clamp_(0, 1)


def color_jitter(x: Tensor, p: PhotometricParams) -> Tensor:
    """torchvision ColorJitter per sample: rows with ``p.jitter`` get the four ops in ``p.order``.

    Rows are grouped by their order (24 permutations), so each group is gathered and written back
    once and runs its four operations in sequence. Modifies ``x`` in place and returns it.
    """
    ops = (
        (_brightness, p.brightness),
        (_contrast, p.contrast),
        (_saturation, p.saturation),
        (_hue, p.hue),
    )
    code = (p.order * torch.tensor([1, 4, 16, 64], device=p.order.device)).sum(dim=1)
    code = torch.where(p.jitter, code, torch.full_like(code, -1))
    for value in torch.unique(code).tolist():
        if value < 0:
            continue
        rows = torch.nonzero(code == value).squeeze(1)
        y = x[rows]
        for position in range(4):
            op, factor = ops[(value >> (2 * position)) & 3]
            y = op(y, factor[rows])
        x[rows] = y
    return x


def gaussian_blur(x: Tensor, sigma: Tensor, max_sigma: float) -> Tensor:
    """Blur each image with its own sigma (pixels): a separable kernel of radius ceil(3 max_sigma)."""
    n, C, H, W = x.shape
    radius = max(1, math.ceil(3 * max_sigma))
    radius = min(radius, H - 1, W - 1)  # reflect padding needs a pad smaller than the side
    taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-(taps[None] ** 2) / (2 * sigma.to(x.dtype)[:, None] ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(C, dim=0)  # (n*C, k)
    k = kernel.shape[1]
    y = x.reshape(1, n * C, H, W)
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="reflect"), kernel.view(n * C, 1, 1, k), groups=n * C)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="reflect"), kernel.view(n * C, 1, k, 1), groups=n * C)
    return y.view(n, C, H, W)


def apply_photometric(x: Tensor, p: PhotometricParams, spec: ViewSpec, *, inplace: bool = False) -> Tensor:
    """Colour jitter, grayscale, blur, solarize (MoCo-v2 / BYOL order) on (n, 3, H, W) in [0, 1].

    ``inplace``: overwrite ``x`` (the pipeline's own fresh tensors) instead of copying it first.
    """
    p = PhotometricParams(*(getattr(p, f).to(x.device) for f in PhotometricParams.__dataclass_fields__))
    out = color_jitter(x if inplace else x.clone(), p)
    rows = torch.nonzero(p.gray).squeeze(1)
    if rows.numel():
        out[rows] = grayscale(out[rows]).expand(-1, 3, -1, -1)
    rows = torch.nonzero(p.blur_sigma > 0).squeeze(1)
    if rows.numel():
        out[rows] = gaussian_blur(out[rows], p.blur_sigma[rows], spec.blur_sigma[1])
    rows = torch.nonzero(p.solarize).squeeze(1)
    if rows.numel():
        sel = out[rows]
        out[rows] = torch.where(sel >= 0.5, 1 - sel, sel)
    return out
