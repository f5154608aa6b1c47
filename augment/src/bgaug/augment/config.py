"""Configuration dataclasses of the view pipelines; each validates itself and names a bad field.

``ViewSpec`` describes one view of one method (crop, colour, blur, solarize); ``BackgroundConfig``
describes the background augmentation (paper section 2.2, appendix A and C); ``MaskDistortion``
the mask-quality ablations of appendix B.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bgaug.core.config import check_choice, check_interval, check_positive, check_probability, check_range
from bgaug.core.errors import UsageError
from bgaug.core.vocabulary import BG_AUGS

ORDERS = ("after", "before")
NEGATIVE_MATCHES = ("query", "key")
MISSING_BACKGROUND = ("error", "gray")


def _check_int(name: str, value: int, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UsageError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


@dataclass(frozen=True)
class ViewSpec:
    """One view: RandomResizedCrop to ``size`` x ``size`` at ``scale``, flip, colour, blur, solarize.

    ``jitter`` is (brightness, contrast, saturation, hue) as in torchvision's ``ColorJitter``, applied
    with probability ``jitter_p`` in a random order per sample; ``blur_sigma`` is in pixels of the view
    (``recipes.method_views`` scales the papers' 224 px range to the view size).
    ``is_global``: background augmentation touches only global views (multi-crop).
    """

    size: int
    scale: tuple[float, float] = (0.2, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1)
    jitter_p: float = 0.8
    gray_p: float = 0.2
    blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize_p: float = 0.0
    is_global: bool = True

    def __post_init__(self) -> None:
        _check_int("size", self.size, 1)
        check_interval("scale", self.scale, 1e-6, 1.0)
        check_interval("ratio", self.ratio, 1e-3, 1e3)
        if len(self.jitter) != 4:
            raise UsageError(f"jitter must be (brightness, contrast, saturation, hue), got {self.jitter!r}")
        for name, value in zip(("brightness", "contrast", "saturation"), self.jitter[:3], strict=True):
            check_positive(f"jitter {name}", value, allow_zero=True)
        check_range("jitter hue", self.jitter[3], 0.0, 0.5)
        for name in ("flip_p", "jitter_p", "gray_p", "blur_p", "solarize_p"):
            check_probability(name, getattr(self, name))
        check_interval("blur_sigma", self.blur_sigma, 1e-6, 1e3)


@dataclass(frozen=True)
class MaskDistortion:
    """Mask-quality ablations (paper appendix B), applied to a mask every time it is used.

    ``rotate_deg``: rotation drawn from U[-rotate_deg, rotate_deg]; ``shear_deg``: x and y shear drawn
    independently from U[-shear_deg, shear_deg]; ``translate``: shift drawn from U[-t, t] times the
    foreground's width (x) and height (y); ``flip``: horizontal flip of the mask with p = 0.5;
    ``bbox``: replace the mask by its bounding box. Rotation and shear act about the centre of the
    foreground's box so the distorted mask stays on the object.
    """

    rotate_deg: float = 0.0
    shear_deg: float = 0.0
    translate: float = 0.0
    flip: bool = False
    bbox: bool = False

    def __post_init__(self) -> None:
        check_range("rotate_deg", self.rotate_deg, 0.0, 180.0)
        check_range("shear_deg", self.shear_deg, 0.0, 89.0)
        check_range("translate", self.translate, 0.0, 10.0)

    @property
    def active(self) -> bool:
        return bool(self.rotate_deg or self.shear_deg or self.translate or self.flip or self.bbox)


@dataclass(frozen=True)
class BackgroundConfig:
    """Background augmentation: what, how often, when and on which views.

    ``kind``: none | bg_rm | bg_random | bg_swaps. ``p_pos``: probability, drawn independently for the
    query and the positive key (each global view), of replacing the background. ``p_neg`` (bg_swaps):
    probability that a query row gets ``n_matched`` matched negatives ``m * r + (1 - m) * x``, ``x`` the
    query (``negative_match="query"``) or the positive key (``"key"``) and ``r`` another image's key
    view. ``coupled``: one uniform draw per row decides both the positive key's swap (``< p_pos``) and
    the matched negatives (``< p_neg``), so they happen together; otherwise the draws are independent.
    ``order``: ``after`` all other augmentations (paper default) or ``before`` them.
    ``warmup_epochs``: p_pos and p_neg grow linearly, ``p * min(1, epoch / warmup_epochs)``, reaching
    ``p`` at epoch ``warmup_epochs`` (epochs counted from 0).
    ``fg_min``: RandomResizedCrop parameters are re-drawn up to ``fg_min_tries`` times until the crop
    holds at least this fraction of the foreground area, else CenterCrop.
    ``min_foreground``: a view whose mask covers less than this fraction of its pixels (or none) is
    left as is. ``missing_background``: what BG_Random / BG_Swaps do without tiled backgrounds —
    ``error`` (default) or ``gray`` (a BG_RM-style uniform gray fill).
    """

    kind: str = "none"
    p_pos: float = 0.0
    p_neg: float = 0.0
    order: str = "after"
    warmup_epochs: int = 0
    fg_min: float = 0.0
    fg_min_tries: int = 10
    min_foreground: float = 0.0
    negative_match: str = "query"
    n_matched: int = 1
    coupled: bool = False
    missing_background: str = "error"
    distortion: MaskDistortion = field(default_factory=MaskDistortion)

    def __post_init__(self) -> None:
        check_choice("bg_aug", self.kind, BG_AUGS)
        check_probability("p_pos", self.p_pos)
        check_probability("p_neg", self.p_neg)
        check_choice("order", self.order, ORDERS)
        _check_int("warmup_epochs", self.warmup_epochs, 0)
        check_probability("fg_min", self.fg_min)
        _check_int("fg_min_tries", self.fg_min_tries, 1)
        check_probability("min_foreground", self.min_foreground)
        check_choice("negative_match", self.negative_match, NEGATIVE_MATCHES)
        _check_int("n_matched", self.n_matched, 1)
        check_choice("missing_background", self.missing_background, MISSING_BACKGROUND)
        if self.kind != "bg_swaps" and self.p_neg > 0:
            raise UsageError(f"p_neg applies to bg_swaps only, got p_neg={self.p_neg} with {self.kind}")

    def probabilities(self, epoch: int) -> tuple[float, float]:
        """(p_pos, p_neg) at ``epoch`` after the linear warm-up."""
        if self.warmup_epochs == 0:
            return self.p_pos, self.p_neg
        ramp = min(1.0, max(epoch, 0) / self.warmup_epochs)
        return self.p_pos * ramp, self.p_neg * ramp
