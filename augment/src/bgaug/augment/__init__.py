"""bgaug.augment: BG_RM, BG_Random and BG_Swaps, and batched per-method view pipelines.

``build_pipeline(method, bg_aug, image_size=...)`` returns a ``ViewPipeline``; call it on a core
``MaskedImages`` batch with a ``torch.Generator`` to get a ``ViewBatch``. See README.md.
"""

from __future__ import annotations

from typing import Any

from bgaug.augment.batch import stack_masked_images
from bgaug.augment.config import BackgroundConfig, MaskDistortion, ViewSpec
from bgaug.augment.pipeline import ViewPipeline
from bgaug.augment.recipes import GENERIC_DEFAULT, PAPER_DEFAULTS, method_views
from bgaug.core.config import check_choice
from bgaug.core.errors import UsageError
from bgaug.core.vocabulary import BG_AUGS, METHODS_WITH_NEGATIVES, method_traits

VIEW_OPTIONS = ("local_size", "n_local", "scale", "local_scale")


def build_pipeline(method: str, bg_aug: str = "none", *, image_size: int, **options: Any) -> ViewPipeline:
    """The view pipeline of ``method`` with background augmentation ``bg_aug``.

    Options: view geometry — ``local_size``, ``n_local`` (SwAV), ``scale``, ``local_scale``; any
    ``BackgroundConfig`` field (``p_pos``, ``p_neg``, ``fg_min``, ``warmup_epochs``, ``order``,
    ``min_foreground``, ``negative_match``, ``n_matched``, ``coupled``, ``missing_background``,
    ``distortion``). Unset probabilities, FG_min and warm-up take the paper's values for the
    method (``PAPER_DEFAULTS``); with ``bg_aug="none"`` FG_min defaults to 0 (plain crops).
    """
    traits = method_traits(method)
    check_choice("bg_aug", bg_aug, BG_AUGS)
    if bg_aug not in traits.bg_augs:
        raise UsageError(
            f"bg_swaps needs a method with negatives ({', '.join(METHODS_WITH_NEGATIVES)}), got {method!r}"
        )
    view_options = {k: options.pop(k) for k in VIEW_OPTIONS if k in options}
    known = set(BackgroundConfig.__dataclass_fields__) - {"kind"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise UsageError(f"unknown option(s) {', '.join(unknown)} for build_pipeline")
    if bg_aug != "none":
        p, fg_min, warmup = PAPER_DEFAULTS.get((method, bg_aug), GENERIC_DEFAULT)
        options.setdefault("p_pos", p)
        if bg_aug == "bg_swaps":
            options.setdefault("p_neg", p)
        options.setdefault("fg_min", fg_min)
        options.setdefault("warmup_epochs", warmup)
    background = BackgroundConfig(kind=bg_aug, **options)
    views = method_views(method, image_size, **view_options)
    return ViewPipeline(
        method,
        views,
        background,
        rotations=traits.rotations,
        keep_labels=traits.labels,
    )


__all__ = [
    "BG_AUGS",
    "BackgroundConfig",
    "MaskDistortion",
    "ViewPipeline",
    "ViewSpec",
    "build_pipeline",
    "stack_masked_images",
]
