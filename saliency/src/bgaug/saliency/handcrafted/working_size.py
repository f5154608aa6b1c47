"""Hand-crafted saliency at a bounded working size.

The methods' cost and memory grow with the pixel count (DSR's per-pixel features are 8 float64
values a pixel: a 5000x5000 photograph took 6.75 GB in one worker), while their maps are blobs a
few superpixels wide. So an image whose longest side exceeds a method's working side is shrunk
(PIL, antialiased) before the method runs, and the map is brought back to the image's size
bilinearly. Images within the bound are computed as they are.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

WORKING_SIDE = 400
"""Longest side RBD, MC and DSR compute at: their papers' benchmark images (MSRA, ~400x300) fit
unchanged, so do the synthetic benchmark's 64-px scenes."""

MB_PLUS_WORKING_SIDE = 300
"""MB+'s paper resizes every image to a longest side of 300 before computing the map."""


def shrunk_shape(height: int, width: int, side: int) -> tuple[int, int]:
    """(H, W) scaled so the longest side is at most ``side`` (unchanged when it already is)."""
    scale = side / max(height, width)
    if scale >= 1.0:
        return height, width
    return max(2, round(height * scale)), max(2, round(width * scale))


def resize_image(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """RGB uint8 image resized to ``shape`` (H, W) with PIL's antialiased bilinear filter."""
    if image.shape[:2] == shape:
        return image
    resized = Image.fromarray(image).resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(resized)


def resize_map(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A float map resized bilinearly to ``shape`` (H, W); float64 out, values stay in their range."""
    if values.shape == shape:
        return np.asarray(values, dtype=np.float64)
    grey = Image.fromarray(np.asarray(values, dtype=np.float32), mode="F")
    resized = grey.resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
    out: np.ndarray = np.array(resized, dtype=np.float64)
    # float32 rounding can step a hair outside [lo, hi]: clip back to the input's range, in place
    # (at 5000x5000 each float64 copy is 200 MB).
    np.clip(out, values.min(), values.max(), out=out)
    return out


def at_working_size(
    method: Callable[[np.ndarray], np.ndarray], side: int
) -> Callable[[np.ndarray], np.ndarray]:
    """``method`` run on the image shrunk to a longest side of ``side``, its map upsampled back."""

    def bounded(image: np.ndarray) -> np.ndarray:
        if image.ndim < 2:
            return method(image)  # let the method reject it with its own message
        height, width = image.shape[:2]
        small = shrunk_shape(height, width, side)
        if small == (height, width) or image.ndim != 3 or image.dtype != np.uint8:
            return method(image)
        return resize_map(method(resize_image(image, small)), (height, width))

    bounded.__name__ = getattr(method, "__name__", "method")
    bounded.__doc__ = method.__doc__
    bounded.__wrapped__ = method  # type: ignore[attr-defined]
    return bounded
