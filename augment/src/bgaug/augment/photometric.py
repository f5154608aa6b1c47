"""Per-sample colour jitter, grayscale, Gaussian blur and solarize on batched tensors.

The operations follow torchvision's definitions (``ColorJitter`` with a random order of its four
operations per sample, ITU-R 601-2 grayscale, solarize at 0.5), with parameters drawn per sample
from the ``torch.Generator`` passed in. torchvision's functional ops take one factor per call and
kornia's augmentation modules draw from the global RNG, so the factors are drawn here.

Speed (``apply_photometric``): the work is memory-bound, so it is arranged to touch each pixel few
times and, on CPU, while it is in cache. Rows are sorted once by (blur, grayscale, hue position) (the
batched path: hue position first), so every row subset an operation needs is a few contiguous slices
(views, no gathers); brightness, contrast and saturation are one per-sample affine update
``a x + c gray(x) + d`` per jitter position (identity for rows whose op there is hue); hue runs in
place on its slice with no modulo per channel; blur is separable with per-sample taps. On CPU the
sorted rows go through in chunks of about ``CPU_CHUNK_ELEMENTS`` values (a few 224 px images) so
intermediates stay in cache, blur is shift-and-add and solarize goes run by run. Off the CPU
(``batched``, the default there) the whole batch is one chunk and kernel launches cost more than
passes over memory: blur is a depthwise convolution (5 launches instead of ~30) and solarize one
masked pass (not one per run of rows, which grow with the batch). Both paths give the same results
(to float rounding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from bgaug.augment.config import ViewSpec
from bgaug.augment.crops import device_constant
from bgaug.core.crop_params import uniform
from bgaug.core.interfaces import IMAGENET_MEAN, IMAGENET_STD

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


CPU_CHUNK_ELEMENTS = 1 << 19
"""Values per chunk on CPU (2 MiB of float32): fits the per-core cache, amortises op overhead."""

_BRIGHTNESS, _CONTRAST, _SATURATION, _HUE = range(4)
_LOOP_ROWS = 8
"""Chunks of at most this many rows are gathered and scattered by per-row copies."""


def grayscale(x: Tensor) -> Tensor:
    """(n, 1, H, W) luma of RGB images, torchvision's weights."""
    # Weighted channel sum, written out: a 1x1 conv2d costs 100x more on CPU at small sizes.
    r, g, b = x.unbind(1)
    out = torch.mul(r, GRAY_WEIGHTS[0])
    out.add_(g, alpha=GRAY_WEIGHTS[1]).add_(b, alpha=GRAY_WEIGHTS[2])
    return out.unsqueeze(1)


def _rows(f: Tensor) -> Tensor:
    return f.view(-1, 1, 1, 1)


def _blend(x: Tensor, other: Tensor, factor: Tensor) -> Tensor:
    """``factor * x + (1 - factor) * other``, clamped (torchvision's _blend), as one lerp."""
    return torch.lerp(other.expand_as(x), x, _rows(factor).to(x.dtype)).clamp_(0, 1)


def _brightness(x: Tensor, f: Tensor) -> Tensor:
    return (x * _rows(f)).clamp_(0, 1)


def _contrast(x: Tensor, f: Tensor) -> Tensor:
    return _blend(x, grayscale(x).mean(dim=(1, 2, 3), keepdim=True), f)


def _saturation(x: Tensor, f: Tensor) -> Tensor:
    return _blend(x, grayscale(x), f)


def _hue(x: Tensor, f: Tensor) -> Tensor:
    """Rotate the HSV hue by ``f`` turns, keeping value and saturation (torchvision's adjust_hue)."""
    return _hue_(x.clone(), f)


def _hue_(x: Tensor, f: Tensor) -> Tensor:
    """In-place ``_hue`` on a contiguous (n, 3, H, W) tensor.

    With hue h in sextants [0, 6) and chroma C = max - min, channel c of the result is
    ``min + C * clamp(|3 - |h + o_c|| - 1, 0, 1)``, o = (0, -2, -4) for (r, g, b): torchvision's
    HSV -> RGB sector table as one triangle wave (exact for h + o_c in [-6, 6], so no modulo per
    channel). Branches are float 0/1 masks and lerps: on CPU ``torch.where`` on data-dependent
    masks ran 10-20x slower than plain arithmetic.
    """
    r, g, b = x.unbind(1)
    v = torch.maximum(r, g)
    torch.maximum(v, b, out=v)
    low = torch.minimum(r, g)
    torch.minimum(low, b, out=low)
    chroma = v - low
    is_r = torch.eq(v, r, out=torch.empty_like(v))  # float 0/1 (a bool result is slower)
    is_g = torch.eq(v, g, out=torch.empty_like(v))
    # h * C: max = r -> g - b; max = g -> b - r + 2C; else r - g + 4C (r wins ties, then g).
    hc = torch.sub(r, g).add_(chroma, alpha=4)
    hc.lerp_(torch.sub(b, r).add_(chroma, alpha=2), is_g)  # lerp with weight 0 or 1 is exact
    hc.lerp_(torch.sub(g, b), is_r)
    h = hc.div_(chroma.clamp_min(torch.finfo(x.dtype).tiny))  # gray pixels: 0 / tiny = 0
    h.add_(_rows(6 * f.to(x.dtype)).squeeze(1))
    h.sub_(h.div(6).floor_().mul_(6))  # into [0, 6)
    offsets = device_constant((0.0, -2.0, -4.0), x.dtype, x.device).view(1, 3, 1, 1)
    torch.add(h.unsqueeze(1), offsets, out=x)
    x.abs_().sub_(3).abs_().sub_(1).clamp_(0, 1)
    return torch.addcmul(low.unsqueeze(1), chroma.unsqueeze(1), x, out=x)


def _runs(flags: list[bool], start: int, stop: int) -> list[tuple[int, int]]:
    """Maximal [a, b) ranges of True in ``flags[start:stop]``, relative to ``start``."""
    runs: list[tuple[int, int]] = []
    i = start
    while i < stop:
        if flags[i]:
            j = i
            while j < stop and flags[j]:
                j += 1
            runs.append((i - start, j - start))
            i = j
        else:
            i += 1
    return runs


def _span(flags: list[bool], start: int, stop: int) -> tuple[int, int] | None:
    """[a, b) from the first to past the last True in ``flags[start:stop]``, relative to ``start``."""
    part = flags[start:stop]
    if not any(part):
        return None
    return part.index(True), len(part) - part[::-1].index(True)


def _reflect_pad_last(x: Tensor, radius: int) -> Tensor:
    """Contiguous copy of ``x`` (any strides) reflect-padded by ``radius`` on the last dimension;
    written out because ``F.pad(mode="reflect")`` on the last dimension ran 10x slower on CPU."""
    n = x.shape[-1]
    out = x.new_empty((*x.shape[:-1], n + 2 * radius))
    out[..., radius : radius + n] = x
    out[..., :radius] = x[..., 1 : radius + 1].flip(-1)
    out[..., radius + n :] = x[..., n - radius - 1 : n - 1].flip(-1)
    return out


def _blur_(x: Tensor, kernel: Tensor, *, batched: bool = False) -> Tensor:
    """In-place separable blur of contiguous (n, C, H, W) with per-row taps ``kernel`` (n, 2r + 1),
    reflect padding. CPU (``batched=False``): shift-and-add, one multiply-add pass per tap and axis;
    measured on CPU ~4x faster than depthwise conv1d with per-row kernels and ~10x faster than a
    grouped conv2d. ``batched``: that grouped convolution (``_blur_conv_``), for GPUs, where the
    shift-and-add's 2 x (2r + 1) launches over the whole tensor (26 for sigma up to 2) cost more.
    """
    if batched:
        return _blur_conv_(x, kernel)
    H, W = x.shape[-2:]
    taps = [_rows(t) for t in kernel.to(x.dtype).unbind(1)]
    padded = _reflect_pad_last(x, len(taps) // 2)
    torch.mul(padded[..., 0:W], taps[0], out=x)
    for t in range(1, len(taps)):
        x.addcmul_(padded[..., t : t + W], taps[t])
    padded = F.pad(x, (0, 0, len(taps) // 2, len(taps) // 2), mode="reflect")  # rows: fast as is
    torch.mul(padded[..., 0:H, :], taps[0], out=x)
    for t in range(1, len(taps)):
        x.addcmul_(padded[..., t : t + H, :], taps[t])
    return x


def _blur_conv_(x: Tensor, kernel: Tensor) -> Tensor:
    """``_blur_`` as a depthwise separable convolution: the n images' C channels become n * C groups
    of one (n, C, H, W) -> (1, n C, H, W), each convolved with its image's taps, first down the
    columns ((k, 1) weights) then along the rows ((1, k) weights). Reflect-padding both axes once
    before the first pass is the same as padding each before its own pass: the column pass maps the
    reflected columns to the reflection of its output. Four launches whatever n and k are (pad, two
    convolutions, the copy back) plus a small one for the weights. cuDNN convolutions follow
    PyTorch's TF32 setting (on by default for them): TF32 rounding moves a blurred pixel by ~1e-3 at
    most, under one uint8 level (torchvision's tensor blur, a conv2d too, does the same).
    """
    n, C, H, W = x.shape
    k = kernel.shape[1]
    r = k // 2
    groups = n * C
    taps = kernel.to(x.dtype)[:, None].expand(n, C, k).reshape(groups, k)  # each image's taps per channel
    padded = F.pad(x.reshape(1, groups, H, W), (r, r, r, r), mode="reflect")
    y = F.conv2d(padded, taps.view(groups, 1, k, 1), groups=groups)  # (1, n C, H, W + 2r)
    y = F.conv2d(y, taps.view(groups, 1, 1, k), groups=groups)  # (1, n C, H, W)
    return x.copy_(y.view(n, C, H, W))


def blur_kernels(sigma: Tensor, max_sigma: float, height: int, width: int) -> Tensor:
    """(n, 2r + 1) normalised Gaussian taps, r = ceil(3 max_sigma) (at most the side - 1)."""
    radius = max(1, math.ceil(3 * max_sigma))
    radius = min(radius, height - 1, width - 1)  # reflect padding needs a pad smaller than the side
    taps = torch.arange(-radius, radius + 1, device=sigma.device, dtype=torch.float32)
    safe = sigma.float().clamp_min(1e-6)[:, None]
    kernel = torch.exp(-(taps[None] ** 2) / (2 * safe**2))
    return kernel / kernel.sum(1, keepdim=True)


def gaussian_blur(x: Tensor, sigma: Tensor, max_sigma: float, *, batched: bool | None = None) -> Tensor:
    """Blur each image with its own sigma (pixels): a separable kernel of radius ceil(3 max_sigma).
    ``batched`` (default: off the CPU) blurs by grouped convolution, else by shift-and-add."""
    H, W = x.shape[-2:]
    if min(H, W) < 2:
        return x.clone()
    if batched is None:
        batched = x.device.type != "cpu"
    return _blur_(x.contiguous().clone(), blur_kernels(sigma, max_sigma, H, W), batched=batched)


@dataclass(frozen=True)
class _Plan:
    """Per-row coefficients of one call, in sorted row order, and the host-side flags."""

    batched: bool  # the whole batch is one chunk: blur by convolution, grayscale and solarize masked

    scale: Tensor  # (n, 4) a: per jitter position
    gray_coef: Tensor  # (n, 4) c
    mean_coef: Tensor  # (n, 4) coefficient of the image's mean luma (contrast)
    hue_turns: Tensor  # (n,)
    kernels: Tensor | None  # (n, k) blur taps
    ops: list[list[int]]  # per row: op at each position, -1 when the row is not jittered
    gray: list[bool]
    blur: list[bool]
    solarize: list[bool]
    gray_rows: Tensor  # (n,) bool: ``gray`` on the device
    solarize_rows: Tensor  # (n,) bool: ``solarize`` on the device


def _plan(
    p: PhotometricParams, order: Tensor, spec: ViewSpec, height: int, width: int, batched: bool
) -> _Plan:
    jit = p.jitter[order]
    ops = torch.where(jit[:, None], p.order[order], torch.full_like(p.order[order], -1))
    one = torch.ones_like(ops, dtype=torch.float32)
    zero = torch.zeros_like(one)

    def per_op(code: int, value: Tensor, default: Tensor) -> Tensor:
        return torch.where(ops == code, value[order].float()[:, None].expand_as(one), default)

    scale = per_op(_BRIGHTNESS, p.brightness, one)
    scale = per_op(_CONTRAST, p.contrast, scale)
    scale = per_op(_SATURATION, p.saturation, scale)
    gray_coef = per_op(_SATURATION, 1 - p.saturation, zero)
    mean_coef = per_op(_CONTRAST, 1 - p.contrast, zero)
    sigma = p.blur_sigma[order]
    blur = sigma > 0
    kernels = None
    if min(height, width) >= 2:
        kernels = blur_kernels(sigma, spec.blur_sigma[1], height, width)
    gray, solarize = p.gray[order], p.solarize[order]
    host = torch.cat([ops, torch.stack([gray, blur, solarize], dim=1).long()], 1)
    rows = host.tolist()  # the one host sync of a call
    return _Plan(
        batched=batched,
        scale=scale,
        gray_coef=gray_coef,
        mean_coef=mean_coef,
        hue_turns=p.hue[order],
        kernels=kernels,
        ops=[r[:4] for r in rows],
        gray=[bool(r[4]) for r in rows],
        blur=[bool(r[5]) and kernels is not None for r in rows],
        solarize=[bool(r[6]) for r in rows],
        gray_rows=gray,
        solarize_rows=solarize,
    )


def _affine_(y: Tensor, a: Tensor, c: Tensor, d: Tensor, need_gray: bool, need_mean: bool) -> None:
    """``y = clamp(a y + c gray(y) + d mean(gray(y)), 0, 1)`` per row, in place: brightness
    (a = f), contrast (a = f, d = 1 - f), saturation (a = f, c = 1 - f) and identity (a = 1) at once.
    """
    bias = torch.zeros_like(a)
    if need_mean:
        channel_means = y.mean(dim=(2, 3))
        weights = device_constant(GRAY_WEIGHTS, y.dtype, y.device)
        bias = d * (channel_means @ weights)
    if need_gray:
        shift = grayscale(y).mul_(_rows(c)).add_(_rows(bias))
        torch.addcmul(shift, y, _rows(a), out=y)
    else:
        torch.addcmul(_rows(bias), y, _rows(a), out=y)
    y.clamp_(0, 1)


def _chunk_(y: Tensor, plan: _Plan, lo: int) -> None:
    """All photometric operations, in place, on the sorted rows [lo, lo + len(y))."""
    hi = lo + y.shape[0]
    ops = plan.ops[lo:hi]
    for position in range(4):
        codes = [row[position] for row in ops]
        affine = [c in (_BRIGHTNESS, _CONTRAST, _SATURATION) for c in codes]
        if any(affine):
            first = affine.index(True)
            last = len(affine) - affine[::-1].index(True)
            sel = slice(lo + first, lo + last)
            _affine_(
                y[first:last],
                plan.scale[sel, position],
                plan.gray_coef[sel, position],
                plan.mean_coef[sel, position],
                need_gray=_SATURATION in codes,
                need_mean=_CONTRAST in codes,
            )
        for a, b in _runs([c == _HUE for c in codes], 0, len(codes)):
            _hue_(y[a:b], plan.hue_turns[lo + a : lo + b])
    if plan.batched:  # one masked pass over the span of the rows that need it (not sorted by)
        span = _span(plan.gray, lo, hi)
        if span is not None:
            part = y[span[0] : span[1]]
            rows = _rows(plan.gray_rows[lo + span[0] : lo + span[1]])
            torch.where(rows, grayscale(part), part, out=part)
    else:
        for a, b in _runs(plan.gray, lo, hi):
            y[a:b] = grayscale(y[a:b])
    if plan.kernels is not None:
        for a, b in _runs(plan.blur, lo, hi):
            _blur_(y[a:b], plan.kernels[lo + a : lo + b], batched=plan.batched)
    if plan.batched:  # solarize: as grayscale (its runs, ~n p (1 - p) of them, grow with n)
        span = _span(plan.solarize, lo, hi)
        if span is not None:
            part = y[span[0] : span[1]]
            rows = _rows(plan.solarize_rows[lo + span[0] : lo + span[1]])
            torch.where(rows & (part >= 0.5), 1 - part, part, out=part)
        return
    for a, b in _runs(plan.solarize, lo, hi):
        part = y[a:b]
        torch.where(part >= 0.5, 1 - part, part, out=part)


def apply_photometric(
    x: Tensor,
    p: PhotometricParams,
    spec: ViewSpec,
    *,
    inplace: bool = False,
    normalize: bool = False,
    batched: bool | None = None,
) -> Tensor:
    """Colour jitter, grayscale, blur, solarize (MoCo-v2 / BYOL order) on (n, 3, H, W).

    ``x``: float in [0, 1], or uint8 (read as /255; the result is then a new float32 tensor).
    ``inplace``: a float ``x`` may be overwritten (the pipeline's own fresh tensors).
    ``normalize``: finish with ImageNet mean/std normalisation (while each chunk is in cache).
    ``batched``: the whole batch as one chunk, blur by convolution, solarize in one pass (default:
    on every device but the CPU, see the module docstring); else the CPU's cache-sized chunks.
    """
    n, _, H, W = x.shape
    dev = x.device
    out = (
        x
        if inplace and x.is_floating_point()
        else torch.empty(
            (n, 3, H, W), dtype=torch.float32 if not x.is_floating_point() else x.dtype, device=dev
        )
    )
    if n == 0:
        return out
    p = PhotometricParams(*(getattr(p, f).to(dev) for f in PhotometricParams.__dataclass_fields__))
    if batched is None:
        batched = dev.type != "cpu"
    # Sort rows so that each operation's rows form few runs. CPU: blurred last, grayscale last within
    # that, then by the position of hue (4: none). Batched, the whole batch is one chunk and a hue
    # run costs ~30 launches: hue position first, so hue has one run per position (not up to 4),
    # then blur (up to 5 runs of 5 launches); grayscale and solarize take one masked pass there.
    hue_at = torch.where(p.jitter, (p.order == _HUE).long().argmax(dim=1), 4)
    blurred = (p.blur_sigma > 0).long()
    key = hue_at * 2 + blurred if batched else blurred * 10 + p.gray.long() * 5 + hue_at
    order = torch.argsort(key, stable=True)
    plan = _plan(p, order, spec, H, W, batched)
    step = n if batched else max(1, CPU_CHUNK_ELEMENTS // (3 * H * W))
    buffer = torch.empty((min(step, n), 3, H, W), dtype=out.dtype, device=dev)
    host_order = order.tolist() if step <= _LOOP_ROWS else []
    std = device_constant(IMAGENET_STD, out.dtype, dev).view(1, 3, 1, 1)
    shift = -device_constant(IMAGENET_MEAN, out.dtype, dev).view(1, 3, 1, 1) / std
    for lo in range(0, n, step):
        rows = order[lo : lo + step]
        y = buffer[: rows.numel()]
        # Gather, convert to float and to contiguous NCHW in one pass; row by row for a few rows
        # (index_select / index_copy_ cost ~3x more than plain copies of whole images on CPU).
        if host_order:
            for i, r in enumerate(host_order[lo : lo + step]):
                y[i].copy_(x[r])
        else:
            y.copy_(x.index_select(0, rows))
        if not x.is_floating_point():
            y.div_(255)
        _chunk_(y, plan, lo)
        if normalize:
            torch.addcdiv(shift, y, std, out=y)
        if host_order:
            for i, r in enumerate(host_order[lo : lo + step]):
                out[r].copy_(y[i])
        else:
            out.index_copy_(0, rows, y)
    return out
