"""The typed seams between bgaug packages.

Conventions shared by every package:
- images are float tensors in [0, 1], shape (B, 3, H, W), RGB; normalisation by the ImageNet mean and
  std happens at the very end of a view pipeline (``ViewBatch.views`` are normalised) or inside a
  ``Classifier`` (which takes [0, 1] images, so attacks such as FGSM work in pixel space);
- masks are float tensors (B, 1, H, W) with 1 = foreground, 0 = background;
- tiled backgrounds (DESIGN.md recipe) are images of the same size as their image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor, nn

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
IN9_VARIANTS: tuple[str, ...] = (
    "original",
    "only_fg",
    "only_bg_b",
    "only_bg_t",
    "no_fg",
    "mixed_same",
    "mixed_rand",
    "mixed_next",
)
"""The eight ImageNet-9 variants (Xiao et al. 2021), in the order of their paper's tables."""


def _check_batch(name: str, t: Tensor, channels: int, like: Tensor | None = None) -> None:
    if t.ndim != 4 or t.shape[1] != channels:
        raise ValueError(f"{name} must have shape (B, {channels}, H, W), got {tuple(t.shape)}")
    if like is not None:
        if t.shape[0] != like.shape[0]:
            raise ValueError(f"{name} has batch size {t.shape[0]}, images have {like.shape[0]}")
        if t.shape[-2:] != like.shape[-2:]:
            raise ValueError(
                f"{name} size {tuple(t.shape[-2:])} differs from image size {tuple(like.shape[-2:])}"
            )


@dataclass(frozen=True)
class MaskedImages:
    """A batch of images that travels with its masks and tiled backgrounds.

    Every geometric transform must move ``images``, ``masks`` and ``backgrounds`` identically.
    ``index`` holds dataset indices (to look masks up in a ``MaskBank``), ``labels`` class labels.
    ``has_background`` (B,) bool says which rows have a usable tiled background (an all-foreground
    mask has none); ``None`` means all rows with ``backgrounds`` have one.
    """

    images: Tensor
    masks: Tensor
    backgrounds: Tensor | None = None
    index: Tensor | None = None
    labels: Tensor | None = None
    has_background: Tensor | None = None

    def __post_init__(self) -> None:
        _check_batch("images", self.images, 3)
        _check_batch("masks", self.masks, 1, like=self.images)
        if self.backgrounds is not None:
            _check_batch("backgrounds", self.backgrounds, 3, like=self.images)
        b = self.images.shape[0]
        for name in ("index", "labels", "has_background"):
            value = getattr(self, name)
            if value is not None and tuple(value.shape) != (b,):
                raise ValueError(f"{name} must have shape ({b},), got {tuple(value.shape)}")

    @property
    def batch_size(self) -> int:
        return int(self.images.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> MaskedImages:
        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device, non_blocking=non_blocking)

        return MaskedImages(
            images=self.images.to(device, non_blocking=non_blocking),
            masks=self.masks.to(device, non_blocking=non_blocking),
            backgrounds=move(self.backgrounds),
            index=move(self.index),
            labels=move(self.labels),
            has_background=move(self.has_background),
        )


@dataclass(frozen=True)
class ViewBatch:
    """What an SSL method consumes.

    ``views``: normalised views, global views first (``n_global`` of them), then local crops; all
    views of one resolution share a shape (B, 3, h, w). For two-view methods ``views[0]`` is the query
    and ``views[1]`` the positive key.
    ``matched_negatives`` (M, 3, h, w) with ``matched_rows`` (M,): extra negatives for query rows
    ``matched_rows`` (BG_Swaps). A method with no use for them ignores them.
    ``labels``: class labels of the source images (supervised baseline).
    ``rotations``: (B,) rotation class in {0, 1, 2, 3} (k x 90 degrees) of ``views[0]`` (RotNet).
    ``stats``: counts from the augmentation (e.g. rows skipped for an empty mask), for logging.
    """

    views: tuple[Tensor, ...]
    n_global: int = 2
    matched_negatives: Tensor | None = None
    matched_rows: Tensor | None = None
    labels: Tensor | None = None
    rotations: Tensor | None = None
    stats: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.views:
            raise ValueError("views must hold at least one view")
        if not 1 <= self.n_global <= len(self.views):
            raise ValueError(f"n_global must lie in [1, {len(self.views)}], got {self.n_global}")
        b = self.views[0].shape[0]
        for i, v in enumerate(self.views):
            if v.ndim != 4 or v.shape[1] != 3 or v.shape[0] != b:
                raise ValueError(f"views[{i}] must have shape ({b}, 3, h, w), got {tuple(v.shape)}")
        if (self.matched_negatives is None) != (self.matched_rows is None):
            raise ValueError("matched_negatives and matched_rows must be given together")
        if self.matched_negatives is not None and self.matched_rows is not None:
            m = self.matched_negatives
            if m.ndim != 4 or m.shape[1:] != self.views[0].shape[1:]:
                raise ValueError(
                    f"matched_negatives must have shape (M, {', '.join(map(str, self.views[0].shape[1:]))}),"
                    f" got {tuple(m.shape)}"
                )
            if tuple(self.matched_rows.shape) != (m.shape[0],):
                raise ValueError(
                    f"matched_rows must have shape ({m.shape[0]},), got {tuple(self.matched_rows.shape)}"
                )
        for name in ("labels", "rotations"):
            value = getattr(self, name)
            if value is not None and tuple(value.shape) != (b,):
                raise ValueError(f"{name} must have shape ({b},), got {tuple(value.shape)}")

    @property
    def batch_size(self) -> int:
        return int(self.views[0].shape[0])

    @property
    def global_views(self) -> tuple[Tensor, ...]:
        return self.views[: self.n_global]

    def to(
        self, device: torch.device | str, non_blocking: bool = False, *, channels_last: bool = False
    ) -> ViewBatch:
        """The batch on ``device``; ``channels_last`` lays out the image tensors (views, matched
        negatives) channels-last, as a channels-last model wants its input."""
        layout = torch.channels_last if channels_last else torch.contiguous_format

        def image(t: Tensor) -> Tensor:
            return t.to(device, non_blocking=non_blocking).contiguous(memory_format=layout)

        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device, non_blocking=non_blocking)

        return ViewBatch(
            views=tuple(image(v) for v in self.views),
            n_global=self.n_global,
            matched_negatives=None if self.matched_negatives is None else image(self.matched_negatives),
            matched_rows=move(self.matched_rows),
            labels=move(self.labels),
            rotations=move(self.rotations),
            stats=self.stats,
        )

    @property
    def local_views(self) -> tuple[Tensor, ...]:
        return self.views[self.n_global :]


@dataclass(frozen=True)
class LossOutput:
    """A method's loss and the scalars worth logging next to it.

    A metric computed on the device stays a (detached, 0-d) tensor: reading it with ``float`` would
    wait for the GPU and, under ``torch.compile``, break the graph; the training loop converts what
    it logs.
    """

    loss: Tensor
    metrics: Mapping[str, float | Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainProgress:
    """Where training stands, passed to schedule-dependent hooks (momentum, warm-up, freezing)."""

    step: int
    total_steps: int
    epoch: int
    total_epochs: int

    @property
    def fraction(self) -> float:
        return self.step / max(self.total_steps, 1)


@dataclass(frozen=True)
class MaskRecord:
    """One mask-bank entry, as numpy arrays at the image's own size.

    ``mask``: (H, W) bool, True = foreground. ``background``: (H, W, 3) uint8 tiled background, or
    ``None`` when the image has no background (all-foreground) or no foreground. ``status`` is
    ``"ok"``, ``"no_foreground"`` or ``"no_background"``.
    """

    mask: np.ndarray
    background: np.ndarray | None
    status: str = "ok"


@runtime_checkable
class SaliencyDetector(Protocol):
    """Anything that maps (B, 3, H, W) images in [0, 1] to (B, 1, H, W) saliency maps in [0, 1]."""

    def predict(self, images: Tensor) -> Tensor: ...


@runtime_checkable
class MaskBank(Protocol):
    """Read access to masks and tiled backgrounds by dataset index."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> MaskRecord: ...

    def index_of(self, relative_path: str) -> int:
        """Dataset index of an image given its path relative to the image root."""
        ...

    @property
    def manifest(self) -> Mapping[str, Any]: ...


@runtime_checkable
class ViewAugmentation(Protocol):
    """Turns a batch of masked images into a method's views; all randomness from ``generator``."""

    def __call__(self, batch: MaskedImages, generator: torch.Generator) -> ViewBatch: ...


@runtime_checkable
class SSLMethod(Protocol):
    """A self-supervised (or supervised) method as a few hooks around a backbone.

    Implementations are ``nn.Module`` subclasses; ``backbone`` maps normalised images to
    ``feature_dim``-dimensional features (no classification head).
    """

    backbone: nn.Module
    feature_dim: int

    def loss(self, batch: ViewBatch) -> LossOutput: ...

    def on_step_end(self, progress: TrainProgress) -> None: ...


@dataclass(frozen=True)
class Preprocess:
    """How evaluation images are prepared before a ``Classifier`` sees them.

    Resize the shorter side to ``resize``, centre-crop ``crop`` x ``crop``; then the classifier
    normalises by ``mean`` / ``std`` itself.
    """

    resize: int = 256
    crop: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.crop <= 0 or self.resize < self.crop:
            raise ValueError(f"crop must be > 0 and resize >= crop, got {self.resize}/{self.crop}")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be positive, got {self.std}")


class Classifier(nn.Module):
    """A backbone and a linear head: [0, 1] images in, logits out.

    Normalisation lives inside the model so that pixel-space attacks (FGSM) and corruptions act on
    the image a person would see.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, preprocess: Preprocess | None = None):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.preprocess = preprocess or Preprocess()
        self.register_buffer("mean", torch.tensor(self.preprocess.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(self.preprocess.std).view(1, 3, 1, 1))

    def normalize(self, images: Tensor) -> Tensor:
        mean = self.get_buffer("mean")
        std = self.get_buffer("std")
        return (images - mean.to(images.dtype)) / std.to(images.dtype)

    def features(self, images: Tensor) -> Tensor:
        out: Tensor = self.backbone(self.normalize(images))
        return out.flatten(1)

    def forward(self, images: Tensor) -> Tensor:
        out: Tensor = self.head(self.features(images))
        return out
