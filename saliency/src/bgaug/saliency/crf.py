"""Dense-CRF smoothing of saliency maps (DeepUSPS's refinement step), through pydensecrf.

DeepUSPS passes each round's moving average of network predictions through a fully connected CRF
(Kraehenbuehl & Koltun 2011) before binarising it into the next round's targets: the pairwise terms
pull label boundaries onto colour edges. Mean-field inference in a fully connected CRF needs the
permutohedral lattice to run in linear time, so this uses the reference implementation's Python
binding (``pip install 'bgaug-saliency[crf]'``, which compiles it: a C++ compiler is needed) rather
than our own code. Without it, ``fit --crf auto`` falls back to thresholding the average alone.

``predict --crf on`` also refines the detector's maps with it (``crf_at_working_size``). The network
sees the image at its training size (64 px in the ``quick`` preset), so its map, upsampled to a
photograph, is blurred across the object's outline; the CRF moves that outline onto the image's own
colour edges (docs/saliency.md, "Dense CRF at prediction time").

Parameters are the values common in DeepLab-style CRF post-processing (a Gaussian smoothness kernel
of std 3 px and weight 3; a bilateral appearance kernel of std 50 px and 5 colour levels, weight 4;
5 mean-field iterations), stated for 432-px images (the paper preset) and with the spatial stds
scaled to the image side, so a 64-px CPU run smooths over the same fraction of the scene. Not tuned
on the synthetic benchmark.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass

import numpy as np

from bgaug.core.errors import UsageError
from bgaug.saliency.handcrafted.working_size import WORKING_SIDE, resize_image, resize_map, shrunk_shape

CRF_MODES = ("auto", "on", "off")
DISTRIBUTION = "pydensecrf2"
REFERENCE_SIDE = 432


@dataclass(frozen=True)
class CRFParams:
    """Kernel stds in pixels of a ``REFERENCE_SIDE`` image, colour std in 8-bit levels."""

    gaussian_std: float = 3.0
    gaussian_weight: float = 3.0
    bilateral_std: float = 50.0
    bilateral_colour_std: float = 5.0
    bilateral_weight: float = 4.0
    iterations: int = 5


def crf_version() -> str | None:
    """The installed binding's version, or ``None`` when its compiled module cannot be imported."""
    try:
        import pydensecrf.densecrf  # noqa: F401  (a broken build counts as not installed)
    except ImportError:
        return None
    for distribution in (DISTRIBUTION, "pydensecrf"):  # the fork we depend on, or the original
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown version"


def resolve_crf(mode: str) -> str | None:
    """What ``fit --crf mode`` will run: the binding's version, or ``None`` for the fallback.

    ``on`` without the binding is an error (a run asked for the CRF must not silently skip it)."""
    if mode not in CRF_MODES:
        raise UsageError(f"crf must be one of {', '.join(CRF_MODES)}, got {mode!r}")
    if mode == "off":
        return None
    version = crf_version()
    if version is None and mode == "on":
        raise UsageError(
            "crf 'on' needs pydensecrf: pip install 'bgaug-saliency[crf]' (compiles; needs a C++ compiler)"
        )
    return version


def dense_crf(image: np.ndarray, foreground: np.ndarray, params: CRFParams | None = None) -> np.ndarray:
    """Foreground marginals (H, W) float32 after mean-field inference.

    ``image`` is (H, W, 3) uint8; ``foreground`` (H, W) probabilities in [0, 1] are the unary term."""
    import pydensecrf.densecrf as dcrf

    params = params or CRFParams()
    h, w = foreground.shape
    if image.shape != (h, w, 3) or image.dtype != np.uint8:
        raise ValueError(f"image must be ({h}, {w}, 3) uint8, got {image.shape} {image.dtype}")
    p = np.clip(foreground.astype(np.float32), 1e-5, 1.0 - 1e-5)
    unary = -np.log(np.stack([1.0 - p, p]).reshape(2, -1))
    scale = max(h, w) / REFERENCE_SIDE
    crf = dcrf.DenseCRF2D(w, h, 2)
    crf.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
    crf.addPairwiseGaussian(sxy=max(params.gaussian_std * scale, 0.5), compat=params.gaussian_weight)
    crf.addPairwiseBilateral(
        sxy=max(params.bilateral_std * scale, 1.0),
        srgb=params.bilateral_colour_std,
        rgbim=np.require(image, requirements=["C", "W"]),  # the binding refuses read-only buffers
        compat=params.bilateral_weight,
    )
    marginals: np.ndarray = np.asarray(crf.inference(params.iterations), dtype=np.float32)
    foreground_marginal: np.ndarray = marginals[1].reshape(h, w)
    return foreground_marginal


def crf_at_working_size(image: np.ndarray, saliency: np.ndarray, side: int = WORKING_SIDE) -> np.ndarray:
    """``dense_crf`` of a map at its image's resolution, bounded to a longest side of ``side``.

    ``image`` (H, W, 3) uint8, ``saliency`` (H, W) in [0, 1]; returns (H, W) float64 marginals. A larger
    image is shrunk first (the CRF's time and memory grow with the pixel count) and the marginals
    brought back bilinearly, as the hand-crafted methods do at the same bound."""
    height, width = saliency.shape
    small = shrunk_shape(height, width, side)
    refined = dense_crf(resize_image(image, small), resize_map(saliency, small))
    return resize_map(refined, (height, width))
