from __future__ import annotations

import numpy as np
import pytest
import torch

from bgaug.evals import knn_monitor, knn_predict, knn_top1


def _brute_force(train: np.ndarray, labels: np.ndarray, query: np.ndarray, k: int, t: float) -> np.ndarray:
    tn = train / np.linalg.norm(train, axis=1, keepdims=True)
    qn = query / np.linalg.norm(query, axis=1, keepdims=True)
    sims = qn @ tn.T
    out = []
    for row in sims:
        top = np.argsort(-row)[:k]
        votes = np.zeros(labels.max() + 1)
        np.add.at(votes, labels[top], np.exp(row[top] / t))
        out.append(votes.argmax())
    return np.array(out)


def test_matches_brute_force_weighted_vote() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(300, 16)).astype(np.float32)
    labels = rng.integers(0, 5, 300)
    query = rng.normal(size=(50, 16)).astype(np.float32)
    for k in (1, 20, 200):
        got = knn_predict(train, labels, query, k=k, temperature=0.07)
        assert (got == _brute_force(train, labels, query, k, 0.07)).mean() > 0.97  # float ties aside


def test_weights_let_a_close_minority_beat_a_distant_majority() -> None:
    train = np.array([[1.0, 0.0], [0.0, 1.0], [0.05, 1.0], [0.1, 1.0]], dtype=np.float32)
    labels = np.array([0, 1, 1, 1])
    query = np.array([[1.0, 0.3]], dtype=np.float32)
    assert knn_predict(train, labels, query, k=4, temperature=0.07)[0] == 0
    assert knn_predict(train, labels, query, k=4, temperature=100.0)[0] == 1  # near-uniform votes


def test_monitor_on_clustered_tensors() -> None:
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 32, generator=g) * 5
    y = torch.arange(400) % 4
    x = centres[y] + torch.randn(400, 32, generator=g)
    result = knn_monitor(x[:300], y[:300], x[300:], y[300:])
    assert result == {"knn_top1_k20": 100.0, "knn_top1_k200": 100.0}
    assert knn_top1(x[:300], y[:300], x[300:], (y[300:] + 1) % 4, k=20) == 0.0


def test_bad_shapes() -> None:
    with pytest.raises(ValueError, match="dimension"):
        knn_predict(np.ones((3, 4)), np.zeros(3), np.ones((2, 5)))
    with pytest.raises(ValueError, match="k must be"):
        knn_predict(np.ones((3, 4)), np.zeros(3), np.ones((2, 4)), k=0)
