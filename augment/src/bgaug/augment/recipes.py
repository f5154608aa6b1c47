"""Each method's views (paper appendix A) and the paper's background-augmentation defaults.

MoCo-v2: RandomResizedCrop(0.2, 1), ColorJitter(0.4, 0.4, 0.4, 0.1) p=0.8, grayscale p=0.2, blur
sigma in [0.1, 2] p=0.5, flip. SimCLR: the same with jitter strength 0.8 (0.8, 0.8, 0.8, 0.2).
BYOL: RandomResizedCrop(0.08, 1), ColorJitter(0.4, 0.4, 0.2, 0.1) p=0.8, grayscale p=0.2, blur
p=1.0 / 0.1 and solarize p=0 / 0.2 on its two views. SwAV: 2 global crops at (0.14, 1) and 6 local
crops at (0.05, 0.14), jitter strength 0.8, grayscale 0.2, blur p=0.5. RotNet: one crop + flip,
rotated by k x 90 degrees. Supervised: RandomResizedCrop(0.08, 1) + flip.
Blur sigma is the papers' [0.1, 2] pixels at 224 px views, scaled with the view size
(``paper_blur_sigma``): the same blur relative to the image at any resolution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from bgaug.augment.config import ViewSpec
from bgaug.core.vocabulary import METHOD_NAMES, method_traits

MOCO_JITTER = (0.4, 0.4, 0.4, 0.1)
SIMCLR_JITTER = (0.8, 0.8, 0.8, 0.2)
BYOL_JITTER = (0.4, 0.4, 0.2, 0.1)

# (p_pos, fg_min, warmup_epochs) per (method, bg_aug); p_neg = p_pos for bg_swaps (paper, DESIGN.md).
PAPER_DEFAULTS: dict[tuple[str, str], tuple[float, float, int]] = {
    ("moco_v2", "bg_rm"): (0.2, 0.1, 0),
    ("moco_v2", "bg_random"): (0.2, 0.1, 0),
    ("moco_v2", "bg_swaps"): (0.2, 0.1, 0),
    ("simclr", "bg_rm"): (0.2, 0.1, 0),
    ("simclr", "bg_random"): (0.2, 0.1, 0),
    ("simclr", "bg_swaps"): (0.2, 0.1, 0),
    ("byol", "bg_rm"): (0.15, 0.05, 0),
    ("byol", "bg_random"): (0.05, 0.05, 0),
    ("swav", "bg_rm"): (0.25, 0.15, 10),
    ("swav", "bg_random"): (0.2, 0.15, 10),
}
GENERIC_DEFAULT = (0.2, 0.1, 0)
"""For pairs the paper does not tune (RotNet, supervised): MoCo-v2's values."""


PAPER_VIEW_SIZE = 224
PAPER_BLUR_SIGMA = (0.1, 2.0)
"""Gaussian-blur sigma range of MoCo-v2 / BYOL / SimCLR / SwAV, in pixels of a 224 px view."""


def paper_blur_sigma(view_size: int) -> tuple[float, float]:
    """The papers' blur sigma range scaled to a ``view_size`` px view (pixels of that view).

    A sigma in pixels blurs a small view far more, relative to its content, than a 224 px one: at
    32 px the unscaled [0.1, 2] blurs 7x more (and the CIFAR recipes of SimCLR / solo-learn turn blur
    off); scaled, a 32 px view gets [0.014, 0.29] px, a near no-op, as the papers' blur is at 224 px.
    """
    factor = view_size / PAPER_VIEW_SIZE
    return PAPER_BLUR_SIGMA[0] * factor, PAPER_BLUR_SIGMA[1] * factor


def default_local_size(image_size: int) -> int:
    """SwAV's 96 px local crops at 224 px, scaled to other global sizes."""
    return max(8, round(image_size * 96 / 224))


@dataclass(frozen=True)
class ViewGeometry:
    """What a caller may change about a method's views (``build_pipeline``'s view options)."""

    image_size: int
    local_size: int | None = None
    n_local: int = 6
    scale: tuple[float, float] | None = None
    local_scale: tuple[float, float] = (0.05, 0.14)


def _two_views(jitter: tuple[float, float, float, float]) -> Callable[[ViewGeometry], list[ViewSpec]]:
    """MoCo-v2 / SimCLR: two identical views, crops of 20-100 % of the image."""

    def views(g: ViewGeometry) -> list[ViewSpec]:
        sigma = paper_blur_sigma(g.image_size)
        view = ViewSpec(size=g.image_size, scale=g.scale or (0.2, 1.0), jitter=jitter, blur_sigma=sigma)
        return [view, view]

    return views


def _byol_views(g: ViewGeometry) -> list[ViewSpec]:
    sigma = paper_blur_sigma(g.image_size)
    base = ViewSpec(size=g.image_size, scale=g.scale or (0.08, 1.0), jitter=BYOL_JITTER, blur_sigma=sigma)
    return [replace(base, blur_p=1.0, solarize_p=0.0), replace(base, blur_p=0.1, solarize_p=0.2)]


def _swav_views(g: ViewGeometry) -> list[ViewSpec]:
    sigma = paper_blur_sigma(g.image_size)
    glob = ViewSpec(size=g.image_size, scale=g.scale or (0.14, 1.0), jitter=SIMCLR_JITTER, blur_sigma=sigma)
    small = g.local_size or default_local_size(g.image_size)
    local = replace(
        glob, size=small, scale=g.local_scale, is_global=False, blur_sigma=paper_blur_sigma(small)
    )
    return [glob, glob] + [local] * g.n_local


def _crop_and_flip(default_scale: tuple[float, float]) -> Callable[[ViewGeometry], list[ViewSpec]]:
    """RotNet / supervised: one crop and a flip, no colour changes."""

    def views(g: ViewGeometry) -> list[ViewSpec]:
        return [
            ViewSpec(size=g.image_size, scale=g.scale or default_scale, jitter_p=0.0, gray_p=0.0, blur_p=0.0)
        ]

    return views


VIEW_RECIPES: dict[str, Callable[[ViewGeometry], list[ViewSpec]]] = {
    "moco_v2": _two_views(MOCO_JITTER),
    "byol": _byol_views,
    "swav": _swav_views,
    "rotnet": _crop_and_flip((0.2, 1.0)),
    "supervised": _crop_and_flip((0.08, 1.0)),
    "simclr": _two_views(SIMCLR_JITTER),
}
"""One view recipe per method of core's vocabulary (the module docstring gives their sources)."""
if set(VIEW_RECIPES) != set(METHOD_NAMES):
    raise ImportError(
        f"augment has views for {sorted(VIEW_RECIPES)}; core's vocabulary: {sorted(METHOD_NAMES)}"
    )


def method_views(
    method: str,
    image_size: int,
    *,
    local_size: int | None = None,
    n_local: int = 6,
    scale: tuple[float, float] | None = None,
    local_scale: tuple[float, float] = (0.05, 0.14),
) -> list[ViewSpec]:
    """The ``ViewSpec``s of ``method``; ``scale`` overrides the global views' crop scale."""
    method_traits(method)  # an unknown name: ValueError listing the known ones
    return VIEW_RECIPES[method](ViewGeometry(image_size, local_size, n_local, scale, local_scale))
