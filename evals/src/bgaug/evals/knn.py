"""Weighted k-nearest-neighbour monitor (Wu et al. 2018, as used by MoCo/DINO), on faiss.

Features are L2-normalised; each query's k nearest training features (cosine similarity s) vote for
their class with weight exp(s / T); the class with the largest summed weight is the prediction.
Defaults: k = 20 and 200, T = 0.07. faiss-cpu is the default backend (extra ``cpu``); with the
``gpu`` extra (faiss-gpu, never together with faiss-cpu) the index moves to the GPUs when asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from bgaug.core.config import check_positive

DEFAULT_K: tuple[int, ...] = (20, 200)
TEMPERATURE = 0.07


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise ImportError(
            f"the kNN monitor needs faiss: pip install 'bgaug-evals[cpu]' (or '[gpu]') ({exc})"
        ) from None
    return faiss


def _as_array(x: np.ndarray | torch.Tensor, name: str, ndim: int) -> np.ndarray:
    arr = x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    return arr


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    return np.asarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))


def knn_predict(
    train_features: np.ndarray | torch.Tensor,
    train_labels: np.ndarray | torch.Tensor,
    query_features: np.ndarray | torch.Tensor,
    *,
    k: int = 200,
    temperature: float = TEMPERATURE,
    use_gpu: bool = False,
    chunk: int = 4096,
) -> np.ndarray:
    """Predicted labels (Q,) of the queries by temperature-weighted kNN voting."""
    check_positive("k", k)
    check_positive("temperature", temperature)
    train = _normalise(_as_array(train_features, "train_features", 2))
    labels = _as_array(train_labels, "train_labels", 1).astype(np.int64)
    query = _normalise(_as_array(query_features, "query_features", 2))
    if len(train) != len(labels) or len(train) == 0:
        raise ValueError(f"{len(train)} training features for {len(labels)} labels")
    if query.shape[1] != train.shape[1]:
        raise ValueError(f"query dimension {query.shape[1]} differs from training dimension {train.shape[1]}")
    faiss = _faiss()
    index = faiss.IndexFlatIP(train.shape[1])
    if use_gpu and faiss.get_num_gpus() > 0:
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(train)
    k = min(k, len(train))
    n_classes = int(labels.max()) + 1
    out = np.empty(len(query), dtype=np.int64)
    for start in range(0, len(query), chunk):
        sims, neighbours = index.search(query[start : start + chunk], k)
        weights = np.exp(sims.astype(np.float64) / temperature)
        votes = np.zeros((len(sims), n_classes))
        np.add.at(votes, (np.arange(len(sims))[:, None], labels[neighbours]), weights)
        out[start : start + chunk] = votes.argmax(axis=1)
    return out


def knn_top1(
    train_features: np.ndarray | torch.Tensor,
    train_labels: np.ndarray | torch.Tensor,
    query_features: np.ndarray | torch.Tensor,
    query_labels: np.ndarray | torch.Tensor,
    *,
    k: int = 200,
    temperature: float = TEMPERATURE,
    use_gpu: bool = False,
) -> float:
    """Top-1 accuracy (%) of weighted kNN; the per-epoch monitor the launch package reports."""
    truth = _as_array(query_labels, "query_labels", 1).astype(np.int64)
    pred = knn_predict(
        train_features, train_labels, query_features, k=k, temperature=temperature, use_gpu=use_gpu
    )
    if len(pred) != len(truth):
        raise ValueError(f"{len(pred)} query features for {len(truth)} query labels")
    return float(100.0 * (pred == truth).mean())


def knn_monitor(
    train_features: np.ndarray | torch.Tensor,
    train_labels: np.ndarray | torch.Tensor,
    query_features: np.ndarray | torch.Tensor,
    query_labels: np.ndarray | torch.Tensor,
    *,
    ks: Sequence[int] = DEFAULT_K,
    temperature: float = TEMPERATURE,
    use_gpu: bool = False,
) -> dict[str, float]:
    """``{"knn_top1_k20": ..., "knn_top1_k200": ...}`` (percent)."""
    return {
        f"knn_top1_k{k}": knn_top1(
            train_features,
            train_labels,
            query_features,
            query_labels,
            k=k,
            temperature=temperature,
            use_gpu=use_gpu,
        )
        for k in ks
    }
