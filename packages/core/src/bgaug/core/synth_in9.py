"""The ImageNet-9 variants (Xiao et al. 2021) of one image, exact because the mask is ground truth.

Only-FG: the foreground on black. Only-BG-B: the foreground's bounding box black. Only-BG-T: the
bounding box filled by the tiled background (``bgaug.core.tiling``). No-FG: the foreground cut out
black. Mixed-Same / Mixed-Rand / Mixed-Next: the foreground pasted on the Only-BG-T image of another
image of the same class / of a random class / of class (y + 1) mod K.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bgaug.core.interfaces import IN9_VARIANTS
from bgaug.core.seeding import numpy_generator
from bgaug.core.tiling import foreground_bbox, tiled_background

VARIANTS = IN9_VARIANTS
MIXED: tuple[str, ...] = ("mixed_same", "mixed_rand", "mixed_next")


@dataclass(frozen=True)
class Source:
    """Which val image (class, index) gives a mixed variant its background."""

    label: int
    index: int


def mixed_sources(seed: int, label: int, index: int, classes: int, per_class: int) -> dict[str, Source]:
    """Background sources of val image (``label``, ``index``) for the three mixed variants.

    Mixed-Same draws another image of the same class; Mixed-Rand a class uniformly from all K (an
    image other than this one); Mixed-Next any image of class (label + 1) mod K.
    """
    if per_class < 2:
        raise ValueError(f"val_per_class must be >= 2 for Mixed-Same, got {per_class}")
    rng = numpy_generator(seed, "in9-sources", label, index)
    same = int(rng.integers(0, per_class - 1))
    same += same >= index
    rand_label = int(rng.integers(0, classes))
    if rand_label == label:
        rand_index = int(rng.integers(0, per_class - 1))
        rand_index += rand_index >= index
    else:
        rand_index = int(rng.integers(0, per_class))
    next_index = int(rng.integers(0, per_class))
    return {
        "mixed_same": Source(label, same),
        "mixed_rand": Source(rand_label, rand_index),
        "mixed_next": Source((label + 1) % classes, next_index),
    }


def only_bg_t(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    background = tiled_background(image, mask)
    if background is None:  # the generator keeps a margin around every object, so this is a bug
        raise RuntimeError("synthetic image without a tiled background (empty or full mask)")
    return background


def variants(
    image: np.ndarray, mask: np.ndarray, mixed_backgrounds: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """All eight variants of ``image``; ``mixed_backgrounds`` maps each mixed variant to the Only-BG-T
    image of its source."""
    fg = mask[:, :, None]
    bbox = foreground_bbox(mask)
    if bbox is None:
        raise RuntimeError("synthetic image with an empty mask")
    xmin, ymin, xmax, ymax = bbox
    only_bg_b = image.copy()
    only_bg_b[ymin:ymax, xmin:xmax] = 0
    out = {
        "original": image,
        "only_fg": np.where(fg, image, 0).astype(np.uint8),
        "only_bg_b": only_bg_b,
        "only_bg_t": only_bg_t(image, mask),
        "no_fg": np.where(fg, 0, image).astype(np.uint8),
    }
    for name in MIXED:
        out[name] = np.where(fg, image, mixed_backgrounds[name]).astype(np.uint8)
    return out
