"""MB+ as it was before issue 24.3 (full-size smoothing, float64 scans), frozen as a reference.

test_handcrafted_scale.py checks that the faster implementation keeps its maps close to this one's.
The original module docstring follows.

MB+: minimum barrier salient object detection (Zhang, Sclaroff, Lin, Shen, Price, Mech; ICCV 2015).

Taken in place of HS (whose paper gives no reproducible recipe). The minimum barrier distance of a
pixel to the image border, the smallest (max - min) intensity range along any path to the border, is
approximated with FastMBD's raster scans on each Lab channel. Here each scan direction is one pass
over rows (or columns) vectorised along the line, which reaches the same kind of fixed point as the
paper's pixel-order scan with numpy doing the work. MB+ adds the image-boundary contrast map
(Mahalanobis colour distance to each of the four border strips, summed minus the largest), then
post-processes: smoothing by morphological reconstruction, a centre prior, and a sigmoid contrast
enhancement.
"""

from __future__ import annotations

import numpy as np
from skimage.color import rgb2lab
from skimage.morphology import disk, reconstruction
from skimage.morphology import erosion as grey_erosion

from bgaug.saliency.handcrafted.superpixels import check_image, normalize01

N_PASSES = 3
BORDER_FRACTION = 0.1
SMOOTH_ALPHA = 50.0  # radius = alpha * sqrt(mean saliency), for a 300-px image (scaled with size)
REFERENCE_SIDE = 300.0
CONTRAST_B = 10.0


def _relax(d: np.ndarray, hi: np.ndarray, lo: np.ndarray, img: np.ndarray, cur: int, prev: int) -> None:
    """Update line ``cur`` (rows of the arrays) from the already-visited line ``prev`` in place."""
    new_hi = np.maximum(hi[prev], img[cur])
    new_lo = np.minimum(lo[prev], img[cur])
    cost = new_hi - new_lo
    better = cost < d[cur]
    d[cur] = np.where(better, cost, d[cur])
    hi[cur] = np.where(better, new_hi, hi[cur])
    lo[cur] = np.where(better, new_lo, lo[cur])


def barrier_distance(channels: np.ndarray, passes: int = N_PASSES) -> np.ndarray:
    """Approximate minimum barrier distance of every pixel to the image border, per channel.

    ``channels`` is (H, W) or (H, W, C); channels are independent and scanned together.
    """
    img = channels.astype(np.float64)
    d = np.full_like(img, np.inf)
    d[0, :] = d[-1, :] = d[:, 0] = d[:, -1] = 0.0
    hi, lo = img.copy(), img.copy()
    h, w = img.shape[:2]
    for _ in range(passes):
        for r in range(1, h):
            _relax(d, hi, lo, img, r, r - 1)
        for r in range(h - 2, -1, -1):
            _relax(d, hi, lo, img, r, r + 1)
        # Views with columns as the leading axis, so the same row update scans left/right.
        dt, hit, lot, imgt = (np.swapaxes(a, 0, 1) for a in (d, hi, lo, img))
        for c in range(1, w):
            _relax(dt, hit, lot, imgt, c, c - 1)
        for c in range(w - 2, -1, -1):
            _relax(dt, hit, lot, imgt, c, c + 1)
    return d


def boundary_contrast(lab: np.ndarray) -> np.ndarray:
    """MB+ backgroundness: colour Mahalanobis distance to the four border strips, summed minus max."""
    h, w = lab.shape[:2]
    ry, rx = max(1, round(BORDER_FRACTION * h)), max(1, round(BORDER_FRACTION * w))
    strips = [
        lab[:ry].reshape(-1, 3),
        lab[-ry:].reshape(-1, 3),
        lab[:, :rx].reshape(-1, 3),
        lab[:, -rx:].reshape(-1, 3),
    ]
    flat = lab.reshape(-1, 3)
    maps = []
    for strip in strips:
        mean = strip.mean(axis=0)
        cov = np.cov(strip, rowvar=False) + np.eye(3) * 1e-3
        diff = flat - mean
        dist = np.sqrt(np.einsum("ij,jk,ik->i", diff, np.linalg.inv(cov), diff))
        maps.append(normalize01(dist))
    stack = np.stack(maps)
    out: np.ndarray = (stack.sum(axis=0) - stack.max(axis=0)).reshape(h, w)
    return out


def _smooth(saliency: np.ndarray) -> np.ndarray:
    """Opening-by-reconstruction then closing-by-reconstruction with a size-scaled disk."""
    h, w = saliency.shape
    radius = SMOOTH_ALPHA * np.sqrt(max(float(saliency.mean()), 0.0)) * max(h, w) / REFERENCE_SIDE
    footprint = disk(max(1, round(radius)))
    eroded = grey_erosion(saliency, footprint)
    opened = reconstruction(eroded, saliency, method="dilation")
    dilated = 1.0 - grey_erosion(1.0 - opened, footprint)
    closed = reconstruction(np.maximum(dilated, opened), opened, method="erosion")
    out: np.ndarray = closed
    return out


def _centre_prior(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    dist = np.sqrt(((yy - (h - 1) / 2) / h) ** 2 + ((xx - (w - 1) / 2) / w) ** 2)
    out: np.ndarray = 1.0 - dist / dist.max()
    return out


def mbd(image: np.ndarray) -> np.ndarray:
    """MB+ saliency map (H, W) float in [0, 1] of an RGB uint8 image."""
    check_image(image)
    lab = rgb2lab(image)
    barrier = barrier_distance(lab).sum(axis=-1)
    saliency = normalize01(normalize01(np.asarray(barrier)) + normalize01(boundary_contrast(lab)))
    saliency = normalize01(_smooth(saliency))
    saliency = normalize01(saliency * _centre_prior(*saliency.shape))
    enhanced = 1.0 / (1.0 + np.exp(-CONTRAST_B * (saliency - 0.5)))
    return normalize01(enhanced)
