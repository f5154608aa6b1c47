"""ImageNet-C (Hendrycks & Dietterich 2019): 15 corruptions + 4 extra, 5 severities each.

Released layout: ``ROOT/{corruption}/{severity}/{wnid}/*.JPEG`` (the five tarballs noise, blur,
weather, digital and extra extract side by side). Reported: top-1 (%) per corruption and severity,
the mean over severities per corruption, the mean over each category's corruptions, and the mean
over the 15 standard corruptions (over those present; ``complete`` says whether all 15 were).

On-the-fly mode corrupts any class-folder tree with the ``imagecorruptions`` package (the authors'
code, re-packaged) after resize + centre crop; its results are labelled ``on_the_fly`` because they
are not the released images (different JPEG round trip and random draws).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from bgaug.core.seeding import spawn_seed
from bgaug.evals.datasets import ImageListDataset, LabelledImage, folder_items, labelled_by_wnid_or_folder
from bgaug.evals.inference import EvalOptions, predict
from bgaug.evals.suites.common import num_logits, preprocess_of, record
from bgaug.evals.tables import wnid_to_index

CATEGORIES: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
    "extra": ("speckle_noise", "gaussian_blur", "spatter", "saturate"),
}
STANDARD: tuple[str, ...] = tuple(c for k, v in CATEGORIES.items() if k != "extra" for c in v)
SEVERITIES = (1, 2, 3, 4, 5)
MIN_SIDE = 32
"""imagecorruptions refuses smaller images."""


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def summarise(per_corruption: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Means over severities, per category and over the 15 standard corruptions."""
    means: dict[str, float] = {
        c: float(np.mean([r["top1"] for r in sev.values()])) for c, sev in per_corruption.items() if sev
    }
    categories = {k: _mean([means[c] for c in names if c in means]) for k, names in CATEGORIES.items()}
    standard = [means[c] for c in STANDARD if c in means]
    return {
        "corruption_mean": means,
        "category_mean": categories,
        "mean": _mean(standard),
        "complete": len(standard) == len(STANDARD),
    }


def evaluate_imagenet_c(model: nn.Module, root: str | Path, options: EvalOptions) -> dict[str, Any]:
    """Every corruption/severity folder present under ``root``, scored over 1000 logits."""
    base = Path(root)
    wnids = wnid_to_index()
    results: dict[str, dict[str, Any]] = {}
    for corruption in (c for names in CATEGORIES.values() for c in names):
        for severity in SEVERITIES:
            folder = base / corruption / str(severity)
            if not folder.is_dir():
                continue

            def label(wnid: str, folder: Path = folder) -> int:
                if wnid not in wnids:
                    raise ValueError(f"{folder / wnid}: not an ImageNet wnid folder")
                return wnids[wnid]

            dataset = ImageListDataset(folder_items(folder, label), preprocess_of(model))
            outcome = predict(model, dataset, options, desc=f"imagenet_c/{corruption}/{severity}")
            results.setdefault(corruption, {})[str(severity)] = record(outcome)
    if not results:
        raise FileNotFoundError(f"{base}: no {{corruption}}/{{severity}} folders of ImageNet-C")
    return {"results": results, **summarise(results)}


@cache
def _imagecorruptions() -> Any:
    """Import ``imagecorruptions`` with fixes for current scikit-image and NumPy, local to that module.

    imagecorruptions 1.1.2 calls ``skimage.filters.gaussian(..., multichannel=True)``, an argument
    scikit-image 0.19 renamed to ``channel_axis`` (glass_blur, gaussian_blur), and uses ``np.float_``,
    which NumPy 2 removed (fog). Its module gets a translating ``gaussian`` and a NumPy view that
    still has ``float_``; nothing outside imagecorruptions changes.
    """
    try:
        import imagecorruptions
        from imagecorruptions import corruptions
    except ImportError as exc:
        raise ImportError(
            "on-the-fly ImageNet-C needs the 'corruptions' extra:"
            f" pip install 'bgaug-evals[corruptions]' ({exc})"
        ) from None
    from skimage.filters import gaussian

    def gaussian_compat(
        image: np.ndarray, *args: Any, multichannel: bool | None = None, **kwargs: Any
    ) -> Any:
        if multichannel:
            kwargs.setdefault("channel_axis", -1)
        return gaussian(image, *args, **kwargs)

    corruptions.gaussian = gaussian_compat
    if not hasattr(np, "float_"):
        corruptions.np = _NumpyWithFloat()
    return imagecorruptions


class _NumpyWithFloat:
    """NumPy as imagecorruptions expects it: every attribute of ``numpy`` plus ``float_``."""

    float_ = np.float64

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


class Corrupt:
    """One corruption at one severity; each image's random draws seeded by (seed, name, severity, index)."""

    def __init__(self, name: str, severity: int, seed: int):
        self.name, self.severity, self.seed = name, severity, seed

    def __call__(self, image: np.ndarray, index: int) -> np.ndarray:
        ic = _imagecorruptions()
        # imagecorruptions draws from numpy's legacy global generator; seed it per image for repeatability.
        np.random.seed(spawn_seed(self.seed, self.name, self.severity, index) % (2**32))  # noqa: NPY002
        out = ic.corrupt(image, corruption_name=self.name, severity=self.severity)
        corrupted: np.ndarray = np.clip(np.asarray(out), 0, 255).astype(np.uint8)
        return corrupted


def probe_corruption(name: str) -> str | None:
    """None if ``name`` runs in this environment, else the error it raises (one line)."""
    try:
        Corrupt(name, 1, 0)(np.full((32, 32, 3), 128, dtype=np.uint8), 0)
    except ImportError:
        raise
    except Exception as exc:  # the library's own failures (e.g. NumPy 2 removals) are reported per corruption
        return f"{type(exc).__name__}: {exc}"
    return None


def evaluate_on_the_fly(
    model: nn.Module,
    root: str | Path,
    options: EvalOptions,
    *,
    corruptions: Sequence[str] = STANDARD,
    severities: Sequence[int] = SEVERITIES,
    seed: int = 0,
    limit: int | None = None,
) -> dict[str, Any]:
    """Corrupt the images of ``root`` (class folders) on the fly and score them like ImageNet-C."""
    known = {c for names in CATEGORIES.values() for c in names}
    for name in corruptions:
        if name not in known:
            raise ValueError(f"unknown corruption {name!r}; choose from {', '.join(sorted(known))}")
    for s in severities:
        if s not in SEVERITIES:
            raise ValueError(f"severity must be in 1..5, got {s}")
    crop = preprocess_of(model).crop
    if crop < MIN_SIDE:
        raise ValueError(
            f"imagecorruptions needs images of at least {MIN_SIDE} px; the classifier crops {crop} px"
        )
    items: list[LabelledImage]
    items, labelling = labelled_by_wnid_or_folder(root, num_logits(model))
    if limit is not None:
        items = items[:limit]
    results: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    for name in corruptions:
        problem = probe_corruption(name)
        if problem is not None:
            failed[name] = problem
            continue
        for severity in severities:
            dataset = ImageListDataset(items, preprocess_of(model), corrupt=Corrupt(name, severity, seed))
            outcome = predict(model, dataset, options, desc=f"corrupt/{name}/{severity}")
            results.setdefault(name, {})[str(severity)] = record(outcome)
    return {
        "on_the_fly": True,
        "labels": labelling,
        "failed": failed,
        "results": results,
        **summarise(results),
    }
