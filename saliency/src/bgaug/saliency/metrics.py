"""Salient-object-detection metrics: F-beta (beta^2 = 0.3: max, mean, adaptive) and MAE.

The protocol is the one the SOD literature's MATLAB toolkits use (and pysodmetrics reproduces): each
prediction is read as 8-bit grey, scaled to [0, 1] and min-max stretched; ground truth is binarised
by core's one rule for stored masks (``core.io.binary_mask``: >= 128, or 1 in a 0/1 mask; the
toolkits' > 128 differs only at the value 128). Per image, precision and recall are taken at the 256
thresholds t = 0..255 (pixel >= t counts as foreground); the dataset curve is the mean of the per-image F
curves; maxF is its maximum and meanF its mean. Adaptive F binarises each image at
min(2 * mean, 1). MAE is the mean absolute difference, averaged over images.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bgaug.core.io import binary_mask

BETA2 = 0.3


def prepare(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pred in [0, 1] float64, min-max stretched; gt bool) from uint8 pred and uint8/bool gt
    (``binary_mask``: a 0/1 mask reads 1 as foreground, not as an empty mask)."""
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth shape {gt.shape}")
    if pred.dtype != np.uint8:
        raise ValueError(f"predictions must be uint8 grey maps, got {pred.dtype}")
    mask = binary_mask(gt)
    p = pred / 255.0
    lo, hi = p.min(), p.max()
    if hi != lo:
        p = (p - lo) / (hi - lo)
    return p, mask


def f_curve(pred: np.ndarray, gt: np.ndarray, beta2: float = BETA2) -> np.ndarray:
    """F-beta at thresholds 255, 254, ..., 0 (index k: pixels >= 255 - k) of one prepared pair."""
    levels = (pred * 255).astype(np.uint8)
    fg = np.bincount(levels[gt], minlength=256)
    bg = np.bincount(levels[~gt], minlength=256)
    tp = np.cumsum(fg[::-1]).astype(np.float64)
    predicted = tp + np.cumsum(bg[::-1])
    precision = tp / np.where(predicted == 0, 1, predicted)
    recall = tp / max(int(np.count_nonzero(gt)), 1)
    num = (1 + beta2) * precision * recall
    den = np.where(num == 0, 1, beta2 * precision + recall)
    out: np.ndarray = num / den
    return out


def adaptive_f(pred: np.ndarray, gt: np.ndarray, beta2: float = BETA2) -> float:
    """F-beta of one prepared pair binarised at min(2 * mean, 1)."""
    binary = pred >= min(2 * float(pred.mean()), 1.0)
    tp = int(np.count_nonzero(binary & gt))
    if tp == 0:
        return 0.0
    precision = tp / np.count_nonzero(binary)
    recall = tp / np.count_nonzero(gt)
    return float((1 + beta2) * precision * recall / (beta2 * precision + recall))


@dataclass
class SaliencyScores:
    """Accumulates per-image scores; ``results()`` gives the dataset numbers."""

    beta2: float = BETA2
    curves: list[np.ndarray] = field(default_factory=list)
    adaptive: list[float] = field(default_factory=list)
    mae: list[float] = field(default_factory=list)

    def add(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Score one uint8 map (H, W) against its mask (bool, or uint8 0/255 or 0/1)."""
        p, g = prepare(pred, gt)
        self.curves.append(f_curve(p, g, self.beta2))
        self.adaptive.append(adaptive_f(p, g, self.beta2))
        self.mae.append(float(np.mean(np.abs(p - g))))

    def __len__(self) -> int:
        return len(self.curves)

    def results(self) -> dict[str, float]:
        if not self.curves:
            raise ValueError("no images were scored")
        curve = np.mean(np.asarray(self.curves, dtype=np.float64), axis=0)
        return {
            "max_f": float(curve.max()),
            "mean_f": float(curve.mean()),
            "adaptive_f": float(np.mean(self.adaptive)),
            "mae": float(np.mean(self.mae)),
            "n_images": len(self.curves),
        }


def to_uint8(saliency: np.ndarray) -> np.ndarray:
    """A float map in [0, 1] as the 8-bit grey image it would be saved as (one float temporary:
    at 5000x5000 each is 200 MB)."""
    scaled = np.multiply(saliency, 255.0, dtype=np.float64)
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, 255, out=scaled)
    out: np.ndarray = scaled.astype(np.uint8)
    return out


def centre_prior(height: int, width: int, sigma: float = 0.25) -> np.ndarray:
    """The centre-prior baseline: a Gaussian at the image centre, sigma = ``sigma`` of each side."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    cy, cx = (height - 1) / 2, (width - 1) / 2
    out: np.ndarray = np.exp(
        -((yy - cy) ** 2) / (2 * (sigma * height) ** 2) - ((xx - cx) ** 2) / (2 * (sigma * width) ** 2)
    )
    return out
