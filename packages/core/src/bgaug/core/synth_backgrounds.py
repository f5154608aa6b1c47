"""Background scenes of the synthetic benchmark: one texture family per class.

A family is a kind of texture (a photographed surface shipped inside scikit-image's wheel, or a
procedural pattern); each instance draws its own crop, scale, rotation and phase, so no two
backgrounds are alike. Colour is drawn independently of the family (a random two-colour ramp over
the texture's intensity), so the family is told by its texture, never by a colour channel.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from skimage import data as skdata
from skimage import filters, transform

Texture = Callable[[int, np.random.Generator], np.ndarray]

PHOTO_FIELD_OF_VIEW = (96.0, 192.0)
"""Width, in photograph pixels, that one background spans (whatever the image size)."""


@functools.cache
def _photo(name: str) -> np.ndarray:
    # skimage.data's brick, grass, gravel and page ship inside the wheel: nothing is downloaded.
    image = getattr(skdata, name)()
    gray = image if image.ndim == 2 else image[..., :3].mean(axis=2)
    return np.asarray(gray, dtype=np.float64) / 255.0


def _rotated_grid(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates in units of the image side, rotated by a random angle."""
    phi = rng.uniform(0, 2 * np.pi)
    yy, xx = (np.mgrid[0:size, 0:size].astype(np.float64) + 0.5) / size
    return xx * np.cos(phi) + yy * np.sin(phi), -xx * np.sin(phi) + yy * np.cos(phi)


def _photo_texture(name: str) -> Texture:
    def draw(size: int, rng: np.random.Generator) -> np.ndarray:
        photo = _photo(name)
        step = rng.uniform(*PHOTO_FIELD_OF_VIEW) / size
        warp = transform.AffineTransform(
            scale=(step, step),
            rotation=rng.uniform(0, 2 * np.pi),
            translation=(rng.uniform(0, photo.shape[1]), rng.uniform(0, photo.shape[0])),
        )
        out = transform.warp(photo, warp, output_shape=(size, size), order=1, mode="wrap")
        return np.asarray(out, dtype=np.float64)

    return draw


def _stripes(size: int, rng: np.random.Generator) -> np.ndarray:
    x, _ = _rotated_grid(size, rng)
    return np.asarray(0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(5.0, 8.0) * x + rng.uniform(0, 6.3)))


def _checker(size: int, rng: np.random.Generator) -> np.ndarray:
    x, y = _rotated_grid(size, rng)
    f = 2 * np.pi * rng.uniform(2.5, 4.0)
    product = np.sin(f * x + rng.uniform(0, 6.3)) * np.sin(f * y + rng.uniform(0, 6.3))
    return np.asarray(product > 0, dtype=np.float64)


def _clouds(size: int, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal((size, size))
    return np.asarray(filters.gaussian(noise, sigma=size * rng.uniform(0.05, 0.09), mode="wrap"))


def _dots(size: int, rng: np.random.Generator) -> np.ndarray:
    x, y = _rotated_grid(size, rng)
    cells = rng.uniform(5.0, 8.0)
    fx, fy = np.mod(x * cells + rng.uniform(), 1.0) - 0.5, np.mod(y * cells + rng.uniform(), 1.0) - 0.5
    return np.asarray(np.hypot(fx, fy) <= rng.uniform(0.22, 0.34), dtype=np.float64)


def _ripples(size: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = (np.mgrid[0:size, 0:size].astype(np.float64) + 0.5) / size
    cx, cy = rng.uniform(-0.5, 1.5, size=2)
    r = np.hypot(xx - cx, yy - cy)
    return np.asarray(0.5 + 0.5 * np.cos(2 * np.pi * rng.uniform(5.0, 8.0) * r))


def _speckle(size: int, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal((size, size))
    return np.asarray(filters.gaussian(noise, sigma=size * rng.uniform(0.008, 0.014), mode="wrap"))


def _crosshatch(size: int, rng: np.random.Generator) -> np.ndarray:
    x, y = _rotated_grid(size, rng)
    f = rng.uniform(5.0, 8.0)
    lines = np.maximum(
        np.cos(2 * np.pi * f * (x + y) / np.sqrt(2)), np.cos(2 * np.pi * f * (x - y) / np.sqrt(2))
    )
    return np.asarray(lines > 0.6, dtype=np.float64)


def _zigzag(size: int, rng: np.random.Generator) -> np.ndarray:
    x, y = _rotated_grid(size, rng)
    bend = rng.uniform(0.04, 0.07) * np.abs(np.mod(y * rng.uniform(3.0, 5.0), 1.0) * 2 - 1)
    return np.asarray(0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(5.0, 8.0) * (x + bend)))


BACKGROUNDS: dict[str, Texture] = {
    "brick": _photo_texture("brick"),
    "grass": _photo_texture("grass"),
    "gravel": _photo_texture("gravel"),
    "stripes": _stripes,
    "checker": _checker,
    "clouds": _clouds,
    "dots": _dots,
    "ripples": _ripples,
    "speckle": _speckle,
    "crosshatch": _crosshatch,
    "zigzag": _zigzag,
    "text": _photo_texture("page"),
}
"""Background families in class order: class k's usual background is ``list(BACKGROUNDS)[k]``."""
BACKGROUND_NAMES: tuple[str, ...] = tuple(BACKGROUNDS)

MIN_RAMP_CONTRAST = 0.35
"""Smallest RGB distance between the two colours of a background's ramp (the texture stays visible)."""


def _normalise(texture: np.ndarray) -> np.ndarray:
    low, high = np.percentile(texture, [1.0, 99.0])
    if high - low < 1e-9:
        return np.zeros_like(texture)
    return np.asarray(np.clip((texture - low) / (high - low), 0.0, 1.0))


def draw_background(
    family: int, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A size x size background of ``family``: (rgb float in [0, 1], dark colour, light colour)."""
    texture = _normalise(BACKGROUNDS[BACKGROUND_NAMES[family]](size, rng))
    for _ in range(100):
        dark, light = rng.uniform(0.0, 1.0, size=(2, 3))
        if np.linalg.norm(dark - light) >= MIN_RAMP_CONTRAST:
            break
    rgb = dark[None, None, :] + (light - dark)[None, None, :] * texture[:, :, None]
    return rgb, dark, light
