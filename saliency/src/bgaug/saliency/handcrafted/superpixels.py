"""SLIC superpixels and the region adjacency graph the graph-based saliency methods share.

Every hand-crafted method here works on superpixels: skimage's SLIC segments the image, region
statistics are gathered with ``np.bincount`` and adjacency comes from comparing each pixel with its
right and lower neighbour, so nothing loops over pixels in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from skimage.color import rgb2lab
from skimage.segmentation import slic

MIN_PIXELS_PER_SEGMENT = 16
"""SLIC is asked for at most H*W/16 segments, so tiny images still get regions of a few pixels."""


@dataclass(frozen=True)
class Superpixels:
    """A SLIC segmentation with per-region statistics.

    ``labels`` (H, W) int in [0, n); ``lab`` (n, 3) mean CIE-Lab; ``rgb`` (n, 3) mean RGB in [0, 1];
    ``centroid`` (n, 2) mean (y, x) normalised by (H, W); ``size`` (n,) pixel counts;
    ``adjacency`` (n, n) symmetric bool CSR, no diagonal; ``boundary`` (n,) touches the image border.
    """

    labels: np.ndarray
    lab: np.ndarray
    rgb: np.ndarray
    centroid: np.ndarray
    size: np.ndarray
    adjacency: sparse.csr_matrix
    boundary: np.ndarray

    @property
    def n(self) -> int:
        return int(self.size.shape[0])

    def to_pixels(self, values: np.ndarray) -> np.ndarray:
        """Paint per-region ``values`` (n,) back onto the (H, W) grid."""
        out: np.ndarray = np.asarray(values)[self.labels]
        return out


def check_image(image: np.ndarray) -> np.ndarray:
    """Return ``image`` if it is RGB uint8 (H, W, 3) with both sides >= 2, else raise ``ValueError``."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be RGB (H, W, 3), got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    if min(image.shape[:2]) < 2:
        raise ValueError(f"image too small for saliency: {image.shape[1]}x{image.shape[0]}")
    return image


def region_means(labels: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Mean of ``values`` (H, W, C) over each region of ``labels``: (n, C)."""
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=n).astype(np.float64)
    channels = values.reshape(flat.size, -1)
    sums = np.stack([np.bincount(flat, channels[:, c], minlength=n) for c in range(channels.shape[1])], 1)
    out: np.ndarray = sums / np.maximum(counts, 1.0)[:, None]
    return out


def adjacency_matrix(labels: np.ndarray, n: int) -> sparse.csr_matrix:
    """Regions that share an edge (4-connectivity), as a symmetric bool matrix without diagonal."""
    pairs = [
        (labels[:, :-1].ravel(), labels[:, 1:].ravel()),
        (labels[:-1, :].ravel(), labels[1:, :].ravel()),
    ]
    a = np.concatenate([p[0] for p in pairs])
    b = np.concatenate([p[1] for p in pairs])
    keep = a != b
    a, b = a[keep], b[keep]
    data = np.ones(2 * a.size, dtype=bool)
    m = sparse.coo_matrix((data, (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n, n))
    out: sparse.csr_matrix = m.tocsr().astype(bool)
    out.sum_duplicates()
    return out


def border_regions(labels: np.ndarray, n: int) -> np.ndarray:
    """(n,) bool: which regions touch the image border."""
    border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    out = np.zeros(n, dtype=bool)
    out[border] = True
    return out


def segment(
    image: np.ndarray, n_segments: int, *, compactness: float = 10.0, sigma: float = 1.0
) -> Superpixels:
    """SLIC superpixels of an RGB uint8 image with Lab / RGB / position statistics per region.

    ``sigma`` pre-smooths the image: without it, textured or noisy regions fragment and SLIC's
    connectivity step merges the fragments into a handful of huge segments.
    """
    check_image(image)
    h, w = image.shape[:2]
    n_segments = max(2, min(n_segments, (h * w) // MIN_PIXELS_PER_SEGMENT))
    raw = slic(
        image, n_segments=n_segments, compactness=compactness, sigma=sigma, start_label=0, channel_axis=-1
    )
    # SLIC may skip label values after enforcing connectivity; make them contiguous.
    _, labels = np.unique(raw, return_inverse=True)
    labels = labels.reshape(h, w)
    n = int(labels.max()) + 1
    lab_pixels = rgb2lab(image)
    rgb_pixels = image.astype(np.float64) / 255.0
    yy, xx = np.mgrid[0:h, 0:w]
    pos = np.stack([yy / max(h - 1, 1), xx / max(w - 1, 1)], axis=-1)
    return Superpixels(
        labels=labels,
        lab=region_means(labels, lab_pixels, n),
        rgb=region_means(labels, rgb_pixels, n),
        centroid=region_means(labels, pos, n),
        size=np.bincount(labels.ravel(), minlength=n),
        adjacency=adjacency_matrix(labels, n),
        boundary=border_regions(labels, n),
    )


def normalize01(values: np.ndarray) -> np.ndarray:
    """Min-max scale to [0, 1]; a constant array becomes all zeros."""
    v = np.asarray(values, dtype=np.float64)
    lo, hi = float(v.min()), float(v.max())
    if hi - lo <= 1e-12:
        return np.zeros_like(v)
    out: np.ndarray = (v - lo) / (hi - lo)
    return out


def pairwise_distance(x: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``x``: (n, n)."""
    sq = np.sum(x * x, axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    out: np.ndarray = np.sqrt(np.maximum(d2, 0.0))
    return out
