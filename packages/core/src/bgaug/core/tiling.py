"""Tiled backgrounds: the ImageNet-9 "Only-BG-T" recipe applied to a mask's bounding box.

Given the foreground box (xmin, ymin, xmax, ymax) of a W x H image, margins L = xmin, R = W - xmax,
T = ymin, B = H - ymax; areaX = max(L, R) * H and areaY = max(T, B) * W. If both are 0 the image has
no background and none is invented. If areaX > areaY the tile is the full-height strip on the wider
side (left if L > R, else right), otherwise the full-width strip on the taller side (above if T > B,
else below). The tile is repeated from (0, 0) over a W x H canvas and only the box's pixels are
replaced by the canvas.
"""

from __future__ import annotations

import numpy as np


def foreground_bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(xmin, ymin, xmax, ymax) of the True pixels, max exclusive; ``None`` for an empty mask."""
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}")
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def background_tile(image: np.ndarray, bbox: tuple[int, int, int, int]) -> np.ndarray | None:
    """The strip of ``image`` outside ``bbox`` that the recipe tiles, or ``None`` if there is none."""
    h, w = image.shape[:2]
    xmin, ymin, xmax, ymax = bbox
    left, right, top, bottom = xmin, w - xmax, ymin, h - ymax
    area_x = max(left, right) * h
    area_y = max(top, bottom) * w
    if area_x == 0 and area_y == 0:
        return None
    if area_x > area_y:
        return image[:, :xmin] if left > right else image[:, xmax:]
    return image[:ymin, :] if top > bottom else image[ymax:, :]


def tiled_background(image: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """The image with its foreground box filled by the tiled background; ``None`` if undefined.

    ``image`` is (H, W, C); ``mask`` (H, W) bool. Returns ``None`` for an empty mask (no foreground
    box) or a box that covers the whole image (no background).
    """
    if image.shape[:2] != mask.shape:
        raise ValueError(f"mask shape {mask.shape} differs from image shape {image.shape[:2]}")
    bbox = foreground_bbox(mask)
    if bbox is None:
        return None
    tile = background_tile(image, bbox)
    if tile is None:
        return None
    h, w = image.shape[:2]
    th, tw = tile.shape[:2]
    reps = (-(-h // th), -(-w // tw)) + (1,) * (image.ndim - 2)
    canvas = np.tile(tile, reps)[:h, :w]
    out = image.copy()
    xmin, ymin, xmax, ymax = bbox
    out[ymin:ymax, xmin:xmax] = canvas[ymin:ymax, xmin:xmax]
    return out
