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
import torch
from torch import Tensor


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


def tiled_backgrounds(images: Tensor, masks: Tensor) -> tuple[Tensor, Tensor]:
    """``tiled_background`` for a whole batch at once, on the batch's device.

    ``images`` (B, C, H, W) of any dtype, ``masks`` (B, 1, H, W) with foreground > 0.5 (or True).
    Returns (backgrounds like ``images``, has_background (B,) bool); a row without a background (empty
    mask, or a box covering the image) is returned unchanged with ``has_background`` False. The same
    recipe as ``tiled_background``, as one gather: the GPU data path computes backgrounds from the
    decoded image at load size instead of reading a stored one.
    """
    if images.ndim != 4 or masks.ndim != 4 or masks.shape[1] != 1:
        raise ValueError(f"need images (B, C, H, W) and masks (B, 1, H, W), got {tuple(images.shape)}")
    if images.shape[0] != masks.shape[0] or images.shape[-2:] != masks.shape[-2:]:
        raise ValueError(
            f"masks {tuple(masks.shape)} do not match images {tuple(images.shape)} (batch and size)"
        )
    B, C, H, W = images.shape
    dev = images.device
    fg = masks[:, 0] > 0.5
    rows_any, cols_any = fg.any(dim=2), fg.any(dim=1)  # (B, H), (B, W)
    ys = torch.arange(H, device=dev)
    xs = torch.arange(W, device=dev)
    # Box (xmin, ymin, xmax, ymax), max exclusive; empty masks give an empty box (handled below).
    ymin = torch.where(rows_any, ys, H).amin(dim=1)
    ymax = torch.where(rows_any, ys + 1, 0).amax(dim=1)
    xmin = torch.where(cols_any, xs, W).amin(dim=1)
    xmax = torch.where(cols_any, xs + 1, 0).amax(dim=1)
    left, right, top, bottom = xmin, W - xmax, ymin, H - ymax
    area_x = torch.maximum(left, right) * H
    area_y = torch.maximum(top, bottom) * W
    has_bg = rows_any.any(dim=1) & ((area_x > 0) | (area_y > 0))
    use_x = area_x > area_y
    # The tile: a full-height strip left or right of the box, else a full-width strip above or below.
    x0 = torch.where(use_x & (left <= right), xmax, 0)
    tw = torch.where(use_x, torch.where(left > right, left, right), W)
    y0 = torch.where(~use_x & (top <= bottom), ymax, 0)
    th = torch.where(use_x, H, torch.where(top > bottom, top, bottom))
    tw, th = tw.clamp_min(1), th.clamp_min(1)  # rows without a background are masked out below
    in_y = (ys >= ymin[:, None]) & (ys < ymax[:, None]) & has_bg[:, None]  # (B, H)
    in_x = (xs >= xmin[:, None]) & (xs < xmax[:, None])  # (B, W)
    src_y = torch.where(in_y, y0[:, None] + ys % th[:, None], ys)  # tile repeated from (0, 0)
    src_x = torch.where(in_x, x0[:, None] + xs % tw[:, None], xs)
    inside = in_y[:, :, None] & in_x[:, None, :]
    flat = torch.where(inside, src_y[:, :, None] * W + src_x[:, None, :], ys[:, None] * W + xs)
    index = flat.view(B, 1, H * W).expand(B, C, H * W)
    out = images.reshape(B, C, H * W).gather(2, index).view(B, C, H, W)
    return out, has_bg
