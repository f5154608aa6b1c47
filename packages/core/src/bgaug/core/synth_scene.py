"""One image of the synthetic benchmark: an object of its class on a background scene.

Each image draws from its own random streams, derived from (seed, split, class, index), so images
can be made in any order by any worker. The background family, the object and the scene use separate
streams: changing ``--pretrain-bg-corr`` changes which family a background comes from, and nothing
else about the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bgaug.core.seeding import numpy_generator
from bgaug.core.synth_backgrounds import draw_background
from bgaug.core.synth_shapes import draw_foreground

MIN_FOREGROUND_CONTRAST = 0.3
"""Smallest RGB distance between the object's colour and each colour of its background's ramp."""


@dataclass(frozen=True)
class Scene:
    """A generated image (H, W, 3) uint8, its ground-truth mask (H, W) bool and background family."""

    image: np.ndarray
    mask: np.ndarray
    background_family: int


def background_family(seed: int, split: str, label: int, index: int, classes: int, bg_corr: float) -> int:
    """The class's own background family with probability ``bg_corr``, else another one uniformly."""
    rng = numpy_generator(seed, "bg-family", split, label, index)
    if rng.random() < bg_corr:
        return label
    other = int(rng.integers(0, classes - 1))
    return other + 1 if other >= label else other


def _object_colour(dark: np.ndarray, light: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random colour that stands out from both ends of the background's colour ramp."""
    best, best_gap = dark, -1.0
    for _ in range(200):
        colour = rng.uniform(0.0, 1.0, size=3)
        gap = float(min(np.linalg.norm(colour - dark), np.linalg.norm(colour - light)))
        if gap >= MIN_FOREGROUND_CONTRAST:
            return colour
        if gap > best_gap:
            best, best_gap = colour, gap
    return best


def draw_scene(
    seed: int, split: str, label: int, index: int, *, size: int, classes: int, bg_corr: float
) -> Scene:
    """Image ``index`` of class ``label`` in ``split``: deterministic in all of its arguments."""
    family = background_family(seed, split, label, index, classes, bg_corr)
    background, dark, light = draw_background(family, size, numpy_generator(seed, "bg", split, label, index))
    fg_rng = numpy_generator(seed, "fg", split, label, index)
    foreground = draw_foreground(label, size, _object_colour(dark, light, fg_rng), fg_rng)
    rgb = np.where(foreground.mask[:, :, None], foreground.rgb, background)
    image = np.rint(rgb * 255.0).astype(np.uint8)
    return Scene(image=image, mask=foreground.mask, background_family=family)
