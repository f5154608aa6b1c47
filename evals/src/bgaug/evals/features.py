"""Backbone features of a dataset, computed once and cached as ``.npz`` (no pickle, written atomically).

The cache records what produced it: the checkpoint's content hash (``checkpoint_key``: a new
checkpoint written over an old one's path must not reuse the old features), the preprocessing, the
image list, and the cache format. A cache made by anything else, or damaged, is recomputed rather than
trusted. It also keeps the list of unreadable images, so a run that reads the cache reports them too.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor
from torch.utils.data import Dataset

from bgaug.core.io import atomic_write
from bgaug.evals.datasets import Sample
from bgaug.evals.inference import EvalOptions, extract_features

CACHE_FORMAT = 2
"""Bumped when the cached arrays change (2: the unreadable-image list), so older files are recomputed."""


@dataclass(frozen=True)
class Features:
    """Features (N, D) and labels (N,) of a dataset's readable images, and its unreadable image paths."""

    features: np.ndarray
    labels: np.ndarray
    unreadable: list[str]


def checkpoint_key(checkpoint_sha256: str) -> dict[str, Any]:
    """The part of a cache key that names the backbone: the checkpoint file's sha256
    (``bgaug.core.io.sha256_file``), never its path."""
    return {"checkpoint_sha256": checkpoint_sha256}


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


def _read_cache(path: Path, full_key: str) -> Features | None:
    """The cached features if ``path`` holds a readable cache made with ``full_key``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != full_key:
                return None
            return Features(data["features"], data["labels"], [str(p) for p in data["unreadable"]])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # damaged (e.g. copied half-way) or from an older format: recompute


def _write_cache(path: Path, full_key: str, result: Features) -> None:
    unreadable = np.array(result.unreadable, dtype=np.str_)
    with atomic_write(path, "wb") as handle:
        np.savez(
            handle,
            features=result.features,
            labels=result.labels,
            unreadable=unreadable,
            key=np.array(full_key),
        )


def cached_features(
    model: Callable[[Tensor], Tensor],
    dataset: Dataset[Sample],
    options: EvalOptions,
    cache: str | Path | None,
    key: dict[str, Any],
    desc: str = "features",
) -> Features:
    """Features of ``dataset``, read from ``cache`` if it was made with the same ``key``.

    ``key`` must name the backbone by content (``checkpoint_key``) plus whatever else shapes the
    features (preprocessing, data source)."""
    full_key = json.dumps(
        {**key, "dataset": dataset_fingerprint(dataset), "format": CACHE_FORMAT}, sort_keys=True
    )
    path = Path(cache) if cache is not None else None
    if path is not None and path.is_file() and (cached := _read_cache(path, full_key)) is not None:
        return cached
    result = Features(*extract_features(model, dataset, options, desc=desc))
    if path is not None:
        _write_cache(path, full_key, result)
    return result
