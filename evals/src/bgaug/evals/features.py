"""Backbone features of a dataset, computed once and cached as ``.npz`` (no pickle, written atomically).

The cache records what produced it (checkpoint hash, preprocessing, the image list); a cache made by
anything else is recomputed rather than trusted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor
from torch.utils.data import Dataset

from bgaug.core.io import atomic_write
from bgaug.evals.datasets import Sample
from bgaug.evals.inference import EvalOptions, extract_features


def dataset_fingerprint(dataset: Dataset[Sample]) -> str:
    """A hash of the dataset's image list and labels (or of its length when it has no list)."""
    digest = hashlib.sha256()
    items = getattr(dataset, "items", None)
    if items is None:
        digest.update(f"{type(dataset).__name__}:{len(dataset)}".encode())  # type: ignore[arg-type]
    else:
        for item in items:
            digest.update(f"{item.path}\t{item.label}\n".encode())
    return digest.hexdigest()


def cached_features(
    model: Callable[[Tensor], Tensor],
    dataset: Dataset[Sample],
    options: EvalOptions,
    cache: str | Path | None,
    key: dict[str, Any],
    desc: str = "features",
) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of ``dataset``, read from ``cache`` if it was made with the same ``key``."""
    full_key = json.dumps({**key, "dataset": dataset_fingerprint(dataset)}, sort_keys=True)
    path = Path(cache) if cache is not None else None
    if path is not None and path.is_file():
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) == full_key:
                return data["features"], data["labels"]
    features, labels, _ = extract_features(model, dataset, options, desc=desc)
    if path is not None:
        with atomic_write(path, "wb") as handle:
            np.savez(handle, features=features, labels=labels, key=np.array(full_key))
    return features, labels
