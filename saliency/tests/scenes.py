"""Small drawn test scenes: a coloured ellipse on a textured background of another colour."""

from __future__ import annotations

import numpy as np


def ellipse_scene(
    seed: int, height: int = 64, width: int = 64, *, noise: float = 12.0
) -> tuple[np.ndarray, np.ndarray]:
    """(image uint8 (H, W, 3), mask bool (H, W)) with the object placed near but off the centre."""
    rng = np.random.default_rng(seed)
    bg_colour = rng.uniform(40, 140, 3)
    fg_colour = (bg_colour + rng.choice([-1, 1], 3) * rng.uniform(60, 110, 3)).clip(0, 255)
    img = rng.normal(0, noise, (height, width, 3)) + bg_colour
    yy, xx = np.mgrid[0:height, 0:width]
    cy, cx = height * rng.uniform(0.35, 0.65), width * rng.uniform(0.35, 0.65)
    ry, rx = height * rng.uniform(0.15, 0.25), width * rng.uniform(0.15, 0.25)
    mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
    img[mask] = rng.normal(0, noise, (int(mask.sum()), 3)) + fg_colour
    return img.clip(0, 255).astype(np.uint8), mask
