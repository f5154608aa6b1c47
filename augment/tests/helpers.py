"""Batches built so that the answer is known."""

from __future__ import annotations

from collections.abc import Callable

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


# fmt: off
_NO_KERNEL = {f"aten::{name}" for name in [
    "alias", "as_strided", "as_strided_", "detach", "empty", "empty_like", "empty_strided", "expand",
    "expand_as", "flatten", "lift_fresh", "narrow", "permute", "reshape", "_reshape_alias", "resize_",
    "result_type", "select", "slice", "split", "squeeze", "t", "transpose", "unbind", "unflatten",
    "unsqueeze", "_unsafe_view", "view", "view_as",
]}
"""Views and allocations: ATen ops that launch no kernel."""
# fmt: on


def count_aten_ops(fn: Callable[[], object]) -> int:
    """Operator calls ``fn()`` makes (profiled on CPU): ATen and torchvision ops called from Python,
    not those they call inside, views and allocations left out. About the kernel launches it
    would make on a GPU (an op's CPU kernel may call others where the GPU runs one kernel)."""
    from torch.profiler import ProfilerActivity, profile

    def is_op(name: str) -> bool:
        return name.startswith(("aten::", "torchvision::"))

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(
        1
        for e in prof.events()
        if is_op(e.name)
        and e.name not in _NO_KERNEL
        and (e.cpu_parent is None or not is_op(e.cpu_parent.name))
    )
