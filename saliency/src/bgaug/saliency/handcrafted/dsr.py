"""DSR: saliency via dense and sparse reconstruction (Li, Lu, Zhang, Ruan, Yang; ICCV 2013).

Border regions form the background templates B. Each region's feature x (Lab, RGB, position, all
scaled to [0, 1]) is reconstructed (a) densely from the principal components of B and (b) sparsely
as a lasso combination of B's rows; a large reconstruction error means "unlike the background".
Errors are smoothed within K-means clusters (context-based propagation), brought to pixels over
several SLIC scales with weights 1 / ||f_z - x_region||, multiplied by an object-biased Gaussian,
and the dense and sparse maps are fused by Bayesian integration.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.vq import kmeans2
from skimage.color import rgb2lab

from bgaug.saliency.handcrafted.superpixels import (
    normalize01,
    pairwise_distance,
    region_means,
    segment,
)

SCALES = (100, 200, 300)  # the paper uses 8 scales from 50 to 400; 3 keep most of the benefit
PCA_ENERGY = 0.95
LASSO_LAMBDA = 0.01
LASSO_ITERATIONS = 200
N_CLUSTERS = 8
NEIGHBOUR_FRACTION = 0.04
TAU = 0.5
GAUSS_SIGMA = 0.25
HIST_BINS = 32
SEED = 0  # K-means initialisation: fixed so a map is a pure function of its image


def _pixel_features(image: np.ndarray) -> np.ndarray:
    """(H, W, 8) features: Lab, RGB, y, x, each min-max scaled over the image."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    feats = np.concatenate([rgb2lab(image), image.astype(np.float64), yy[..., None], xx[..., None]], axis=-1)
    lo = feats.reshape(-1, 8).min(axis=0)
    hi = feats.reshape(-1, 8).max(axis=0)
    out: np.ndarray = (feats - lo) / np.maximum(hi - lo, 1e-12)
    return out


def dense_errors(x: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """Squared error of reconstructing rows of ``x`` from the principal subspace of ``templates``."""
    mean = templates.mean(axis=0)
    centred = templates - mean
    cov = centred.T @ centred / max(len(templates) - 1, 1)
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    vals, vecs = np.maximum(vals[order], 0.0), vecs[:, order]
    total = vals.sum()
    keep = 1 if total <= 0 else int(np.searchsorted(np.cumsum(vals) / total, PCA_ENERGY) + 1)
    basis = vecs[:, :keep]
    d = x - mean
    residual = d - (d @ basis) @ basis.T
    out: np.ndarray = np.sum(residual**2, axis=1)
    return out


def sparse_errors(x: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """Squared error of the lasso reconstruction of each row of ``x`` from the rows of ``templates``.

    Solved for all regions at once with FISTA (numpy/scipy have no lasso solver; a per-region call to
    an external solver would loop in Python over hundreds of regions per scale).
    """
    dictionary = templates.T  # (D, m)
    lipschitz = float(np.linalg.norm(dictionary, 2) ** 2) or 1.0
    step = 1.0 / lipschitz
    alpha = np.zeros((dictionary.shape[1], x.shape[0]))
    momentum, t = alpha.copy(), 1.0
    target = x.T
    for _ in range(LASSO_ITERATIONS):
        grad = dictionary.T @ (dictionary @ momentum - target)
        z = momentum - step * grad
        new = np.sign(z) * np.maximum(np.abs(z) - step * LASSO_LAMBDA, 0.0)
        t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        momentum = new + ((t - 1.0) / t_next) * (new - alpha)
        alpha, t = new, t_next
    out: np.ndarray = np.sum((dictionary @ alpha - target) ** 2, axis=0)
    return out


def propagate(errors: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Context-based propagation: blend each error with its nearest same-cluster regions' errors."""
    n = len(x)
    k_clusters = min(N_CLUSTERS, n)
    _, cluster = kmeans2(x, k_clusters, minit="++", seed=np.random.default_rng(SEED))
    dist = pairwise_distance(x)
    same = cluster[:, None] == cluster[None, :]
    np.fill_diagonal(same, False)
    dist_in = np.where(same, dist, np.inf)
    k = max(1, round(NEIGHBOUR_FRACTION * n))
    k = min(k, n - 1) if n > 1 else 1
    nearest = np.argpartition(dist_in, k - 1, axis=1)[:, :k] if n > 1 else np.zeros((n, 0), int)
    d_near = np.take_along_axis(dist_in, nearest, axis=1)
    sigma2 = float(np.sum(np.var(x, axis=0))) or 1.0
    # Neighbours outside the cluster are at distance inf and get weight 0.
    wts = np.where(np.isfinite(d_near), np.exp(-(np.nan_to_num(d_near, posinf=0.0) ** 2) / (2 * sigma2)), 0.0)
    wsum = wts.sum(axis=1)
    neighbour = np.where(wsum > 0, (wts * errors[nearest]).sum(axis=1) / np.maximum(wsum, 1e-12), errors)
    out: np.ndarray = TAU * neighbour + (1.0 - TAU) * errors
    return out


def object_gaussian(saliency: np.ndarray) -> np.ndarray:
    """Gaussian centred on the map's saliency-weighted centroid, sigma = 0.25 of each side."""
    h, w = saliency.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    total = saliency.sum()
    cy, cx = ((yy * saliency).sum() / total, (xx * saliency).sum() / total) if total > 0 else (h / 2, w / 2)
    out: np.ndarray = np.exp(
        -((xx - cx) ** 2) / (2 * (GAUSS_SIGMA * w) ** 2) - ((yy - cy) ** 2) / (2 * (GAUSS_SIGMA * h) ** 2)
    )
    return out


def bayes_integrate(prior: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Posterior p(F | other(z)) with ``prior`` as the prior; likelihoods from histograms of ``other``."""
    fg = prior >= prior.mean()
    bins = np.minimum((other * HIST_BINS).astype(int), HIST_BINS - 1)
    hist_f = np.bincount(bins[fg], minlength=HIST_BINS) / max(int(fg.sum()), 1)
    hist_b = np.bincount(bins[~fg], minlength=HIST_BINS) / max(int((~fg).sum()), 1)
    num = prior * hist_f[bins]
    den = num + (1.0 - prior) * hist_b[bins]
    out: np.ndarray = np.where(den > 0, num / np.maximum(den, 1e-12), 0.0)
    return out


def dsr(image: np.ndarray) -> np.ndarray:
    """DSR saliency map (H, W) float in [0, 1] of an RGB uint8 image."""
    pixels = _pixel_features(image)
    num = {"dense": np.zeros(image.shape[:2]), "sparse": np.zeros(image.shape[:2])}
    den = np.zeros(image.shape[:2])
    for n_segments in SCALES:
        sp = segment(image, n_segments)
        x = region_means(sp.labels, pixels, sp.n)
        templates = x[sp.boundary]
        weight = 1.0 / np.maximum(np.linalg.norm(pixels - x[sp.labels], axis=-1), 1e-6)
        den += weight
        for kind, errors in (("dense", dense_errors(x, templates)), ("sparse", sparse_errors(x, templates))):
            num[kind] += weight * sp.to_pixels(propagate(errors, x))
    maps = {}
    for kind, value in num.items():
        error = normalize01(value / den)
        maps[kind] = normalize01(error * object_gaussian(error))
    fused = bayes_integrate(maps["sparse"], maps["dense"]) + bayes_integrate(maps["dense"], maps["sparse"])
    return normalize01(fused)
