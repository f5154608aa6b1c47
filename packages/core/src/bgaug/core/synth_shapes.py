"""Foreground objects of the synthetic benchmark: one silhouette family per class.

Every silhouette is an implicit region in object-local coordinates (u, v), drawn to fit the unit
disc, so one pose (centre, radius, rotation, aspect) places any family in the image. Per-instance
parameters vary the silhouette inside its family (arm width, inner radius, ...); colour and surface
texture are drawn independently of the class, so only the shape identifies it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Region = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]

RADIUS_RANGE = (0.20, 0.34)
"""Object radius as a fraction of the image side (the silhouette fits a disc of this radius)."""
ASPECT_RANGE = (0.75, 1.33)
"""Per-instance stretch of the local u axis against v (area-preserving)."""
TEXTURE_AMPLITUDE = (0.15, 0.35)
"""Luminance swing of the object's surface texture."""


def _polar(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.hypot(u, v), np.arctan2(v, u)


def _regular_polygon(u: np.ndarray, v: np.ndarray, sides: int, circumradius: float) -> np.ndarray:
    r, t = _polar(u, v)
    sector = 2 * np.pi / sides
    local = np.mod(t, sector) - sector / 2
    return np.asarray(r * np.cos(local) <= circumradius * np.cos(np.pi / sides))


def _disc(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.asarray(np.hypot(u, v) <= rng.uniform(0.85, 1.0))


def _square(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    p = rng.uniform(5.0, 12.0)  # corner rounding: an L^p ball, p large = sharp corners
    return np.asarray((np.abs(u) ** p + np.abs(v) ** p) ** (1 / p) <= rng.uniform(0.68, 0.78))


def _triangle(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _regular_polygon(u, v, 3, rng.uniform(0.9, 1.0))


def _star(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    r, t = _polar(u, v)
    inner = rng.uniform(0.38, 0.5)
    phase = np.mod(t * 5 / (2 * np.pi), 1.0)
    tip = 1.0 - np.abs(2 * phase - 1.0)  # 1 at the five tips, 0 between them
    return np.asarray(r <= inner + (1.0 - inner) * tip)


def _cross(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    w = rng.uniform(0.22, 0.32)
    arm = 0.95
    au, av = np.abs(u), np.abs(v)
    return np.asarray(((au <= w) & (av <= arm)) | ((av <= w) & (au <= arm)))


def _ring(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    r = np.hypot(u, v)
    return np.asarray((r <= 1.0) & (r >= rng.uniform(0.45, 0.6)))


def _crescent(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    offset, bite = rng.uniform(0.35, 0.5), rng.uniform(0.8, 0.92)
    return np.asarray((np.hypot(u, v) <= 1.0) & (np.hypot(u - offset, v) > bite))


def _heart(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # The classic quartic heart curve (x^2 + y^2 - 1)^3 <= x^2 y^3, scaled into the unit disc.
    scale = rng.uniform(1.25, 1.35)
    x, y = u * scale, -v * scale + 0.15
    return np.asarray((x * x + y * y - 1.0) ** 3 - x * x * y**3 <= 0.0)


def _arrow(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shaft, head, neck = rng.uniform(0.14, 0.22), rng.uniform(0.55, 0.72), rng.uniform(0.0, 0.2)
    shaft_region = (u >= -0.95) & (u <= neck) & (np.abs(v) <= shaft)
    head_region = (u >= neck) & (u <= 0.95) & (np.abs(v) <= head * (0.95 - u) / (0.95 - neck))
    return np.asarray(shaft_region | head_region)


def _gear(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    r, t = _polar(u, v)
    teeth = int(rng.integers(7, 10))
    root = rng.uniform(0.7, 0.8)
    return np.asarray((r <= np.where(np.cos(teeth * t) > 0, 1.0, root)) & (r >= 0.25))


def _dumbbell(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    bell, bar = rng.uniform(0.32, 0.4), rng.uniform(0.1, 0.16)
    centre = 1.0 - bell
    bells = (np.hypot(u - centre, v) <= bell) | (np.hypot(u + centre, v) <= bell)
    return np.asarray(bells | ((np.abs(u) <= centre) & (np.abs(v) <= bar)))


def _ell(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    w = rng.uniform(0.45, 0.6)
    stem = (u >= -0.7) & (u <= -0.7 + w) & (np.abs(v) <= 0.7)
    foot = (u >= -0.7) & (u <= 0.7) & (v >= 0.7 - w) & (v <= 0.7)
    return np.asarray(stem | foot)


SHAPES: dict[str, Region] = {
    "disc": _disc,
    "square": _square,
    "triangle": _triangle,
    "star": _star,
    "cross": _cross,
    "ring": _ring,
    "crescent": _crescent,
    "heart": _heart,
    "arrow": _arrow,
    "gear": _gear,
    "dumbbell": _dumbbell,
    "ell": _ell,
}
"""Silhouette families in class order: class k draws ``list(SHAPES)[k]``."""
SHAPE_NAMES: tuple[str, ...] = tuple(SHAPES)


@dataclass(frozen=True)
class Foreground:
    """An object drawn on an S x S canvas: ``mask`` (S, S) bool, ``rgb`` (S, S, 3) float in [0, 1]."""

    mask: np.ndarray
    rgb: np.ndarray


def _surface(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A texture in [0, 1] attached to the object (it rotates and stretches with it)."""
    kind = int(rng.integers(0, 4))
    phi = rng.uniform(0, 2 * np.pi)
    along: np.ndarray = u * np.cos(phi) + v * np.sin(phi)
    texture: np.ndarray
    if kind == 0:  # shading: a linear luminance gradient
        texture = np.clip(0.5 + 0.5 * along, 0.0, 1.0)
    elif kind == 1:  # stripes
        texture = 0.5 + 0.5 * np.sin(np.pi * rng.uniform(3.0, 6.0) * along)
    elif kind == 2:  # spots
        f = np.pi * rng.uniform(3.0, 5.0)
        texture = (np.sin(f * u) * np.sin(f * v) > 0.3).astype(np.float64)
    else:  # grain
        texture = rng.uniform(0.0, 1.0, size=u.shape)
    return texture


def draw_foreground(family: int, size: int, colour: np.ndarray, rng: np.random.Generator) -> Foreground:
    """Draw one object of silhouette ``family`` in ``colour`` at a random pose on a size x size canvas."""
    radius = rng.uniform(*RADIUS_RANGE) * size
    aspect = np.exp(rng.uniform(np.log(ASPECT_RANGE[0]), np.log(ASPECT_RANGE[1])))
    stretch = np.sqrt(aspect)
    reach = radius * max(stretch, 1 / stretch)  # the silhouette stays inside this disc
    margin = min(reach + 1.0, size / 2)
    cx, cy = rng.uniform(margin, size - margin, size=2)
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5  # pixel centres
    dx, dy = xx - cx, yy - cy
    u = (np.cos(theta) * dx + np.sin(theta) * dy) / (radius * stretch)
    v = (-np.sin(theta) * dx + np.cos(theta) * dy) / (radius / stretch)
    mask = SHAPES[SHAPE_NAMES[family]](u, v, rng)
    amplitude = rng.uniform(*TEXTURE_AMPLITUDE)
    shade = amplitude * (_surface(u, v, rng) - 0.5)
    rgb = np.clip(colour[None, None, :] + shade[:, :, None], 0.0, 1.0)
    return Foreground(mask=mask, rgb=rgb)
